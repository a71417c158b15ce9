"""Generalized linear models fitted as R's ``glm`` fits them: Fisher scoring / IRLS.

Two entry points:

* :func:`glm` -- an R-style formula and a data frame (design built by :mod:`reference.design`);
* :func:`glm_fit` -- a design matrix that already holds the intercept column, and a response.

Both return an immutable :class:`GLMResult`.

The algorithm is R's ``glm.fit`` step for step, so that coefficients, standard errors and
iteration counts agree with R:

* start from the family's ``initialize`` (R's ``mustart``), or from ``mustart``/``etastart``/
  ``start`` when given;
* each iteration solves the weighted least-squares problem for the working response
  ``z = eta - offset + (y - mu) / mu_eta(eta)`` with working weights
  ``w = prior_weight * mu_eta(eta)^2 / V(mu)`` by a QR decomposition with R's limited column
  pivoting (``dqrdc2``: a column whose norm falls below ``tol`` times its original norm after
  projecting out the earlier columns is moved to the end and its coefficient is aliased; R's
  glm uses ``tol = min(1e-7, epsilon / 1000)``);
* when the deviance becomes non-finite, or ``eta``/``mu`` leave the valid range, the step is
  halved towards the previous coefficients (with a warning, as R);
* convergence: ``|dev - dev_old| / (|dev| + 0.1) < epsilon`` (1e-8), at most ``maxit`` (25)
  iterations.

Standard errors come from the R factor of the last iteration's QR (R's ``summary.glm``), scaled
by the dispersion: 1 for binomial and Poisson, otherwise R's ``summary.glm`` estimate
``sum(w r^2) / df_resid`` with the working weights ``w`` of the last iteration's start and the
working residuals ``r`` at the final fit (the Pearson statistic over ``df_resid`` at an exact
optimum). R also estimates it for the negative binomial with known ``k``, since that family is
named neither "poisson" nor "binomial"; pass ``dispersion=1`` for glm.nb's convention.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special
from scipy.linalg import lapack

from reference.design import DesignSpec, build_design, check_finite_columns
from reference.errors import (
    ConvergenceError,
    ConvergenceWarning,
    DesignMatrixError,
    InvalidResponseError,
    ModelInputError,
)
from reference.families import Family, resolve
from reference.links import Link

__all__ = ["GLMControl", "GLMResult", "glm", "glm_fit"]

Array = NDArray[np.float64]
R_EPS = float(np.finfo(np.float64).eps)
_SEPARATION_TOL = 1e-7  # fitted probability this close to an observed 0/1 signals separation
ResidualKind = Literal["response", "working", "pearson", "deviance"]


@dataclass(frozen=True)
class GLMControl:
    """Tolerances of the IRLS iterations (R's ``glm.control``).

    ``qr_tol`` defaults to R's ``min(1e-7, epsilon / 1000)``: the relative norm below which a
    column of the weighted design counts as linearly dependent on the earlier columns.
    """

    epsilon: float = 1e-8
    maxit: int = 25
    qr_tol: float | None = None

    def __post_init__(self) -> None:
        if not (self.epsilon > 0 and math.isfinite(self.epsilon)):
            raise ModelInputError(f"control epsilon must be a positive number, got {self.epsilon}")
        if int(self.maxit) != self.maxit or self.maxit < 1:
            raise ModelInputError(f"control maxit must be a positive integer, got {self.maxit}")

    @property
    def tol(self) -> float:
        return min(1e-7, self.epsilon / 1000) if self.qr_tol is None else float(self.qr_tol)


_DEFAULT_CONTROL = GLMControl()


# ============================================================================ linear algebra
class _QR(NamedTuple):  # a NamedTuple: built once per iteration, cheaper than a dataclass
    coef: Array  # (p,) in the original column order; aliased columns 0
    rank: int
    pivot: NDArray[np.intp]  # kept columns first (original order), then aliased ones
    qr: Array  # LAPACK's compact QR of the kept columns (R factor in the upper triangle)

    @property
    def r(self) -> Array:
        """The (rank, rank) upper triangular factor of the kept columns."""
        return self.qr[: self.rank, : self.rank] * _upper_mask(self.rank)


@cache
def _upper_mask(k: int) -> Array:
    """Ones on and above the diagonal of a (k, k) matrix (cheaper than ``np.triu`` per call)."""
    mask = np.triu(np.ones((k, k)))
    mask.setflags(write=False)
    return mask


def _wls_qr(
    X: Array, w: Array, b: Array, tol: float, x_sq: Array | None = None, w_sq: Array | None = None
) -> _QR:
    """Least squares ``diag(w) X beta = b`` by Householder QR with R's ``dqrdc2`` pivoting.

    A column is aliased when its norm after projecting out the earlier kept columns (the
    ``|R_jj|`` of the QR) falls below ``tol`` times its own norm; it is then moved to the end
    and the decomposition is redone without it. The common full-rank case costs one LAPACK
    QR. ``x_sq`` (optional) is ``X * X``, which makes the column norms one product with ``w^2``
    (``w_sq``, when the caller has it).
    """
    n, p = X.shape
    cols = np.arange(p)
    aliased: list[int] = []
    A = np.multiply(X, w[:, None], order="F")
    if x_sq is not None:
        own_sq = (w * w if w_sq is None else w_sq) @ x_sq
    else:
        own_sq = np.einsum("ij,ij->j", A, A)
    if not np.minimum.reduce(own_sq) > 0.0:
        own_sq[own_sq == 0.0] = 1.0  # dqrdc2: a zero column keeps norm 1
    limit_sq = (tol * tol) * own_sq  # |R_jj| < tol * norm, compared in squares
    while True:
        qr, tau, _, info = lapack.dgeqrf(A, overwrite_a=1)
        if info != 0:  # pragma: no cover - LAPACK argument error
            raise ConvergenceError(f"QR decomposition failed (LAPACK info {info})")
        k = min(n, cols.size)
        diag = qr.diagonal()[:k]
        small = diag * diag < (limit_sq[:k] if not aliased else limit_sq[cols[:k]])
        if np.logical_or.reduce(small):
            j = int(np.argmax(small))
        elif cols.size > n:
            j = n  # more columns than rows: the rest are aliased
        else:
            break
        aliased.append(int(cols[j]))
        cols = np.delete(cols, j)
        if cols.size == 0:
            break
        A = np.multiply(X[:, cols], w[:, None], order="F")
    rank = cols.size
    if rank == 0:
        return _QR(np.zeros(p), 0, np.arange(p), np.zeros((0, 0)))
    qtb, _, info = lapack.dormqr("L", "T", qr, tau, b.reshape(-1, 1), 64)
    if info != 0:  # pragma: no cover
        raise ConvergenceError(f"QR solve failed (LAPACK info {info})")
    sol, info = lapack.dtrtrs(qr[:rank, :rank], qtb[:rank, 0])
    if info != 0:  # pragma: no cover - excluded by the pivoting
        raise ConvergenceError("singular triangular factor in the least-squares step")
    if aliased:
        coef = np.zeros(p)
        coef[cols] = sol
        pivot = np.concatenate([cols, np.asarray(aliased, dtype=np.intp)])
    else:
        coef, pivot = sol, cols
    return _QR(coef, rank, pivot.astype(np.intp, copy=False), qr)


def _r_inverse_crossprod(r: Array) -> Array:
    """``(R'R)^{-1}`` from an upper triangular ``R`` (R's ``chol2inv``)."""
    if r.shape[0] == 0:
        return np.zeros((0, 0))
    rinv, info = lapack.dtrtri(r, lower=0)
    if info != 0:  # pragma: no cover
        raise ConvergenceError("singular triangular factor while computing the covariance")
    return rinv @ rinv.T


# ============================================================================ IRLS core
@dataclass(frozen=True)
class _Fit:
    coef: Array
    qr: _QR
    eta: Array
    mu: Array
    deviance: float
    iterations: int
    converged: bool
    boundary: bool
    working_weights: Array


# Inside the IRLS loop the family and link formulas are called through their trusted kernels
# (``Family._dev_resids``, ``Link._inverse``, ``Link._mu_eta``, ``Link._valid_eta``): the inputs
# are float64 vectors checked once per fit, and ``_irls`` silences floating point warnings once,
# so the per-call conversion and ``np.errstate`` of the public methods are skipped. The public
# methods call the same kernels, so each formula is still written once.
def _dev(family: Family, y: Array, mu: Array, wt: Array) -> float:
    return float(np.add.reduce(family._dev_resids(y, mu, wt)))


def _valid(family: Family, link: Link, eta: Array, mu: Array) -> bool:
    return bool(np.logical_and.reduce(link._valid_eta(eta)) and np.logical_and.reduce(family.valid_mu(mu)))


def _all_finite(a: Array) -> bool:
    """All of ``a`` finite: one sum decides unless it overflows or meets an inf/NaN."""
    return math.isfinite(float(np.add.reduce(a))) or bool(np.isfinite(a).all())


def _finite_positive(a: Array) -> bool:
    """All of ``a`` finite and > 0 (NaN fails), by two reductions and no temporaries."""
    return bool(np.minimum.reduce(a) > 0.0 and np.maximum.reduce(a) < math.inf)


def _irls(
    X: Array,
    y: Array,
    prior: Array,
    offset: Array,
    family: Family,
    link: Link,
    control: GLMControl,
    *,
    start: Array | None = None,
    etastart: Array | None = None,
    mustart: Array | None = None,
    trials: Array | None = None,
) -> _Fit:
    # Like R, let huge means overflow to inf (a zero working weight, a non-finite deviance
    # that triggers step halving) instead of warning; the kernels (see ``_dev``) rely on this.
    with np.errstate(all="ignore"):
        return _irls_steps(
            X, y, prior, offset, family, link, control,
            start=start, etastart=etastart, mustart=mustart, trials=trials,
        )


def _irls_steps(
    X: Array,
    y: Array,
    prior: Array,
    offset: Array,
    family: Family,
    link: Link,
    control: GLMControl,
    *,
    start: Array | None,
    etastart: Array | None,
    mustart: Array | None,
    trials: Array | None,
) -> _Fit:
    n, p = X.shape
    eps, maxit, tol = control.epsilon, int(control.maxit), control.tol
    coefold: Array | None = None
    if start is None and etastart is None and mustart is None:
        # R's initialize: checks y, gives mustart (binomial successes/trials: from the trials)
        mustart = family.initialize(y, prior, link, trials=trials)
    else:
        family.check_response(y, prior)
    # R's precedence: etastart, then start, then mustart
    if etastart is not None:
        eta = etastart.copy()
    elif start is not None:
        coefold = start.copy()
        eta = offset + X @ start
    else:
        assert mustart is not None
        eta = link.link(mustart)
    mu = link._inverse(eta)
    if not _valid(family, link, eta, mu):
        raise ConvergenceError(
            f"cannot find valid starting values for {family}({link.r_name}): "
            "supply start= (coefficients), etastart= or mustart="
        )
    devold = _dev(family, y, mu, prior)
    dev = devold  # deviance at the current (eta, mu), also when the loop stops early
    positive = prior > 0
    all_positive = bool(positive.all())
    boundary = converged = False
    coef = coefold if coefold is not None else np.zeros(p)
    qr: _QR | None = None
    last_w, last_good = np.zeros(0), np.zeros(n, dtype=bool)
    x_sq = X * X  # for the column norms in _wls_qr
    iteration = 0
    for iteration in range(1, maxit + 1):
        varmu = family.variance(mu)
        me = link._mu_eta(eta)
        w2 = prior * me * me / varmu
        if all_positive and _finite_positive(w2):
            # the common case: every working weight finite and positive, hence mu_eta and V(mu)
            # finite and non-zero, so R's checks below would all pass
            good = positive
            z = eta - offset + (y - mu) / me
            w = np.sqrt(w2)
            qr = _wls_qr(X, w, z * w, tol, x_sq, w2)
        else:
            nonzero = me != 0
            all_good = all_positive and bool(nonzero.all())
            good = positive if all_good else positive & nonzero
            # R's checks
            if not all_good or not (np.isfinite(varmu).all() and np.isfinite(me).all() and varmu.all()):
                vpos, mpos = varmu[positive], me[positive]
                if np.isnan(vpos).any():
                    raise ConvergenceError("NaN in V(mu) during the iterations; check the data and the link")
                if (vpos == 0).any():
                    raise ConvergenceError(
                        "V(mu) is 0 for some observations (fitted mean on the boundary); check for separation"
                    )
                if np.isnan(mpos).any():
                    raise ConvergenceError(
                        "NaN in d mu / d eta during the iterations; check the data and the link"
                    )
                if not good.any():
                    converged = False
                    warnings.warn(
                        f"no observation is informative at iteration {iteration}; the fit stopped",
                        ConvergenceWarning,
                        stacklevel=3,
                    )
                    break
            if all_good:
                z = eta - offset + (y - mu) / me
                w = np.sqrt(prior * me * me / varmu)
                qr = _wls_qr(X, w, z * w, tol, x_sq)
            else:
                z = (eta - offset)[good] + (y - mu)[good] / me[good]
                w = np.sqrt(prior[good] * me[good] ** 2 / varmu[good])
                qr = _wls_qr(X[good], w, z * w, tol)
        last_w, last_good = w, good  # R's glm.fit keeps this iteration's w even when it stops here
        if not _all_finite(qr.coef):
            converged = False
            warnings.warn(
                f"non-finite coefficients at iteration {iteration}; the fit stopped",
                ConvergenceWarning,
                stacklevel=3,
            )
            break
        new = qr.coef
        eta = X @ new + offset
        mu = link._inverse(eta)
        dev = _dev(family, y, mu, prior)
        boundary = False
        if not math.isfinite(dev):
            if coefold is None:
                raise ConvergenceError(
                    "no valid set of coefficients found (the deviance is infinite after the first step): "
                    "supply start= or check the link"
                )
            warnings.warn("step size truncated due to divergence", ConvergenceWarning, stacklevel=3)
            ii = 1
            while not math.isfinite(dev):
                if ii > maxit:
                    raise ConvergenceError("cannot correct the step size (inner loop 1); supply start=")
                ii += 1
                new = (new + coefold) / 2
                eta = X @ new + offset
                mu = link._inverse(eta)
                dev = _dev(family, y, mu, prior)
            boundary = True
        if not _valid(family, link, eta, mu):
            if coefold is None:
                raise ConvergenceError(
                    "no valid set of coefficients found (the first step leaves the valid range of "
                    f"the {link.r_name} link): supply start="
                )
            warnings.warn("step size truncated: out of bounds", ConvergenceWarning, stacklevel=3)
            ii = 1
            while not _valid(family, link, eta, mu):
                if ii > maxit:
                    raise ConvergenceError("cannot correct the step size (inner loop 2); supply start=")
                ii += 1
                new = (new + coefold) / 2
                eta = X @ new + offset
                mu = link._inverse(eta)
            boundary = True
            dev = _dev(family, y, mu, prior)
        coef = new
        if abs(dev - devold) / (abs(dev) + 0.1) < eps:
            converged = True
            break
        devold = dev
        coefold = new
    if qr is None:  # pragma: no cover - the loop ran at least once or raised
        raise ConvergenceError("the iterations did not start")
    ww = np.zeros(n)
    ww[last_good] = last_w * last_w
    dev_final = float(dev)
    return _Fit(
        coef=coef,
        qr=qr,
        eta=eta,
        mu=mu,
        deviance=dev_final,
        iterations=iteration,
        converged=converged,
        boundary=boundary,
        working_weights=ww,
    )


# ============================================================================ result object
def _readonly(a: ArrayLike) -> NDArray[Any]:
    arr = np.array(a, copy=True)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class GLMResult:
    """A fitted GLM (immutable). Coefficient-level results are pandas objects named by term.

    Fields hold numpy arrays (read-only); ``coef``, ``se``, ``statistic``, ``pvalues`` and
    ``vcov`` build pandas objects on first access. Aliased coefficients (rank deficiency) are
    NaN, as R's NA.
    """

    names: tuple[str, ...]
    coef_values: Array
    vcov_values: Array  # dispersion-scaled covariance, NaN rows/columns for aliased terms
    aliased: NDArray[np.bool_]
    family: Family
    link: Link
    deviance: float
    null_deviance: float
    df_resid: int
    df_null: int
    dispersion: float
    dispersion_estimated: bool
    aic: float
    loglik: float
    df_loglik: int
    bic: float
    rank: int
    nobs: int
    iterations: int
    converged: bool
    boundary: bool
    fitted: Array
    linear_predictor: Array
    y: Array  # the response as fitted (binomial: proportion of successes)
    prior_weights: Array  # binomial: weights times trials, as R's prior.weights
    working_weights: Array
    offset: Array
    has_intercept: bool
    call: str = "glm_fit(X, y)"
    formula: str | None = None
    design_spec: DesignSpec | None = field(default=None, repr=False)
    offset_source: str | None = None  # column name of offset= in a formula fit ("<array>" if an array)
    model_matrix: Array | None = field(default=None, repr=False)  # X as fitted (read-only; for refits)

    # ---------------------------------------------------------------- coefficient level
    @cached_property
    def se_values(self) -> Array:
        return _readonly(np.sqrt(np.diag(self.vcov_values)))

    @cached_property
    def statistic_values(self) -> Array:
        with np.errstate(divide="ignore", invalid="ignore"):
            return _readonly(self.coef_values / self.se_values)

    @cached_property
    def pvalue_values(self) -> Array:
        t = np.abs(self.statistic_values)
        if self.dispersion_estimated:
            p = 2.0 * special.stdtr(self.df_resid, -t) if self.df_resid > 0 else np.full_like(t, np.nan)
        else:
            p = 2.0 * special.ndtr(-t)
        return _readonly(p)

    @cached_property
    def coef(self) -> pd.Series:
        """Estimates named by term (NaN for aliased terms)."""
        return pd.Series(self.coef_values, index=list(self.names), name="Estimate")

    @cached_property
    def se(self) -> pd.Series:
        """Standard errors: square roots of the diagonal of ``vcov``."""
        return pd.Series(self.se_values, index=list(self.names), name="Std. Error")

    @cached_property
    def statistic(self) -> pd.Series:
        """Wald statistics: z values, or t values where the dispersion is estimated (as R)."""
        label = "t value" if self.dispersion_estimated else "z value"
        return pd.Series(self.statistic_values, index=list(self.names), name=label)

    @cached_property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values: normal, or t with ``df_resid`` degrees of freedom (as R)."""
        label = "Pr(>|t|)" if self.dispersion_estimated else "Pr(>|z|)"
        return pd.Series(self.pvalue_values, index=list(self.names), name=label)

    @cached_property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the estimates, dispersion included (R's ``vcov``)."""
        return pd.DataFrame(self.vcov_values, index=list(self.names), columns=list(self.names))

    # ---------------------------------------------------------------- observation level
    def residuals(self, kind: ResidualKind = "deviance") -> Array:
        """R's ``residuals.glm``: "response", "working", "pearson" or "deviance" residuals."""
        y, mu = self.y, self.fitted
        if kind == "response":
            out = y - mu
        elif kind == "working":
            out = _working_residuals(self.link, y, mu, self.linear_predictor)
        elif kind == "pearson":
            with np.errstate(all="ignore"):
                out = (y - mu) * np.sqrt(self.prior_weights) / np.sqrt(self.family.variance(mu))
        elif kind == "deviance":
            d = self.family.dev_resids(y, mu, self.prior_weights)
            out = np.sign(y - mu) * np.sqrt(np.maximum(d, 0.0))
        else:
            raise ModelInputError(
                f"unknown residual kind {kind!r}; use 'response', 'working', 'pearson' or 'deviance'"
            )
        return _readonly(out)

    def predict(
        self,
        newdata: pd.DataFrame | ArrayLike | None = None,
        type: Literal["link", "response"] = "link",
        offset: ArrayLike | None = None,
    ) -> Array:
        """Predictions on the link (``eta``) or response (``mu``) scale.

        Without ``newdata`` the fitted values. For a formula fit ``newdata`` is a data frame
        (the same factor levels and contrasts are used; ``offset(...)`` terms and an ``offset=``
        column are evaluated in it); for a :func:`glm_fit` fit it is a matrix with the columns
        of ``X``. ``offset`` adds an offset for the new rows. Aliased coefficients count as 0.
        """
        if type not in ("link", "response"):
            raise ModelInputError(f"unknown prediction type {type!r}; use 'link' or 'response'")
        if newdata is None:
            eta = np.array(self.linear_predictor)
            if offset is not None:
                eta = eta - self.offset + _vector(offset, eta.size, "offset")
        else:
            X, eta_offset = self._new_design(newdata)
            coef = np.where(self.aliased, 0.0, self.coef_values)
            eta = X @ coef
            if eta_offset is not None:
                eta = eta + eta_offset
            if offset is not None:
                eta = eta + _vector(offset, eta.size, "offset")
        out = eta if type == "link" else self.link.inverse(eta)
        return _readonly(out)

    def _new_design(self, newdata: Any) -> tuple[Array, Array | None]:
        p = len(self.names)
        if self.design_spec is not None:
            if not isinstance(newdata, pd.DataFrame):
                raise ModelInputError("newdata for a formula fit must be a pandas DataFrame with the formula's columns")
            X, off = self.design_spec.matrix(newdata)
            if self.offset_source is not None:
                if self.offset_source == "<array>":
                    raise ModelInputError(
                        "this fit used an offset array; pass predict(newdata, offset=...) for the new rows"
                    )
                if self.offset_source not in newdata.columns:
                    raise ModelInputError(
                        f"newdata lacks the offset column {self.offset_source!r} used in the fit"
                    )
                col = newdata[self.offset_source].to_numpy(dtype=np.float64)
                off = col if off is None else off + col
            return X, off
        if isinstance(newdata, pd.DataFrame) and all(name in newdata.columns for name in self.names):
            newdata = newdata[list(self.names)]  # match the columns by name
        X = _matrix(newdata, None)[0]
        check_finite_columns(X, self.names if X.shape[1] == p else [f"x{j}" for j in range(X.shape[1])], "newdata")
        if X.shape[1] != p:
            raise DesignMatrixError(f"newdata has {X.shape[1]} columns but the model has {p} coefficients")
        return X, None

    # ---------------------------------------------------------------- inference
    def confint(self, method: str = "profile", level: float = 0.95, **kwargs: Any) -> pd.DataFrame:
        """Confidence intervals (R's ``confint``): ``profile`` (MASS's profile likelihood) or ``Wald``;
        see :func:`reference.inference.confint`."""
        from reference.inference import confint

        return confint(self, method, level, **kwargs)

    def simulate(self, n: int = 1, seed: int | None = None) -> pd.DataFrame:
        """``n`` responses simulated at the fitted means (see :func:`reference.inference.simulate_glm`)."""
        from reference.inference import simulate_glm

        return simulate_glm(self, n, seed)

    # ---------------------------------------------------------------- display
    def summary(self) -> str:
        """Text of R's ``summary.glm`` (coefficient table, dispersion, deviances, AIC)."""
        from reference.display import glm_report, render_text

        return render_text(glm_report(self))

    def __repr__(self) -> str:
        from reference.display import glm_short_report, render_text

        return render_text(glm_short_report(self)).rstrip("\n")

    def _repr_html_(self) -> str:
        from reference.display import glm_short_report, render_html

        return render_html(glm_short_report(self))


# ============================================================================ input handling
def _vector(values: ArrayLike, n: int, what: str, per: str = "row") -> Array:
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise InvalidResponseError(f"{what} must be numeric, got dtype {arr.dtype}")
    arr = np.array(arr, dtype=np.float64).reshape(-1)
    if arr.size == 1 and n != 1:
        arr = np.full(n, float(arr[0]))
    if arr.size != n:
        raise DesignMatrixError(f"{what} has {arr.size} values but {n} are needed, one per {per}")
    if not np.isfinite(arr).all():
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise InvalidResponseError(f"{what} holds a non-finite value ({arr[i]}) at row {i}; fix or drop that row")
    return arr


def _matrix(X: Any, names: Sequence[str] | None) -> tuple[Array, tuple[str, ...]]:
    if isinstance(X, pd.DataFrame):
        for col in X.columns:
            if not (pd.api.types.is_numeric_dtype(X[col]) or pd.api.types.is_bool_dtype(X[col])):
                raise DesignMatrixError(
                    f"design matrix column {col!r} is not numeric (dtype {X[col].dtype}); "
                    "encode it first, or use glm() with a formula for factors"
                )
        auto = tuple(str(c) for c in X.columns)
        arr = X.to_numpy(dtype=np.float64)
    else:
        raw = np.asarray(X)
        if raw.dtype.kind not in "biuf":
            raise DesignMatrixError(f"design matrix must be numeric, got dtype {raw.dtype}")
        arr = raw.astype(np.float64, copy=False)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            raise DesignMatrixError(f"design matrix must be 2-dimensional, got shape {arr.shape}")
        ones = _ones_columns(arr)
        auto = tuple("(Intercept)" if one else f"x{j}" for j, one in enumerate(ones))
    if names is not None:
        names = tuple(str(n) for n in names)
        if len(names) != arr.shape[1]:
            raise DesignMatrixError(f"names has {len(names)} entries but X has {arr.shape[1]} columns")
        auto = names
    if arr.shape[1] == 0:
        raise DesignMatrixError("design matrix has no columns; add an intercept column of ones")
    return np.asarray(arr, dtype=np.float64), auto


def _prepare_response(
    family: Family, y: Array, prior: Array, trials: Array | None
) -> tuple[Array, Array]:
    """Binomial successes + trials -> proportion + weights (R's convention); checks bounds."""
    if trials is None:
        return y, prior
    if family.name != "binomial":
        raise ModelInputError(f"trials= is only used by the binomial family, not by {family.name}")
    if (trials < 0).any():
        i = int(np.flatnonzero(trials < 0)[0])
        raise InvalidResponseError(f"binomial trials must be >= 0, got {trials[i]} at row {i}")
    if (y < 0).any():
        i = int(np.flatnonzero(y < 0)[0])
        raise InvalidResponseError(f"binomial successes must be >= 0, got {y[i]} at row {i}")
    if (y > trials).any():
        i = int(np.flatnonzero(y > trials)[0])
        raise InvalidResponseError(
            f"binomial successes exceed trials at row {i} ({y[i]:g} > {trials[i]:g}); "
            "pass the number of successes as y and the number of trials as trials="
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        prop = np.where(trials > 0, y / trials, 0.0)
    return prop, prior * trials


def _ones_columns(X: Array) -> NDArray[np.bool_]:
    """For each column of ``X``: is it all ones (an intercept)?

    Only columns whose first value is 1 are scanned (axis reductions over all columns cost more).
    """
    if X.shape[0] == 0:
        return np.ones(X.shape[1], dtype=bool)
    first = X[0].tolist()
    return np.array(
        [first[j] == 1.0 and bool(np.logical_and.reduce(X[:, j] == 1.0)) for j in range(X.shape[1])],
        dtype=bool,
    )


def _intercept_column(X: Array) -> bool:
    return bool(np.any(_ones_columns(X)))


@np.errstate(all="ignore")  # as R: overflow gives inf, silently; the kernels rely on it
def _finish(
    X: Array,
    y: Array,
    prior: Array,
    offset: Array,
    family: Family,
    link: Link,
    control: GLMControl,
    names: tuple[str, ...],
    has_intercept: bool,
    offset_given: bool,
    dispersion: float | None,
    start: ArrayLike | None,
    etastart: ArrayLike | None,
    mustart: ArrayLike | None,
    trials: Array | None,
    **extra: Any,
) -> GLMResult:
    n, p = X.shape
    if dispersion is not None and not (float(dispersion) > 0 and math.isfinite(float(dispersion))):
        raise ModelInputError(f"dispersion must be a positive number, got {dispersion}")
    X = np.asfortranarray(X)  # column-major: the weighted copies for LAPACK are then contiguous
    fit = _irls(
        X,
        y,
        prior,
        offset,
        family,
        link,
        control,
        start=None if start is None else _vector(start, p, "start", "coefficient"),
        etastart=None if etastart is None else _vector(etastart, n, "etastart"),
        mustart=None if mustart is None else _vector(mustart, n, "mustart"),
        trials=trials,
    )
    rank = fit.qr.rank
    qr_cols = fit.qr.pivot[:rank]
    aliased = np.ones(p, dtype=bool)
    aliased[qr_cols] = False
    coef = np.where(aliased, np.nan, fit.coef)

    _warn_diagnostics(fit, y, prior, family, link, control, names, aliased)

    n_ok = int(np.count_nonzero(prior))
    df_resid = n_ok - rank
    df_null = n_ok - int(has_intercept)
    if dispersion is None:
        disp = _summary_dispersion(family, link, fit, y, df_resid)
        estimated = bool(family.summary_estimates_dispersion)
    else:
        disp, estimated = float(dispersion), False
    unscaled = _r_inverse_crossprod(fit.qr.r)
    if rank == p and not aliased.any() and bool((qr_cols == np.arange(p)).all()):
        vcov = disp * unscaled
    else:
        vcov = np.full((p, p), np.nan)
        vcov[np.ix_(qr_cols, qr_cols)] = disp * unscaled

    null_dev = _null_deviance(y, prior, offset, family, link, control, has_intercept, offset_given, fit)
    family_aic = _family_aic(family, y, fit.mu, prior, fit.deviance, trials)
    aic = family_aic + 2.0 * rank
    df_loglik = rank + int(family.n_scale_params)
    loglik = df_loglik - aic / 2.0
    bic = -2.0 * loglik + math.log(n_ok) * df_loglik if n_ok > 0 else float("nan")
    return GLMResult(
        names=names,
        coef_values=_readonly(coef),
        vcov_values=_readonly(vcov),
        aliased=_readonly(aliased),
        family=family,
        link=link,
        deviance=fit.deviance,
        null_deviance=null_dev,
        df_resid=df_resid,
        df_null=df_null,
        dispersion=disp,
        dispersion_estimated=estimated,
        aic=float(aic),
        loglik=float(loglik),
        df_loglik=df_loglik,
        bic=float(bic),
        rank=rank,
        nobs=n_ok,
        iterations=fit.iterations,
        converged=fit.converged,
        boundary=fit.boundary,
        fitted=_readonly(fit.mu),
        linear_predictor=_readonly(fit.eta),
        y=_readonly(y),
        prior_weights=_readonly(prior),
        working_weights=_readonly(fit.working_weights),
        offset=_readonly(offset),
        has_intercept=has_intercept,
        model_matrix=_readonly(X),
        **extra,
    )


def _working_residuals(link: Link, y: Array, mu: Array, eta: Array) -> Array:
    """R's working residuals ``(y - mu) / mu_eta(eta)``."""
    return (y - mu) / link.mu_eta(eta)


def _summary_dispersion(family: Family, link: Link, fit: _Fit, y: Array, df_resid: int) -> float:
    """The dispersion R's ``summary.glm`` uses: 1 (binomial, Poisson) or its estimate.

    R's estimate is ``sum(weights * residuals^2) / df_resid`` over ``weights > 0``, with
    glm.fit's stored ``weights`` -- the working weights ``prior mu_eta^2 / V(mu)`` evaluated at
    the start of the last iteration, one step before the reported coefficients -- and its
    ``residuals``, the working residuals at the final ``mu``. At an exact optimum this is the
    Pearson statistic over ``df_resid`` (:meth:`Family.dispersion`); after a stopped iteration
    it differs from it by the size of the last step.
    """
    if not family.summary_estimates_dispersion:
        return 1.0
    if df_resid <= 0:
        return float("nan")
    ww = fit.working_weights
    used = ww > 0
    r = _working_residuals(link, y[used], fit.mu[used], fit.eta[used])
    return float(np.sum(ww[used] * r * r) / df_resid)


def _family_aic(
    family: Family, y: Array, mu: Array, prior: Array, dev: float, trials: Array | None
) -> float:
    """R's ``family$aic``; binomial with trials and weights weighs each row's log-density.

    R's binomial ``aic(y, n, mu, wt, dev)`` uses ``m = n`` (the trials) when any trial count
    exceeds 1 and multiplies each row's ``log dbinom(m y; m, mu)`` by ``wt / m`` -- the user's
    weight. With weights all 1 (or no trials) this is ``family.aic`` with ``wt`` as trials.
    """
    if trials is None or family.name != "binomial" or not np.any(trials > 1):
        return float(family.aic(y, mu, prior, dev))
    keep = trials > 0
    user_w = prior[keep] / trials[keep]
    if np.all(user_w == 1.0):
        return float(family.aic(y, mu, prior, dev))
    m = np.round(trials[keep])
    ll = family.logpdf(np.round(trials[keep] * y[keep]) / m, mu[keep], 1.0, m)
    return float(-2.0 * np.sum(user_w * ll))


def _null_deviance(
    y: Array,
    prior: Array,
    offset: Array,
    family: Family,
    link: Link,
    control: GLMControl,
    has_intercept: bool,
    offset_given: bool,
    fit: _Fit,
) -> float:
    if has_intercept and offset_given and np.any(offset != 0):
        # R's glm: refit the intercept-only model with the offset, starting at the fitted means
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            null_fit = _irls(np.ones((y.size, 1)), y, prior, offset, family, link, control, mustart=fit.mu)
        if not null_fit.converged or caught:
            warnings.warn(
                "the intercept-only fit for the null deviance did not converge cleanly; "
                "raise control=GLMControl(maxit=...)",
                ConvergenceWarning,
                stacklevel=4,
            )
        return null_fit.deviance
    if has_intercept:
        wtdmu = np.asarray(np.add.reduce(prior * y) / np.add.reduce(prior))  # broadcast by the kernel
    else:
        wtdmu = link.inverse(offset)
    return _dev(family, y, wtdmu, prior)  # inside _finish's errstate


def _warn_diagnostics(
    fit: _Fit,
    y: Array,
    prior: Array,
    family: Family,
    link: Link,
    control: GLMControl,
    names: tuple[str, ...],
    aliased: NDArray[np.bool_],
) -> None:
    if not fit.converged:
        warnings.warn(
            f"IRLS did not converge in {fit.iterations} iterations; raise the limit with "
            f"control=GLMControl(maxit={2 * int(control.maxit)}), supply start=, or check for "
            "separation / badly scaled predictors",
            ConvergenceWarning,
            stacklevel=4,
        )
    if fit.boundary:
        warnings.warn(
            "IRLS stopped at a boundary value (the step was halved to stay in the valid range); "
            "the estimates may not be the maximum likelihood: check the link or supply start=",
            ConvergenceWarning,
            stacklevel=4,
        )
    eps = 10.0 * R_EPS
    if family.name == "binomial":
        # R's test (within 10 eps of 0 or 1) misses most quasi-complete separations, where
        # IRLS stops at probabilities ~1e-9 from the bound; also flag those (y at that bound).
        mu = fit.mu
        # two reductions rule out the common case: every test below needs a mean within 1e-7 of a bound
        if mu.size and (np.minimum.reduce(mu) < _SEPARATION_TOL or np.maximum.reduce(mu) > 1.0 - _SEPARATION_TOL):
            extreme = (mu > 1.0 - eps) | (mu < eps)
            extreme |= ((mu > 1.0 - _SEPARATION_TOL) & (y == 1.0)) | ((mu < _SEPARATION_TOL) & (y == 0.0))
            extreme &= prior > 0
        else:
            extreme = np.zeros(mu.shape, dtype=bool)
        if extreme.any():
            warnings.warn(
                f"fitted probabilities numerically 0 or 1 occurred ({int(extreme.sum())} observation(s)): "
                "the predictors (quasi-)completely separate the outcomes, so some coefficients are "
                "infinite and their estimates, standard errors and p-values are meaningless; "
                "remove or merge the separating predictor/levels, or use a penalised (Firth) or "
                "Bayesian fit",
                ConvergenceWarning,
                stacklevel=4,
            )
    elif family.name == "poisson":
        # as for binomial: also flag means within 1e-7 of 0 where the count is 0
        if fit.mu.size and np.minimum.reduce(fit.mu) < _SEPARATION_TOL and (
            (prior > 0) & ((fit.mu < eps) | ((fit.mu < _SEPARATION_TOL) & (y == 0.0)))
        ).any():
            warnings.warn(
                "fitted rates numerically 0 occurred: a predictor separates the zero counts, so "
                "some coefficients are infinite; remove or merge the offending levels",
                ConvergenceWarning,
                stacklevel=4,
            )
    if aliased.any():
        which = ", ".join(n for n, a in zip(names, aliased, strict=True) if a)
        warnings.warn(
            f"design matrix is rank deficient: coefficient(s) {which} are aliased (linear "
            "combinations of earlier columns) and set to NaN, as R's NA; drop or recode them",
            ConvergenceWarning,
            stacklevel=4,
        )


# ============================================================================ entry points
def glm_fit(
    X: ArrayLike | pd.DataFrame,
    y: ArrayLike,
    family: str | Family = "binomial",
    link: str | Link | None = "probit",
    offset: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    *,
    names: Sequence[str] | None = None,
    trials: ArrayLike | None = None,
    k: float | None = None,
    intercept: bool | None = None,
    dispersion: float | None = None,
    start: ArrayLike | None = None,
    etastart: ArrayLike | None = None,
    mustart: ArrayLike | None = None,
    control: GLMControl | None = None,
) -> GLMResult:
    """Fit a GLM to a design matrix ``X`` (which already holds the intercept column) and ``y``.

    ``family`` is a name (R spellings accepted) or a Family; ``link=None`` means the canonical
    link. Binomial ``y`` is 0/1, a proportion with ``weights`` (trials), or counts of successes
    with ``trials=``. ``intercept`` (auto-detected: a column of ones) decides how the null
    deviance is computed. ``dispersion`` fixes the dispersion used for standard errors (R's
    ``summary(fit, dispersion = ...)``); ``k`` is the negative binomial parameter.
    """
    fam, lnk = resolve(family, link, k=k)
    X_arr, col_names = _matrix(X, names)
    n = X_arr.shape[0]
    check_finite_columns(X_arr, col_names)
    y_raw = np.asarray(y)
    if y_raw.dtype.kind not in "biuf":
        raise InvalidResponseError(
            f"response must be numeric, got dtype {y_raw.dtype}; recode it as numbers (0/1, counts)"
        )
    if y_raw.ndim != 1:
        y_raw = y_raw.reshape(-1) if y_raw.size == n else y_raw
    if y_raw.size != n:
        raise DesignMatrixError(f"X has {n} rows but y has {y_raw.size} values; they must have the same length")
    y_arr = np.array(y_raw, dtype=np.float64).reshape(-1)
    if not np.isfinite(y_arr).all():
        i = int(np.flatnonzero(~np.isfinite(y_arr))[0])
        raise InvalidResponseError(f"response holds a non-finite value ({y_arr[i]}) at row {i}; drop or impute it")
    prior = np.ones(n) if weights is None else _vector(weights, n, "weights")
    if (prior < 0).any():
        i = int(np.flatnonzero(prior < 0)[0])
        raise InvalidResponseError(f"weights must be >= 0, got {prior[i]} at row {i}")
    off = np.zeros(n) if offset is None else _vector(offset, n, "offset")
    tr_arr = None if trials is None else _vector(trials, n, "trials")
    y_fit, prior = _prepare_response(fam, y_arr, prior, tr_arr)
    has_int = _intercept_column(X_arr) if intercept is None else bool(intercept)
    return _finish(
        X_arr,
        y_fit,
        prior,
        off,
        fam,
        lnk,
        control or _DEFAULT_CONTROL,
        col_names,
        has_int,
        offset is not None,
        dispersion,
        start,
        etastart,
        mustart,
        trials=tr_arr,
        call=f"glm_fit(X, y, family={fam}, link={lnk.r_name})",
    )


def _column_or_array(data: pd.DataFrame, value: Any, what: str) -> tuple[Array | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, str):
        if value not in data.columns:
            from reference.design import _check_columns

            _check_columns({value}, data, f"{what}=")
        return _vector(data[value].to_numpy(), len(data), f"{what} column {value!r}"), value
    return _vector(value, len(data), what), "<array>"


def glm(
    formula: str,
    data: pd.DataFrame | Mapping[str, Any],
    family: str | Family = "poisson",
    link: str | Link | None = None,
    *,
    weights: str | ArrayLike | None = None,
    offset: str | ArrayLike | None = None,
    trials: str | ArrayLike | None = None,
    contrasts: Mapping[str, str] | None = None,
    k: float | None = None,
    dispersion: float | None = None,
    start: ArrayLike | None = None,
    etastart: ArrayLike | None = None,
    mustart: ArrayLike | None = None,
    control: GLMControl | None = None,
) -> GLMResult:
    """Fit a GLM from an R-style formula, e.g. ``glm("Richness ~ NAP", rikz, family="poisson")``.

    Categorical columns and ``C(x)`` get treatment contrasts (R's default); ``contrasts=
    {"Beach": "sum"}`` or ``C(Beach, contr.sum)`` give sum contrasts (an integer column named
    there becomes a factor). ``weights``, ``offset`` and ``trials`` are column names or arrays;
    ``offset(log(t))`` in the formula works too. Binomial responses: 0/1, successes with
    ``trials=``, ``cbind(successes, failures) ~ ...``, or a proportion with ``weights=``.
    See :func:`glm_fit` for ``k``, ``dispersion``, starting values and ``control``.
    """
    fam, lnk = resolve(family, link, k=k)
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    design = build_design(formula, frame, contrasts, factor_response=fam.name == "binomial")
    n = design.X.shape[0]
    w_arr, _ = _column_or_array(frame, weights, "weights")
    off_arr, off_source = _column_or_array(frame, offset, "offset")
    tr_arr, _ = _column_or_array(frame, trials, "trials")
    prior = np.ones(n) if w_arr is None else w_arr
    if (prior < 0).any():
        i = int(np.flatnonzero(prior < 0)[0])
        raise InvalidResponseError(f"weights must be >= 0, got {prior[i]} at row {i}")
    if design.trials is not None:
        if tr_arr is not None:
            raise ModelInputError("give the trials either by cbind(successes, failures) or by trials=, not both")
        tr_arr = design.trials
    y_fit, prior = _prepare_response(fam, design.y, prior, tr_arr)
    total_offset = np.zeros(n)
    offset_given = False
    for part in (design.offset, off_arr):
        if part is not None:
            total_offset = total_offset + part
            offset_given = True
    family_text = f"{fam}" if lnk.name == fam.canonical_link else f"{fam}(link = {lnk.r_name})"
    extras = "".join(
        f", {label} = {value if isinstance(value, str) else '<array>'}"
        for label, value in (("weights", weights), ("offset", offset), ("trials", trials))
        if value is not None
    )
    if contrasts:
        extras += f", contrasts = {dict(contrasts)}"
    return _finish(
        design.X,
        y_fit,
        prior,
        total_offset,
        fam,
        lnk,
        control or _DEFAULT_CONTROL,
        design.names,
        design.spec.has_intercept,
        offset_given,
        dispersion,
        start,
        etastart,
        mustart,
        trials=tr_arr,
        call=f"glm(formula = {formula}, family = {family_text}, data = data{extras})",
        formula=formula,
        design_spec=design.spec,
        offset_source=off_source,
    )
