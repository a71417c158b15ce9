"""Marginal (integrated) likelihood and marginal moments of random-intercept GLMMs.

Teaching primitives for the "conditional versus marginal" part of the GLMM notes:

* :func:`cluster_loglik` — one cluster's contribution
  ``log ∫ Π_j f(y_j | γ) φ(γ; 0, τ²) dγ`` to the marginal log-likelihood of a random-intercept
  model, by the Laplace approximation, plain or adaptive Gauss–Hermite quadrature, or
  brute-force numerical integration; :func:`marginal_loglik` sums it over clusters.
* :func:`conditional_mode` — the mode ``γ̂`` of the integrand and its curvature (the
  quantities that centre and scale the adaptive rule).
* Marginal moments: :func:`poisson_marginal_mean`, :func:`poisson_marginal_variance`
  (closed forms of the log-link Poisson random-intercept model), :func:`marginal_mean`
  (any link, by quadrature), :func:`probit_marginal_probability` (closed form), and
  :func:`population_averaged_curve` (marginal curve beside the "not mean" curve ``h(xβ)``
  for random intercept or random intercept + slope models).

Conditional densities, variance functions and inverse links always come from
:mod:`reference.families` and :mod:`reference.links`; nothing here re-writes a family formula.

Conventions: ``tau`` is the *standard deviation* of the random intercept; ``Q`` (in
:func:`population_averaged_curve`) is a *covariance matrix*. For the binomial family with
``trials`` given, ``y`` holds the number of successes (0…trials); without ``trials``, ``y`` is
binary (0/1).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import integrate

from reference.errors import ConvergenceError, ModelInputError
from reference.families import Family, get_family
from reference.links import Link, get_link
from reference.quadrature import (
    HALF_LOG_2PI,
    adaptive_log_integral,
    gauss_hermite,
    nonadaptive_log_integral,
)

__all__ = [
    "ClusterModel",
    "ConditionalMode",
    "cluster_loglik",
    "conditional_mode",
    "marginal_loglik",
    "marginal_mean",
    "poisson_marginal_mean",
    "poisson_marginal_variance",
    "population_averaged_curve",
    "probit_marginal_probability",
]

Method = Literal["laplace", "ghq", "aghq", "exact"]
METHODS: tuple[str, ...] = ("laplace", "ghq", "aghq", "exact")

#: Default number of nodes for the quadrature methods (lme4 allows nAGQ up to 25).
DEFAULT_NODES = 25


# --------------------------------------------------------------------------------------------
# One cluster of a random-intercept model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterModel:
    """One cluster of a random-intercept GLMM with the fixed part already evaluated.

    ``offset`` is ``Xβ`` (one value per observation), ``y`` the response in the family's
    convention (binomial: proportion of successes), ``w`` the prior weights (binomial: trials)
    and ``phi`` the dispersion. Use :meth:`from_data` to build one from raw inputs.
    """

    y: NDArray[np.float64]
    offset: NDArray[np.float64]
    w: NDArray[np.float64]
    tau: float
    family: Family
    link: Link
    phi: float

    @classmethod
    def from_data(
        cls,
        y: ArrayLike,
        X: ArrayLike,
        beta: ArrayLike,
        tau: float,
        family: str | Family,
        link: str | Link | None = None,
        *,
        trials: ArrayLike | None = None,
        phi: float | None = None,
    ) -> ClusterModel:
        """Validate the raw inputs of one cluster and evaluate its fixed part ``Xβ``."""
        fam = get_family(family)
        lnk = fam.link_object(link)
        y_arr = np.atleast_1d(np.asarray(y, dtype=np.float64))
        if y_arr.ndim != 1 or y_arr.size == 0:
            raise ModelInputError(f"y must be a non-empty 1-D array of responses, got shape {np.shape(y)}")
        X_arr = np.asarray(X, dtype=np.float64)
        if X_arr.ndim == 1:
            X_arr = X_arr[:, None]
        beta_arr = np.atleast_1d(np.asarray(beta, dtype=np.float64))
        if X_arr.shape != (y_arr.size, beta_arr.size):
            raise ModelInputError(
                f"X has shape {X_arr.shape} but y has {y_arr.size} values and beta {beta_arr.size}; "
                "X must be (len(y), len(beta))"
            )
        if not (np.all(np.isfinite(X_arr)) and np.all(np.isfinite(beta_arr)) and np.all(np.isfinite(y_arr))):
            raise ModelInputError("y, X and beta must be finite; remove rows with missing values first")
        tau_f = float(tau)
        if not (math.isfinite(tau_f) and tau_f >= 0.0):
            raise ModelInputError(f"tau is the random-intercept standard deviation and must be ≥ 0, got {tau}")
        if fam.name == "binomial":
            if trials is None:
                w_arr = np.ones_like(y_arr)
            else:
                w_arr = np.broadcast_to(np.asarray(trials, dtype=np.float64), y_arr.shape).copy()
                if np.any(w_arr <= 0) or np.any(w_arr != np.round(w_arr)):
                    raise ModelInputError("trials must be positive integers (one per observation or one for all)")
                if np.any(y_arr < 0) or np.any(y_arr > w_arr) or np.any(y_arr != np.round(y_arr)):
                    raise ModelInputError("with trials given, y must be the number of successes, an integer in 0..trials")
                y_arr = y_arr / w_arr
        else:
            if trials is not None:
                raise ModelInputError(f"trials only applies to the binomial family, not {fam.name!r}; drop it")
            w_arr = np.ones_like(y_arr)
        fam.check_response(y_arr, w_arr)
        if fam.fixed_dispersion:
            if phi is not None and float(phi) != 1.0:
                raise ModelInputError(f"family {fam.name!r} has dispersion fixed at 1; drop phi")
            phi_f = 1.0
        else:
            if phi is None:
                raise ModelInputError(
                    f"family {fam.name!r} needs the dispersion phi (gaussian: σ², Gamma: 1/shape); pass phi=..."
                )
            phi_f = float(phi)
            if not (math.isfinite(phi_f) and phi_f > 0):
                raise ModelInputError(f"phi must be a positive number, got {phi}")
        return cls(y_arr, X_arr @ beta_arr, w_arr, tau_f, fam, lnk, phi_f)

    # The conditional log-likelihood and its derivatives in the random intercept u. -----------

    def loglik(self, u: NDArray[np.float64]) -> NDArray[np.float64]:
        """Σ_j log f(y_j | u) for every entry of ``u`` (any shape)."""
        u = np.asarray(u, dtype=np.float64)
        eta = self.offset + u[..., None]
        with np.errstate(over="ignore", under="ignore"):
            mu = self.link.inverse(eta)
            lp = self.family.logpdf(self.y, mu, self.phi, self.w)
        lp = np.where(np.isnan(lp), -np.inf, lp)
        return np.sum(lp, axis=-1)

    def log_integrand(self, u: NDArray[np.float64]) -> NDArray[np.float64]:
        """log of f(y | u) φ(u; 0, τ²): the function whose integral over u is the cluster likelihood."""
        u = np.asarray(u, dtype=np.float64)
        log_prior = -0.5 * (u / self.tau) ** 2 - math.log(self.tau) - HALF_LOG_2PI
        return self.loglik(u) + log_prior

    def _score_eta(self, eta: NDArray[np.float64]) -> NDArray[np.float64]:
        """d log f(y_j | η) / dη per observation: w (y − μ) μ'(η) / (φ V(μ))."""
        mu = self.link.inverse(eta)
        return self.w * (self.y - mu) * self.link.mu_eta(eta) / (self.phi * self.family.variance(mu))

    def derivatives(self, u: float) -> tuple[float, float]:
        """First and second derivative of :meth:`log_integrand` at ``u``.

        The first is analytic; the second is a central difference of the analytic score
        (relative error about 1e-8, ample for a Newton step and for the AGHQ scale).
        """
        eta = self.offset + u
        h = 1e-4 * max(1.0, float(np.max(np.abs(eta))))
        # Far from the mode μ can overflow; the resulting NaN makes the caller halve its step.
        with np.errstate(all="ignore"):
            first = float(np.sum(self._score_eta(eta))) - u / self.tau**2
            curv = (self._score_eta(eta + h) - self._score_eta(eta - h)) / (2 * h)
        second = float(np.sum(curv)) - 1.0 / self.tau**2
        return first, second


