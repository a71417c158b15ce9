"""Negative binomial GLMM with an estimated shape ``k``: :func:`glmer_nb` and :class:`NBGLMMResult`.

Model: ``y | u ~ NB(μ, k)`` with ``Var(y | u) = μ + μ²/k`` (MASS's ``theta`` = ``k``; glmmTMB's
``nbinom2``), ``g(μ) = offset + Xβ + Z Λθ u``, ``u ~ N(0, I)``. Naming: lme4 calls both the
shape and the random-effects parameters "theta"; here the shape is ``nb_k`` and ``theta`` is
always the random-effects parameter vector (as in :func:`reference.glmer`).

Estimation: the maximum of the Laplace (or, for one scalar term, adaptive Gauss–Hermite)
likelihood over ``(β, θ, log k)`` jointly, as glmmTMB does:

1. a start for ``k`` from the moments of a Poisson GLM (``k`` small when the counts are
   overdispersed), and a ``nAGQ = 0`` :func:`reference.glmer` fit at that ``k`` for (β, θ);
2. Newton steps on the deviance over ``(β, θ, log k)`` with one finite-difference Hessian
   (the machinery of :mod:`reference.glmm`), falling back to the bounded quasi-Newton search;
3. a final :func:`reference.glmer` fit at ``k̂``, which is the returned fit (its (β, θ) is the
   optimum given ``k̂``, i.e. the joint optimum), with ``nb_k`` and joint standard errors added.

lme4's ``glmer.nb`` alternates instead (optimise ``k`` given a glmer fit, refit), which
aims at the same optimum, with one difference in the approximation:

**Laplace weights.** With the log link the negative binomial is not in canonical form
(its canonical link is ``log(μ/(μ+k))``), so the Hessian of ``−log p(y, u)`` at the mode uses
the *observed* information, which depends on ``y``; lme4 keeps the Fisher (expected)
weights of PIRLS in the Laplace determinant. The two approximations differ by a few 0.01 in
the log-likelihood and up to ~0.03 in the intercept on real data (Salamanders, grouseticks).
``laplace="observed"`` (default) is the exact Laplace approximation and matches glmmTMB;
``laplace="fisher"`` is lme4's and matches ``glmer.nb``.

Standard errors: ``se``/``vcov`` are from the inverse Hessian of the deviance over all
parameters *including* ``log k`` (glmmTMB's convention); ``se_fixed_k`` are those of the fit
with ``k`` held at ``k̂`` (lme4's ``glmer.nb`` convention). ``nb_k_se`` is the delta-method SE
``k̂ · SE(log k̂)``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from reference.errors import ConvergenceError, ConvergenceWarning, ModelInputError
from reference.families import NegativeBinomial, Poisson
from reference.glm import glm_fit
from reference.glmm import (
    FitOutput,
    GLMMResult,
    build_result,
    conditional_modes,
    prepare_model,
    start_values,
)
from reference.glmm_optim import minimize, newton_stage, safe_value
from reference.glmm_options import GLMMOptions, NAGQError, with_overrides
from reference.glmm_pirls import Response, deviance
from reference.glmm_re import single_threaded_blas, theta_lower_bounds, theta_start
from reference.links import Link, get_link

__all__ = ["LAPLACE_KINDS", "NBGLMMResult", "glmer_nb", "nb_family"]

F64 = NDArray[np.float64]

LAPLACE_KINDS = ("observed", "fisher")

#: bounds of the shape search; at the upper end the model is Poisson for all practical purposes
K_MIN = 1e-4
K_MAX = 1e8


@dataclass(frozen=True)
class _FisherLaplaceNB(NegativeBinomial):
    """NegativeBinomial(k) that the GLMM code treats as canonical for every link, so the Laplace
    determinant uses the Fisher weights, as ``lme4::glmer.nb`` does. (The plain family is never
    canonical — its canonical link log(μ/(μ+k)) is not offered — so it gets the observed
    information, the exact Laplace approximation, as glmmTMB.) Prints as ``NegativeBinomial(k)``.
    """

    def is_canonical(self, link: str | Link) -> bool:
        get_link(link)
        return True


def nb_family(k: float, laplace: str = "observed") -> NegativeBinomial:
    """The negative binomial family with shape ``k`` as used by :func:`glmer_nb` for a
    given ``laplace`` kind ("observed": exact Laplace, as glmmTMB; "fisher": lme4's)."""
    _check_laplace(laplace)
    return NegativeBinomial(k) if laplace == "observed" else _FisherLaplaceNB(k)


def _check_laplace(laplace: str) -> None:
    if laplace not in LAPLACE_KINDS:
        raise ModelInputError(
            f"laplace must be one of {', '.join(LAPLACE_KINDS)}, got {laplace!r} "
            "('observed' matches glmmTMB, 'fisher' matches lme4::glmer.nb)"
        )


@dataclass(frozen=True, eq=False)
class NBGLMMResult(GLMMResult):
    """A :class:`~reference.glmm.GLMMResult` at the estimated shape, plus the shape.

    ``nb_k`` is the negative binomial shape (MASS/lme4 ``theta``, glmmTMB ``sigma``); ``theta``
    stays the random-effects parameter. ``se``/``vcov`` include the uncertainty in ``k``
    (joint Hessian, as glmmTMB); ``se_fixed_k`` treats ``k`` as known (as lme4's glmer.nb).
    ``npar`` counts ``k``, so ``aic``/``bic``/``df_resid`` are lme4's and glmmTMB's.
    """

    nb_k: float
    nb_k_se: float
    log_nb_k_se: float
    se_fixed_k: pd.Series
    vcov_all: pd.DataFrame  # joint covariance of (β, θ on the absolute scale, log k)
    laplace: str


# ----------------------------------------------------------------------------- the joint objective


class _JointNB:
    """Deviance over ``x = (β, θ, log k)`` with warm-started PIRLS (β fixed in PIRLS), or over
    ``x = (θ, log k)`` with β updated inside PIRLS (``beta_in_pirls``, the nAGQ = 0 criterion)."""

    def __init__(self, m: Any, opts: GLMMOptions, laplace: str, beta_in_pirls: bool = False) -> None:
        self.m = m
        self.opts = opts
        self.laplace = laplace
        self.beta_in_pirls = beta_in_pirls
        self.u: F64 | None = None
        self.beta: F64 | None = None
        self.last: tuple[Any, Any] | None = None
        self._resp: tuple[float, Response] | None = None

    def response(self, log_k: float) -> Response:
        if self._resp is None or self._resp[0] != log_k:
            m = self.m
            fam = nb_family(math.exp(log_k), self.laplace)
            self._resp = (log_k, Response(fam, m.link, m.resp.y, m.resp.wt, m.resp.offset))
        return self._resp[1]

    def __call__(self, x: F64) -> float:
        m = self.m
        nb, nt = (0, m.ntheta) if self.beta_in_pirls else (m.nb, m.ntheta)
        theta, log_k = x[nb : nb + nt], float(x[nb + nt])
        if not log_k <= math.log(K_MAX):
            return math.inf
        resp = self.response(log_k)
        beta = self.beta if self.beta_in_pirls else x[:nb]
        pr, state = conditional_modes(m, resp, theta, 1.0, self.opts, beta=beta, u0=self.u, joint=self.beta_in_pirls)
        if self.beta_in_pirls:
            self.beta = pr.beta
        self.u = pr.u
        self.last = (pr, state)
        return deviance(m.struct, state, resp, pr, 1.0, 1 if self.beta_in_pirls else max(m.nagq, 1))


def _moment_k(m: Any) -> float:
    """Shape from the moments of a Poisson GLM fit: Σμ² / Σ((y−μ)² − μ), clipped to [0.01, 1e4]."""
    resp = m.resp
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = glm_fit(m.X, resp.y, Poisson(), m.link, offset=resp.offset, weights=resp.wt)
        mu = np.asarray(fit.fitted, dtype=np.float64)
    except Exception:  # any GLM failure only costs a poorer start
        mu = np.full(resp.y.size, float(np.average(resp.y, weights=resp.wt)))
    excess = float(np.sum(resp.wt * ((resp.y - mu) ** 2 - mu)))
    if not excess > 0:
        return 1e4
    return float(np.clip(np.sum(resp.wt * mu * mu) / excess, 0.01, 1e4))


# ----------------------------------------------------------------------------- entry point


def glmer_nb(
    formula: str,
    data: pd.DataFrame,
    link: str | Link = "log",
    weights: str | ArrayLike | None = None,
    offset: str | ArrayLike | None = None,
    nAGQ: int = 1,
    *,
    laplace: str = "observed",
    k_start: float | None = None,
    options: GLMMOptions | None = None,
    **option_overrides: Any,
) -> NBGLMMResult:
    """Fit a negative binomial GLMM with the shape ``k`` estimated (``lme4::glmer.nb``,
    ``glmmTMB(family = nbinom2)``).

    Args:
        formula: lme4-style formula with a count response, e.g. ``"y ~ x + (1 | g)"``.
        data: a DataFrame; rows with a missing value in a model column are dropped.
        link: "log" (default), "sqrt" or "identity".
        weights: prior weights (column name or array).
        offset: offset added to the linear predictor (column name or array), or write
            ``offset(...)`` in the formula.
        nAGQ: 1 (Laplace, default) or up to 25 adaptive Gauss–Hermite nodes (one scalar
            random-effects term only). ``nAGQ = 0`` is not offered: use 1.
        laplace: "observed" (exact Laplace approximation, matches glmmTMB) or "fisher" (Fisher
            weights in the Laplace determinant, matches lme4's glmer.nb); see the module notes.
        k_start: starting shape (default: from the moments of a Poisson GLM).
        options: a :class:`~reference.glmm.GLMMOptions`; keyword overrides of its fields too.

    Returns:
        An :class:`NBGLMMResult` (a GLMMResult) with ``nb_k``, ``nb_k_se``, ``log_nb_k_se``.

    Raises:
        ModelInputError, NAGQError, FormulaError, GroupingFactorError, InvalidResponseError: bad input.
        ConvergenceError: the fit could not be completed.
    """
    _check_laplace(laplace)
    opts = with_overrides(options or GLMMOptions(), option_overrides)
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, int | np.integer) or nAGQ < 1:
        raise NAGQError(f"glmer_nb needs nAGQ ≥ 1 (1 = Laplace, or up to 25 nodes), got {nAGQ!r}")
    if k_start is not None and not (isinstance(k_start, int | float) and K_MIN < k_start < K_MAX):
        raise ModelInputError(f"k_start must be a number between {K_MIN:g} and {K_MAX:g}, got {k_start!r}")
    m = prepare_model(formula, data, nb_family(1.0, laplace), link, None, weights, offset, int(nAGQ), opts)
    with single_threaded_blas():
        return _fit_nb(formula, m, opts, laplace, k_start)


