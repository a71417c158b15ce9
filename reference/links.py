"""Link functions of generalized linear models, each a small frozen record in one registry.

A link ``g`` maps the mean ``mu`` of the response to the linear predictor ``eta = g(mu)``.
Every link knows

* ``link(mu)``      -- ``g(mu)``
* ``inverse(eta)``  -- ``g^{-1}(eta)``
* ``mu_eta(eta)``   -- ``d mu / d eta``
* ``valid_eta(eta)`` -- elementwise: may this ``eta`` be used (R's ``valideta``, but per element)
* ``mu_range``      -- the open interval of means the link maps onto the real line.

The formulas follow R's ``make.link`` (stats/R/family.R, stats/src/family.c) *including its
clamping*, because the clamping changes fitted numbers in the iteratively reweighted least
squares of ``glm`` near the boundary:

* logit: ``inverse`` uses ``exp(eta)/(1 + exp(eta))`` for ``|eta| <= 30`` and the constants
  ``eps/(1 + eps)`` / ``1/(1 + eps)`` outside; ``mu_eta`` is ``eps`` for ``|eta| > 30``;
* probit, cauchit: ``eta`` is clamped to ``+-thresh`` with ``thresh = -Q(eps)`` before the CDF;
  ``mu_eta`` is floored at ``eps``;
* cloglog (and its mirror loglog, which base R lacks): ``inverse`` is clamped to
  ``[eps, 1 - eps]``; ``mu_eta`` caps ``eta`` at 700 (-700 for loglog) and is floored at ``eps``;
* log: ``inverse`` and ``mu_eta`` are floored at ``eps``;

here ``eps = 2.220446e-16`` is R's ``.Machine$double.eps``. No function emits floating point
warnings: where the exact answer is infinite (``exp(1000)`` for the log link, ``1/0`` for the
inverse link) the result is ``inf``; inputs outside the link's domain (``mu = -1`` for log) give
``nan``, as R does.

Round trips ``link(inverse(eta)) == eta`` hold to about ``eps * (|eta| + |mu / mu_eta|)``
wherever ``inverse`` is not clamped; the reachable ranges are documented per link in
``ROUND_TRIP_ETA`` (used by the tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from reference.errors import UnknownLinkError

__all__ = ["LINKS", "ROUND_TRIP_ETA", "R_EPS", "Link", "get_link"]

R_EPS: float = float(np.finfo(np.float64).eps)  # R's .Machine$double.eps
_LOGIT_THRESH = 30.0  # THRESH / MTHRESH in R's stats/src/family.c
_PROBIT_THRESH = float(-special.ndtri(R_EPS))  # R: -qnorm(.Machine$double.eps) = 8.125890664701906
_CAUCHIT_THRESH = float(1.0 / np.tan(np.pi * R_EPS))  # R: -qcauchy(.Machine$double.eps)
_EXP_CAP = 700.0  # R's cap on eta inside cloglog's mu.eta

Array = NDArray[np.float64]


def _f64(x: ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float64)


@dataclass(frozen=True)
class Link:
    """One link function ``g`` together with its inverse and derivative.

    Instances are immutable and live in :data:`LINKS`; obtain them with :func:`get_link`.
    All methods accept anything array-like, compute in float64 and broadcast; each is a thin
    wrapper (conversion, silenced floating point warnings) around the kernel stored in the
    matching private field (``_inverse``, ``_mu_eta``, ...), which the GLM's IRLS loop calls
    directly on float64 vectors inside its own ``np.errstate``. Each formula exists once.

    >>> float(get_link("logit").inverse(0.0))
    0.5
    """

    name: str
    r_name: str
    mu_range: tuple[float, float]
    _link: Callable[[Array], Array] = field(repr=False, compare=False)
    _inverse: Callable[[Array], Array] = field(repr=False, compare=False)
    _mu_eta: Callable[[Array], Array] = field(repr=False, compare=False)
    _valid_eta: Callable[[Array], NDArray[np.bool_]] = field(repr=False, compare=False)

    def link(self, mu: ArrayLike) -> Array:
        """``eta = g(mu)``; ``+-inf`` at the ends of ``mu_range``, ``nan`` outside it."""
        with np.errstate(all="ignore"):
            return np.asarray(self._link(_f64(mu)))

    def inverse(self, eta: ArrayLike) -> Array:
        """``mu = g^{-1}(eta)``, with R's clamping (see the module docstring)."""
        with np.errstate(all="ignore"):
            return np.asarray(self._inverse(_f64(eta)))

    def mu_eta(self, eta: ArrayLike) -> Array:
        """``d mu / d eta`` at ``eta``, with R's floor at ``eps`` for the bounded-mean links."""
        with np.errstate(all="ignore"):
            return np.asarray(self._mu_eta(_f64(eta)))

    def valid_eta(self, eta: ArrayLike) -> NDArray[np.bool_]:
        """Elementwise validity of ``eta`` (finite, and positive / non-zero where R requires it)."""
        with np.errstate(all="ignore"):
            return np.asarray(self._valid_eta(_f64(eta)))

    def __str__(self) -> str:
        return self.r_name