@dataclass(frozen=True)
class ConditionalMode:
    """Mode of the integrand ``f(y | γ) φ(γ; 0, τ²)`` of one cluster and its curvature.

    ``scale = (−d² log integrand / dγ²)^(−1/2)`` at the mode: the standard deviation of the
    normal approximation to the conditional distribution of γ given y.
    """

    mode: float
    scale: float
    log_integrand_at_mode: float
    iterations: int


def _find_mode(model: ClusterModel, *, tol: float = 1e-10, max_iter: int = 200) -> ConditionalMode:
    """Safeguarded Newton on the scalar random intercept, with a bounded search as fallback."""
    tau = model.tau
    u = 0.0
    value = float(model.log_integrand(np.array(u)))
    max_step = max(1.0, 3.0 * tau)
    for iteration in range(1, max_iter + 1):
        first, second = model.derivatives(u)
        step = -first / second if second < 0 else math.copysign(min(abs(first) * tau**2, max_step), first)
        step = max(-max_step, min(max_step, step))
        # Halve the step until the log integrand does not decrease.
        for _ in range(60):
            candidate = u + step
            cand_value = float(model.log_integrand(np.array(candidate)))
            if cand_value >= value - 1e-13 * abs(value):
                break
            step *= 0.5
        else:
            break
        u, value = candidate, cand_value
        if abs(step) <= tol * max(tau, 1e-300) or abs(step) <= 1e-15 * (1.0 + abs(u)):
            first, second = model.derivatives(u)
            if second < 0:
                return ConditionalMode(u, (-second) ** -0.5, value, iteration)
            break
    return _find_mode_bounded(model)