def _fit_nb(formula: str, m: Any, opts: GLMMOptions, laplace: str, k_start: float | None) -> NBGLMMResult:
    """The three stages of :func:`glmer_nb` on a prepared model."""
    k0 = float(k_start) if k_start is not None else _moment_k(m)
    nb, nt = m.nb, m.ntheta
    lower_theta = np.concatenate([theta_lower_bounds(p) for p in m.term_ps])
    log_k_min = math.log(K_MIN)

    # 1. (θ, log k) with β inside PIRLS (the nAGQ = 0 criterion), loosely: starting values only
    beta0, _ = start_values(m)
    stage1 = _JointNB(m, opts, laplace, beta_in_pirls=True)
    stage1.beta = beta0
    x1 = np.concatenate([np.concatenate([theta_start(p) for p in m.term_ps]), [math.log(k0)]])
    lower1 = np.concatenate([lower_theta, [log_k_min]])
    if not math.isfinite(safe_value(stage1)(x1)):
        raise ConvergenceError("cannot start the negative binomial fit: PIRLS fails at the starting values; "
                               "check the predictors for extreme values or give k_start")
    st1 = minimize(stage1, x1, lower1, opts, np.ones(x1.size), ftol=opts.stage1_ftol)
    stage1(st1.x)
    assert stage1.beta is not None
    nfev = st1.nfev

    # 2. joint Newton on (β, θ, log k) on the Laplace / AGQ deviance; quasi-Newton fallback
    obj = _JointNB(m, opts, laplace)
    obj.u = stage1.u
    x0 = np.concatenate([stage1.beta, st1.x])
    lower = np.concatenate([np.full(nb, -np.inf), lower1])
    st2 = newton_stage(
        obj, x0, lower, np.ones(x0.size), opts,
        failure="the negative binomial fit found no finite deviance; simplify the random effects or give k_start",
    )
    nfev += st2.nfev
    messages = [
        f"stage 1 (β in PIRLS): {st1.message} ({st1.nfev} deviance evaluations)",
        f"stage 2 (β, θ, log k): {st2.message}",
    ]
    x, f0, g, H = st2.x, st2.fun, st2.gradient, st2.hessian
    assert obj.last is not None
    pr, state = obj.last
    k_hat = math.exp(float(x[-1]))

    # 3. the GLMMResult of reference.glmer for the model at k̂, with the joint optimum
    m_hat = replace(m, family=obj.response(float(x[-1])).family, resp=obj.response(float(x[-1])))
    d = nb + nt
    try:
        vcov_fixed = np.linalg.inv(0.5 * H[:d, :d])[:nb, :nb]
    except np.linalg.LinAlgError:
        vcov_fixed = np.full((nb, nb), np.nan)
    fit = FitOutput(
        beta=x[:nb].copy(), theta_abs=x[nb:d].copy(), phi=1.0, deviance=f0, pr=pr, state=state,
        hessian=H[:d, :d], gradient=g[:d], vcov=vcov_fixed, nfev=nfev, messages=tuple(messages), x=x[:d].copy(),
    )
    base = build_result(formula, m_hat, fit, opts)
    return _result(base, H, g, k_hat, laplace, nfev, m.scaling.transform)