# ---------------------------------------------------------------- formulas, one per link

def _finite(eta: Array) -> NDArray[np.bool_]:
    return np.isfinite(eta)


def _positive(eta: Array) -> NDArray[np.bool_]:
    return np.isfinite(eta) & (eta > 0)


def _nonzero(eta: Array) -> NDArray[np.bool_]:
    return np.isfinite(eta) & (eta != 0)


def _floor_eps(x: Array) -> Array:
    # np.maximum keeps nan visible, as R's pmax does (np.fmax would turn it into eps)
    return np.maximum(x, R_EPS)


def _clamp_unit(mu: Array) -> Array:
    return np.minimum(_floor_eps(mu), 1.0 - R_EPS)


# identity
def _identity(x: Array) -> Array:
    return x.copy()


def _ones(eta: Array) -> Array:
    return np.ones_like(eta)


# log
def _log_inverse(eta: Array) -> Array:
    return _floor_eps(np.exp(eta))


# logit (R's C code, thresholds at |eta| = 30)
def _logit_link(mu: Array) -> Array:
    return np.log(mu) - np.log1p(-mu)


def _logit_inverse(eta: Array) -> Array:
    if eta.size and -_LOGIT_THRESH <= np.minimum.reduce(eta, axis=None) and np.maximum.reduce(
        eta, axis=None
    ) <= _LOGIT_THRESH:
        # the common case (no threshold applies, no nan): the same values with fewer passes
        odds = np.exp(eta)
    else:
        odds = np.where(
            eta < -_LOGIT_THRESH,
            R_EPS,
            np.where(eta > _LOGIT_THRESH, 1.0 / R_EPS, np.exp(np.clip(eta, -_LOGIT_THRESH, _LOGIT_THRESH))),
        )
    return odds / (1.0 + odds)


def _logit_mu_eta(eta: Array) -> Array:
    e = np.exp(np.clip(eta, -_LOGIT_THRESH, _LOGIT_THRESH))
    return np.where(np.abs(eta) > _LOGIT_THRESH, R_EPS, e / ((1.0 + e) * (1.0 + e)))


# probit
_SQRT_2PI = float(np.sqrt(2.0 * np.pi))


def _probit_inverse(eta: Array) -> Array:
    return special.ndtr(np.clip(eta, -_PROBIT_THRESH, _PROBIT_THRESH))


def _probit_mu_eta(eta: Array) -> Array:
    z = np.clip(eta, -40.0, 40.0)  # the density is below eps long before |eta| = 40
    return _floor_eps(np.exp(-0.5 * z * z) / _SQRT_2PI)


# cauchit (accurate in both tails, as R's pcauchy / qcauchy)
def _cauchit_link(mu: Array) -> Array:
    return np.where(
        mu < 0.25,
        -1.0 / np.tan(np.pi * mu),
        np.where(mu > 0.75, 1.0 / np.tan(np.pi * (1.0 - mu)), np.tan(np.pi * (mu - 0.5))),
    )


def _cauchit_inverse(eta: Array) -> Array:
    z = np.clip(eta, -_CAUCHIT_THRESH, _CAUCHIT_THRESH)
    tail = np.arctan(1.0 / z) / np.pi  # used only where |z| > 1
    return np.where(z < -1.0, -tail, np.where(z > 1.0, 1.0 - tail, 0.5 + np.arctan(z) / np.pi))


def _cauchit_mu_eta(eta: Array) -> Array:
    z = np.clip(eta, -1e8, 1e8)  # dcauchy(1e8) < eps; avoids overflow in z**2
    return _floor_eps(1.0 / (np.pi * (1.0 + z * z)))


# complementary log-log: mu = 1 - exp(-exp(eta))
def _cloglog_link(mu: Array) -> Array:
    return np.log(-np.log1p(-mu))


def _cloglog_inverse(eta: Array) -> Array:
    return _clamp_unit(-np.expm1(-np.exp(np.minimum(eta, _EXP_CAP))))


def _cloglog_mu_eta(eta: Array) -> Array:
    z = np.minimum(eta, _EXP_CAP)
    return _floor_eps(np.exp(z) * np.exp(-np.exp(z)))


# log-log: mu = exp(-exp(-eta)), the mirror image of cloglog
def _loglog_link(mu: Array) -> Array:
    return -np.log(-np.log(mu))


def _loglog_inverse(eta: Array) -> Array:
    return _clamp_unit(np.exp(-np.exp(-np.maximum(eta, -_EXP_CAP))))