def _find_mode_bounded(model: ClusterModel) -> ConditionalMode:
    from scipy.optimize import minimize_scalar

    tau = model.tau
    res = minimize_scalar(
        lambda v: -float(model.log_integrand(np.array(v))),
        bounds=(-40.0 * tau - 50.0, 40.0 * tau + 50.0),
        method="bounded",
        options={"xatol": 1e-12 * max(tau, 1e-12), "maxiter": 2000},
    )
    u = float(res.x)
    _first, second = model.derivatives(u)
    if not (res.success and second < 0 and math.isfinite(second)):
        raise ConvergenceError(
            "could not find the mode of the cluster's integrand; check the data for extreme values or use method='exact'"
        )
    return ConditionalMode(u, (-second) ** -0.5, -float(res.fun), int(res.nit))


def conditional_mode(
    y: ArrayLike,
    X: ArrayLike,
    beta: ArrayLike,
    tau: float,
    family: str | Family,
    link: str | Link | None = None,
    *,
    trials: ArrayLike | None = None,
    phi: float | None = None,
) -> ConditionalMode:
    """Mode γ̂ and curvature scale of ``f(y | γ) φ(γ; 0, τ²)`` for one cluster (``tau > 0``).

    γ̂ is the conditional mode ("BLUP" in lme4's wording) of the random intercept; arguments
    as in :func:`cluster_loglik`.
    """
    model = ClusterModel.from_data(y, X, beta, tau, family, link, trials=trials, phi=phi)
    if model.tau == 0.0:
        raise ModelInputError("with tau = 0 there is no random intercept and no mode; use tau > 0")
    return _find_mode(model)