def _result(
    base: GLMMResult, H: F64, g: F64, k_hat: float, laplace: str, nfev: int, transform: F64
) -> NBGLMMResult:
    """``base`` with the joint (β, θ, log k) covariance; ``H`` and ``g`` are on the internal design
    ``X A`` (``transform`` = A), the covariance is reported on the user's columns."""
    names = list(base.fixef.index)
    nb = len(names)
    all_names = names + [f"theta:{t}" for t in base.theta.index] + ["log(nb_k)"]
    try:
        B = np.eye(H.shape[0])
        B[: transform.shape[0], : transform.shape[0]] = transform
        cov = B @ np.linalg.inv(0.5 * H) @ B.T
        if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        cov = np.full(H.shape, np.nan)
        warnings.warn(
            "the Hessian of the deviance over (β, θ, log k) is not positive definite; the joint standard "
            "errors are NaN (se_fixed_k treat k as known); check for a singular fit or k at its bound",
            ConvergenceWarning,
            stacklevel=3,
        )
    vcov_b = cov[:nb, :nb]
    log_k_se = float(math.sqrt(cov[-1, -1])) if cov[-1, -1] > 0 else math.nan
    optinfo = dict(base.optinfo)
    optinfo["nb_joint_nfev"] = nfev
    g_user = np.array(g, dtype=np.float64)
    g_user[:nb] = np.linalg.solve(transform.T, g[:nb])  # on the user's columns, as optinfo["gradient"]
    optinfo["nb_joint_gradient"] = g_user
    if k_hat > 0.99 * K_MAX or k_hat < 1.01 * K_MIN:
        msg = (
            f"the negative binomial shape k = {k_hat:.3g} is at the bound of its search range; "
            + ("the counts show no overdispersion beyond the random effects: use family poisson"
               if k_hat > 1.0 else "the data are extremely overdispersed: check the model")
        )
        optinfo["warnings"] = [*optinfo.get("warnings", []), msg]
        warnings.warn(msg, ConvergenceWarning, stacklevel=3)
    values = {f.name: getattr(base, f.name) for f in fields(GLMMResult)}
    values.update(
        se=pd.Series(np.sqrt(np.diag(vcov_b)), index=names, name="Std. Error"),
        vcov=pd.DataFrame(vcov_b, index=names, columns=names),
        npar=base.npar + 1,
        optinfo=optinfo,
    )
    return NBGLMMResult(
        **values,
        nb_k=k_hat,
        nb_k_se=k_hat * log_k_se,
        log_nb_k_se=log_k_se,
        se_fixed_k=base.se.copy(),
        vcov_all=pd.DataFrame(cov, index=all_names, columns=all_names),
        laplace=laplace,
    )