def _loglog_mu_eta(eta: Array) -> Array:
    z = np.maximum(eta, -_EXP_CAP)
    return _floor_eps(np.exp(-z) * np.exp(-np.exp(-z)))


# inverse: mu = 1/eta
def _reciprocal(x: Array) -> Array:
    return 1.0 / x


def _inverse_mu_eta(eta: Array) -> Array:
    r = 1.0 / eta  # squaring 1/eta avoids overflow of eta**2 for huge eta
    return -(r * r)


# inverse squared ("1/mu^2"): mu = 1/sqrt(eta)
def _inverse_squared_link(mu: Array) -> Array:
    r = 1.0 / mu
    return r * r


def _inverse_squared_inverse(eta: Array) -> Array:
    return 1.0 / np.sqrt(eta)


def _inverse_squared_mu_eta(eta: Array) -> Array:
    r = 1.0 / np.sqrt(eta)
    return -0.5 * r * r * r


# sqrt: mu = eta**2
def _square(eta: Array) -> Array:
    return eta * eta


def _two_eta(eta: Array) -> Array:
    return 2.0 * eta


_INF = float("inf")

LINKS: dict[str, Link] = {
    link.name: link
    for link in (
        Link("identity", "identity", (-_INF, _INF), _identity, _identity, _ones, _finite),
        Link("log", "log", (0.0, _INF), np.log, _log_inverse, _log_inverse, _finite),
        Link("logit", "logit", (0.0, 1.0), _logit_link, _logit_inverse, _logit_mu_eta, _finite),
        Link("probit", "probit", (0.0, 1.0), special.ndtri, _probit_inverse, _probit_mu_eta, _finite),
        Link("cauchit", "cauchit", (0.0, 1.0), _cauchit_link, _cauchit_inverse, _cauchit_mu_eta, _finite),
        Link("cloglog", "cloglog", (0.0, 1.0), _cloglog_link, _cloglog_inverse, _cloglog_mu_eta, _finite),
        Link("loglog", "loglog", (0.0, 1.0), _loglog_link, _loglog_inverse, _loglog_mu_eta, _finite),
        # mu = 0 is excluded (eta = +-inf); negative means are allowed, as for R's gaussian(inverse)
        Link("inverse", "inverse", (-_INF, _INF), _reciprocal, _reciprocal, _inverse_mu_eta, _nonzero),
        Link(
            "inverse_squared", "1/mu^2", (0.0, _INF),
            _inverse_squared_link, _inverse_squared_inverse, _inverse_squared_mu_eta, _positive,
        ),
        Link("sqrt", "sqrt", (0.0, _INF), np.sqrt, _square, _two_eta, _positive),
    )
}

_ALIASES: dict[str, str] = {link.r_name: link.name for link in LINKS.values()} | {
    "inverse.squared": "inverse_squared",
    "inverse-squared": "inverse_squared",
}

#: Closed eta intervals on which ``link(inverse(eta))`` reproduces ``eta`` (up to conditioning);
#: outside them ``inverse`` is clamped (as in R) or its float64 result saturates.
ROUND_TRIP_ETA: dict[str, tuple[float, float]] = {
    "identity": (-1e300, 1e300),
    "log": (-36.0, 709.0),  # below: floored at eps; above: exp overflows
    "logit": (-_LOGIT_THRESH, _LOGIT_THRESH),  # R switches to constants beyond |eta| = 30
    "probit": (-_PROBIT_THRESH, 8.0),  # above ~8.1 the mean rounds to 1 in float64
    "cauchit": (-_CAUCHIT_THRESH, 1e8),  # 1 - mu ~ 1/(pi eta) loses all digits as eta -> 1e15
    "cloglog": (-36.0, 3.5),  # clamped to [eps, 1 - eps] outside
    "loglog": (-3.5, 36.0),
    "inverse": (1e-300, 1e300),  # and the mirror interval of negative values
    "inverse_squared": (1e-300, 1e300),
    "sqrt": (1e-150, 1e150),  # eta**2 must stay normal and finite
}


def get_link(name: str | Link) -> Link:
    """The link called ``name`` (our names or R's spellings such as ``"1/mu^2"``).

    A :class:`Link` is returned unchanged. Unknown names raise :class:`UnknownLinkError`.
    """
    if isinstance(name, Link):
        return name
    if not isinstance(name, str):
        raise UnknownLinkError(
            f"link must be a name or a Link, got {type(name).__name__}; use one of {sorted(LINKS)}"
        )
    key = name.strip()
    key = _ALIASES.get(key, key)
    if key not in LINKS:
        raise UnknownLinkError(
            f"unknown link {name!r}; use one of {', '.join(sorted(LINKS))} (or R's '1/mu^2')"
        )
    return LINKS[key]