def cluster_loglik(
    y: ArrayLike,
    X: ArrayLike,
    beta: ArrayLike,
    tau: float,
    family: str | Family,
    link: str | Link | None = None,
    *,
    method: Method = "laplace",
    k: int = DEFAULT_NODES,
    trials: ArrayLike | None = None,
    phi: float | None = None,
) -> float:
    """Log marginal likelihood of one cluster of a random-intercept GLMM.

    Computes ``log ∫ Π_j f(y_j | γ) φ(γ; 0, τ²) dγ`` with ``η_j = x_jᵀβ + γ`` and
    ``μ_j = h(η_j)``, where ``f`` is the family's density (:mod:`reference.families`).

    Args:
        y: responses of the cluster (binomial: 0/1, or successes when ``trials`` is given).
        X: fixed-effects design rows of the cluster, shape ``(len(y), len(beta))``.
        beta: fixed effects.
        tau: standard deviation of the random intercept (``tau = 0`` gives the GLM log-likelihood).
        family: family name or object (negative binomial: pass ``get_family("negative_binomial", k=...)``).
        link: link name or object; default the family's canonical link.
        method: ``"laplace"`` (adaptive rule with one node — what lme4's ``glmer`` does by
            default), ``"aghq"`` (adaptive Gauss–Hermite with ``k`` nodes, lme4's ``nAGQ = k``),
            ``"ghq"`` (plain Gauss–Hermite with ``k`` nodes centred at 0 with spread τ — poor for
            big clusters or large τ, shown for contrast), or ``"exact"`` (adaptive numerical
            integration with ``scipy.integrate.quad`` around the mode, relative tolerance ~1e-13).
        k: number of nodes for ``"ghq"`` and ``"aghq"``.
        trials: binomial number of trials per observation (scalar or array).
        phi: dispersion for families that have one (gaussian: σ²; Gamma: 1/shape).

    Returns:
        The log-likelihood contribution (a float).

    Raises:
        ModelInputError: invalid data, parameters, family/link, or method.
        ConvergenceError: the mode of the integrand could not be found.
    """
    if method not in METHODS:
        raise ModelInputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    model = ClusterModel.from_data(y, X, beta, tau, family, link, trials=trials, phi=phi)
    if model.tau == 0.0:
        return float(model.loglik(np.array(0.0)))
    if method == "ghq":
        return float(nonadaptive_log_integral(lambda g: model.loglik(g), model.tau, k)[0])
    found = _find_mode(model)
    if method == "exact":
        return _brute_force(model, found)
    nodes = 1 if method == "laplace" else k
    return float(adaptive_log_integral(model.log_integrand, found.mode, found.scale, nodes)[0])


def _brute_force(model: ClusterModel, found: ConditionalMode) -> float:
    """log ∫ exp(log integrand) by adaptive quadrature, scaled by the value at the mode."""
    peak = found.log_integrand_at_mode
    # For a log-concave integrand the prior alone makes it fall at least like a N(mode, τ²)
    # density away from the mode, so ±40 τ leaves out less than exp(−800) of the mass; the
    # range is cut at ±10 scale so that quad sees the peak in pieces of its own width.
    inner = 10.0 * found.scale
    outer = max(40.0 * model.tau, 40.0 * found.scale)
    m = found.mode
    pieces = [(m - outer, m - inner), (m - inner, m), (m, m + inner), (m + inner, m + outer)]

    def scaled(v: float) -> float:
        return math.exp(float(model.log_integrand(np.array(v))) - peak)

    def integrate_pieces(epsrel: float) -> tuple[float, float]:
        total, error = 0.0, 0.0
        for lo, hi in pieces:
            if hi > lo:
                part, err = integrate.quad(scaled, lo, hi, epsabs=0.0, epsrel=epsrel, limit=500)
                total, error = total + part, error + err
        return total, error

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        total, error = integrate_pieces(1e-13)
        if not error <= 1e-10 * total:
            total, error = integrate_pieces(1e-11)
    if not (math.isfinite(total) and total > 0 and error <= 1e-9 * total):
        raise ConvergenceError(
            f"brute-force integration did not reach its tolerance (estimated error {error:.2g} "
            f"of {total:.6g}); use method='aghq' with more nodes"
        )
    return peak + math.log(total)


def marginal_loglik(
    y: ArrayLike,
    X: ArrayLike,
    groups: ArrayLike,
    beta: ArrayLike,
    tau: float,
    family: str | Family,
    link: str | Link | None = None,
    *,
    method: Method = "laplace",
    k: int = DEFAULT_NODES,
    trials: ArrayLike | None = None,
    phi: float | None = None,
) -> float:
    """Marginal log-likelihood of a random-intercept GLMM: the sum of :func:`cluster_loglik`.

    ``groups`` gives the cluster label of each row; other arguments as in :func:`cluster_loglik`.
    A teaching implementation (one cluster at a time); :func:`reference.glmer` is the fast one.
    """
    y_arr = np.asarray(y, dtype=np.float64)
    X_arr = np.asarray(X, dtype=np.float64)
    if X_arr.ndim == 1:
        X_arr = X_arr[:, None]
    g = np.asarray(groups)
    if g.shape != y_arr.shape or X_arr.shape[0] != y_arr.size:
        raise ModelInputError("y, X and groups must have the same number of rows")
    trials_arr = None if trials is None else np.broadcast_to(np.asarray(trials, dtype=np.float64), y_arr.shape)
    total = 0.0
    for label in pd.unique(g):
        rows = g == label
        total += cluster_loglik(
            y_arr[rows],
            X_arr[rows],
            beta,
            tau,
            family,
            link,
            method=method,
            k=k,
            trials=None if trials_arr is None else trials_arr[rows],
            phi=phi,
        )
    return total


# --------------------------------------------------------------------------------------------
# Marginal moments
# --------------------------------------------------------------------------------------------


def _check_sd(tau: ArrayLike) -> NDArray[np.float64]:
    tau_arr = np.asarray(tau, dtype=np.float64)
    if np.any(~np.isfinite(tau_arr)) or np.any(tau_arr < 0):
        raise ModelInputError("tau is a standard deviation and must be finite and ≥ 0")
    return tau_arr


def poisson_marginal_mean(eta: ArrayLike, tau: ArrayLike) -> NDArray[np.float64]:
    """E(Y) = exp(xᵀβ + τ²/2) in the log-link Poisson random-intercept model (``eta = xᵀβ``)."""
    tau_arr = _check_sd(tau)
    return np.exp(np.asarray(eta, dtype=np.float64) + 0.5 * tau_arr**2)


def poisson_marginal_variance(eta: ArrayLike, tau: ArrayLike) -> NDArray[np.float64]:
    """Var(Y) = E(Y) + E(Y)² (exp(τ²) − 1) in the log-link Poisson random-intercept model."""
    tau_arr = _check_sd(tau)
    mean = poisson_marginal_mean(eta, tau_arr)
    return mean + mean**2 * np.expm1(tau_arr**2)


def marginal_mean(
    eta: ArrayLike, tau: ArrayLike, link: str | Link, *, k: int | None = None
) -> NDArray[np.float64]:
    """Marginal mean E[h(η + γ)], γ ~ N(0, τ²), by numerical integration over γ.

    ``eta`` is the fixed part xᵀβ, ``tau`` the standard deviation of the random part of the
    linear predictor (both broadcast); ``h`` is the inverse of ``link``. For the log link this
    reproduces :func:`poisson_marginal_mean`; for probit, :func:`probit_marginal_probability`.

    With ``k=None`` (default) each value is an adaptive ``scipy.integrate.quad`` integral
    (relative accuracy ~1e-12). With an integer ``k`` the plain ``k``-node Gauss–Hermite rule
    is used instead: fast, and exact enough for small τ, but for a steep inverse link (logit
    with τ ≈ 10) even 200 nodes leave errors of 1e-4 — the same weakness as non-adaptive
    quadrature of a likelihood.
    """
    lnk = get_link(link)
    tau_arr = _check_sd(tau)
    eta_arr, tau_arr = np.broadcast_arrays(np.asarray(eta, dtype=np.float64), tau_arr)
    if k is not None:
        z, logw = gauss_hermite(k)
        values = lnk.inverse(eta_arr[..., None] + tau_arr[..., None] * z)
        return np.sum(np.exp(logw) * values, axis=-1)
    return _normal_expectation(lnk, eta_arr, tau_arr)


def _normal_expectation(lnk: Link, eta: NDArray[np.float64], sd: NDArray[np.float64]) -> NDArray[np.float64]:
    """∫ h(η + sd·z) φ(z) dz for all entries at once, by vector-valued adaptive quadrature.

    Each integrand is divided by a rough Gauss–Hermite estimate of its value first, so the
    common (max-norm) error target is a relative one for every entry.
    """
    flat_eta, flat_sd = eta.ravel(), sd.ravel()
    if flat_eta.size == 0:
        return np.empty(eta.shape)
    z, logw = gauss_hermite(60)
    guess = np.sum(np.exp(logw) * lnk.inverse(flat_eta[:, None] + flat_sd[:, None] * z), axis=1)
    guess = np.where(np.isfinite(guess) & (np.abs(guess) > 1e-300), np.abs(guess), 1.0)

    def integrand(v: float) -> NDArray[np.float64]:
        density = math.exp(-0.5 * v * v - HALF_LOG_2PI)
        with np.errstate(invalid="ignore", over="ignore"):
            values = lnk.inverse(flat_eta + flat_sd * v) * density / guess
        # inf · 0 far out in the tail of the normal density (log link): the product is ~0.
        return np.where(np.isnan(values), 0.0, values)

    # φ(z) is below 1e-340 beyond |z| = 40; the log link's exp(sd·z)·φ(z) peaks at z = sd.
    half_width = 40.0 + float(np.max(flat_sd))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        value, _err = integrate.quad_vec(
            integrand, -half_width, half_width, epsabs=1e-15, epsrel=1e-12, norm="max", limit=2000
        )
    return (np.asarray(value) * guess).reshape(eta.shape)


def probit_marginal_probability(eta: ArrayLike, tau: ArrayLike) -> NDArray[np.float64]:
    """Closed form P(Y = 1) = Φ(xᵀβ / √(1 + τ²)) of the probit random-intercept model.

    Follows from P(Y = 1) = P(ε ≤ η + γ) with ε ~ N(0, 1) independent of γ ~ N(0, τ²).
    """
    tau_arr = _check_sd(tau)
    return get_link("probit").inverse(np.asarray(eta, dtype=np.float64) / np.sqrt(1.0 + tau_arr**2))


def _as_covariance(Q: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(Q, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    elif arr.ndim == 1 and arr.size in (1, 2):
        arr = np.diag(arr)
    if arr.shape not in ((1, 1), (2, 2)):
        raise ModelInputError(
            "Q must be the random-effects covariance: a variance, two diagonal variances, or a 2×2 matrix"
        )
    if not np.all(np.isfinite(arr)) or not np.allclose(arr, arr.T):
        raise ModelInputError("Q must be a finite symmetric covariance matrix")
    if np.min(np.linalg.eigvalsh(arr)) < -1e-12 * max(1.0, float(np.max(np.abs(arr)))):
        raise ModelInputError("Q must be positive semi-definite (variances ≥ 0, |correlation| ≤ 1)")
    return arr


def linear_predictor_sd(x: ArrayLike, Q: ArrayLike) -> NDArray[np.float64]:
    """Standard deviation of γ0 + γ1 x: √(Q00 + 2 x Q01 + x² Q11) (√Q00 for a random intercept)."""
    cov = _as_covariance(Q)
    x_arr = np.asarray(x, dtype=np.float64)
    if cov.shape == (1, 1):
        var = np.full_like(x_arr, cov[0, 0])
    else:
        var = cov[0, 0] + 2.0 * x_arr * cov[0, 1] + x_arr**2 * cov[1, 1]
    return np.sqrt(np.maximum(var, 0.0))


def population_averaged_curve(
    x: ArrayLike, beta: ArrayLike, Q: ArrayLike, link: str | Link, *, k: int | None = None
) -> pd.DataFrame:
    """Population-averaged (marginal) mean curve beside the "not mean" curve h(β0 + β1 x).

    For one covariate ``x`` with ``η = β0 + β1 x + γ0 + γ1 x`` and ``(γ0, γ1) ~ N(0, Q)`` the
    random part ``γ0 + γ1 x`` is normal with variance ``Q00 + 2 x Q01 + x² Q11``, so the
    marginal mean at each x is a one-dimensional integral, done by Gauss–Hermite quadrature.

    Args:
        x: covariate values (1-D).
        beta: ``(β0, β1)``.
        Q: covariance of the random effects — a scalar (random-intercept variance), a pair of
            diagonal variances ``(τ0², τ1²)``, or a full 2×2 matrix.
        link: link name or object (e.g. ``"log"``, ``"logit"``).
        k: ``None`` for adaptive quadrature (accurate), or a number of Gauss–Hermite nodes
            (see :func:`marginal_mean`).

    Returns:
        DataFrame with columns ``x``, ``not_mean`` (h(β0 + β1 x)), ``marginal_mean`` and
        ``sd_eta`` (standard deviation of the random part of η).
    """
    beta_arr = np.asarray(beta, dtype=np.float64)
    if beta_arr.shape != (2,):
        raise ModelInputError(f"beta must be (intercept, slope), got shape {beta_arr.shape}")
    x_arr = np.asarray(x, dtype=np.float64)
    if x_arr.ndim != 1:
        raise ModelInputError("x must be a 1-D array of covariate values")
    lnk = get_link(link)
    eta = beta_arr[0] + beta_arr[1] * x_arr
    sd = linear_predictor_sd(x_arr, Q)
    return pd.DataFrame(
        {
            "x": x_arr,
            "not_mean": lnk.inverse(eta),
            "marginal_mean": marginal_mean(eta, sd, lnk, k=k),
            "sd_eta": sd,
        }
    )
