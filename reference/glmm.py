"""Generalized linear mixed models fitted like ``lme4::glmer``: :func:`glmer` and :class:`GLMMResult`.

Model (lme4's parametrisation): ``η = offset + Xβ + Z b`` with ``b = Λθ u``, ``u ~ N(0, I)``;
``y | u`` independent from the family with mean ``g⁻¹(η)``. ``Λθ`` is block diagonal with one
lower-triangular block per random-effects term (unstructured covariance ``Λ Λᵀ``), filled
column-wise from ``θ`` (lower bound 0 on the diagonals).

Estimation, as lme4 by default:

1. **nAGQ = 0 stage** — for each θ, penalised IRLS finds β and the conditional modes ``u*``
   together; θ (and the dispersion, see below) minimises the Laplace deviance at that point.
   With ``nAGQ=0`` this is the final fit (fast, slightly biased β), and the standard errors
   come from the fixed-effects block of the penalised system, as lme4 does.
2. **joint stage** (``nAGQ ≥ 1``) — the deviance (−2 log-likelihood: Laplace for ``nAGQ=1``,
   adaptive Gauss–Hermite with ``nAGQ`` nodes for one scalar term) is minimised over
   ``(β, θ)`` jointly from the stage-1 estimate, with PIRLS (β fixed) warm-started between
   evaluations. Standard errors: the β block of the inverse Hessian of the deviance over all
   parameters (lme4's ``use.hessian = TRUE``), by central finite differences.

Optimiser (:mod:`reference.glmm_optim`): stage 1 uses a small bounded quasi-Newton (BFGS with
projection; forward finite-difference gradients). Stage 2 starts with Newton steps using one finite-difference
Hessian of the deviance (second-order differences, 2d + d(d−1) evaluations) — the Hessian
needed for the standard errors anyway — and falls back to the quasi-Newton search when the
Hessian is not positive definite or a step fails. The deviance is even in each column of Λ,
so at θ = 0 its derivative along θ vanishes and every gradient test passes there, minimum or
not: a diagonal θ that ends within ``boundary_tol`` of its bound 0 (after either stage) is
accepted only if probes at interior values do not lower the deviance; otherwise the search
restarts from the best probe. Every tolerance is
in one keyword-only record, :class:`GLMMOptions` (:mod:`reference.glmm_options`; like
MixedModels.jl's ``optsummary``).

**Dispersion** (gaussian, Gamma, inverse Gaussian): φ is an extra parameter of the Laplace
objective (on the log scale), estimated by maximum likelihood jointly with (β, θ), as glmmTMB
does. For the gaussian identity model the Laplace approximation is exact, so the fit is the
ML linear mixed model (``lmer(REML = FALSE)``). lme4's ``glmer`` handles Gamma differently
(a Pearson-type estimate of the scale), so Gamma fits agree with glmmTMB, not with glmer.
For such families ``theta`` is reported on lme4's relative scale (``Λ/σ``, σ = √φ);
``varcorr`` is always on the absolute scale.

**Non-canonical links** (probit, cloglog, Gamma–log, every negative binomial link, …): PIRLS iterates with Fisher weights
as lme4 does (only the path to the mode changes), but the Laplace determinant uses the
observed information at the mode (the exact Laplace approximation, as glmmTMB). lme4 keeps the
Fisher weights there, so for such links our log-likelihood matches glmmTMB and is higher than
lme4's (cbpp probit: −92.5833 vs lme4 −92.6212), and the estimates differ from lme4 by ~1e-3.

**Theta order**: random-effect terms are ordered as lme4 orders them (decreasing number of
levels, stable), which fixes the order of ``theta``, ``ranef`` and ``varcorr``.

**Log-likelihood** ``loglik`` is the full one, with every normalising constant
(``−log y!``, binomial coefficients, …), for every ``nAGQ``. lme4 reports the same number for
``nAGQ = 0, 1``, but for ``nAGQ > 1`` its ``logLik`` drops the saturated-model term, so it is
on another scale than ours (the estimates agree; the logLik differs by a constant).

**Scaling**: the fits run on ``X A``, the fixed-effects columns centred (with an intercept) and
divided by their standard deviations (:class:`reference.glmm_inputs.FixedScaling`; option
``scale_fixed``), so covariates in dollars next to proportions cost nothing in accuracy (AER's
Fatalities: lme4 stops with max|grad| 6.6; ours reaches its logLik −2204.2746 or better).
``fixef``, ``se``, ``vcov``, ``optinfo["x"]``/``["gradient"]`` and predictions are on the user's columns;
``scaled_gradient_max`` (lme4's check) is computed on the internal, well-conditioned scale.
When PIRLS fails from its start (very large random-effect SDs), it is solved by continuation in the
random-effects scale (θ·c for growing c).

**Separation and degenerate optima**: when the fit cannot start or a slope exceeds 10 per SD of its
column, a linear programme (:func:`reference.glmm_inputs.separating_columns`) checks for
(quasi-)complete separation by the fixed effects and the error or warning names the columns.
A random-effect SD above ``huge_sd`` (10 on a log, logit, probit, … scale) is warned about as a degenerate optimum,
with the share of the term's levels that have one observation (``optinfo["single_observation_share"]``);
a Hessian that is not positive definite is warned about too (SEs then from the penalised system).

**Names**: ``(1 | a/b)`` gives the terms ``a`` and ``b:a`` and ``(1 | a/b/c)`` also ``c:(b:a)``, lme4's
labels, so ``varcorr``, ``ranef``, ``ngroups`` and ``theta`` keys are lme4's.

**Speed**: one grouping factor is handled without sparse matrices — rows are sorted by cluster
and all per-cluster quantities are segment sums (``np.add.reduceat``) and batched ``p×p``
solves; several terms use index maps of ``ZΛ`` computed once, with block elimination of the
largest term or sparse LU (see :mod:`reference.glmm_re`); BLAS runs on one thread during the fit
when ``threadpoolctl`` is installed. Finite-difference evaluations warm-start PIRLS from modes
extrapolated along the directions already evaluated, which saves one factorisation each.
Memory is O(n·p): a 10⁶-row random-intercept Poisson fit with 3 covariates peaks at about 0.5 GB.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from reference.errors import (
    ConvergenceError,
    ConvergenceWarning,
    InvalidResponseError,
    ModelInputError,
)
from reference.families import Family, get_family
from reference.glm import glm_fit
from reference.glmm_formula import (
    GLMMDesign,
    GroupingFactorError,
    build_design,
    group_columns,
    group_labels,
    parse_formula,
)
from reference.glmm_inputs import FixedScaling, column_or_array, separating_columns, term_keys
from reference.glmm_optim import fd_grad, minimize, newton_stage
from reference.glmm_options import NAGQ_MESSAGE, GLMMOptions, NAGQError, check_nagq, with_overrides
from reference.glmm_pirls import PirlsResult, Response, deviance, pirls
from reference.glmm_re import (
    BlockRE,
    RandomEffects,
    SparseRE,
    single_threaded_blas,
    theta_lower_bounds,
    theta_start,
    theta_to_lambda,
)
from reference.links import Link
from reference.lmm import lmer

__all__ = [
    "DevianceFunction",
    "GLMMOptions",
    "GLMMResult",
    "NAGQError",
    "glmer",
    "glmer_deviance",
    "glmer_deviance_function",
    "glmer_gaussian",
]

F64 = NDArray[np.float64]

# ----------------------------------------------------------------------------- input handling


@dataclass
class PreparedModel:
    """Everything the fitting code needs, rows sorted by cluster for one grouping factor; ``X`` is
    the internal (centred and scaled) design. Built by :func:`prepare_model`; shared with
    :mod:`reference.glmm_nb`."""

    design: GLMMDesign
    family: Family
    link: Link
    resp: Response
    X: F64
    struct: Any
    order: NDArray[np.intp]  # model row k is design row order[k]
    trials: F64 | None
    prior_weights: F64
    offset_arg: Any
    term_ps: list[int]
    nagq: int
    scaling: FixedScaling  # X is the internal design X_user A (see reference.glmm_inputs)

    @property
    def nb(self) -> int:
        return self.X.shape[1]

    @property
    def ntheta(self) -> int:
        return int(self.struct.ntheta)

    @property
    def free_phi(self) -> bool:
        return not self.resp.fixed_dispersion


def prepare_model(
    formula: str,
    data: pd.DataFrame,
    family: str | Family,
    link: str | Link | None,
    trials: Any,
    weights: Any,
    offset: Any,
    nAGQ: int,
    opts: GLMMOptions,
) -> PreparedModel:
    """Check the arguments of :func:`glmer` and build the model: design, response, random-effects
    structure, and the internal scaling of the fixed effects (``opts.scale_fixed``)."""
    fam = get_family(family)
    lk = fam.link_object(link)
    nAGQ = check_nagq(nAGQ)
    parsed = parse_formula(formula)
    extra = tuple(v for v in (trials, weights, offset) if isinstance(v, str))
    design = build_design(parsed, data, extra_columns=extra, factor_response=fam.name == "binomial")
    n = design.y.size
    y = design.y
    tr = column_or_array(trials, "trials", data, design.rows)
    from_cbind = design.trials is not None
    if from_cbind:
        if tr is not None:
            raise ModelInputError("trials are given twice (cbind(...) response and trials=); pass one of them")
        tr = np.asarray(design.trials, dtype=np.float64)
    if tr is not None:
        if fam.name != "binomial":
            raise ModelInputError(f"trials only apply to the binomial family, not {fam.name}")
        if np.any(~np.isfinite(tr)) or np.any(tr <= 0):
            bad = tr[~(np.isfinite(tr) & (tr > 0))][0]
            raise InvalidResponseError(
                f"number of trials must be positive, got {bad:g}; drop rows with no trials"
            )
        if np.any(y < 0) or np.any(y > tr):
            raise InvalidResponseError("binomial successes must lie between 0 and the number of trials")
        y = y / tr  # R's convention inside: the proportion, with the trials as weights
    pw = column_or_array(weights, "weights", data, design.rows)
    pw = np.ones(n) if pw is None else pw
    off = column_or_array(offset, "offset", data, design.rows)
    off = np.zeros(n) if off is None else off
    if design.offset is not None:
        off = off + design.offset
    wt = pw * (tr if tr is not None else 1.0)
    fam.check_response(y, wt)

    terms = design.terms
    if nAGQ > 1 and (len(terms) != 1 or terms[0].p != 1):
        raise NAGQError(NAGQ_MESSAGE)
    if not fam.fixed_dispersion:
        for t in terms:
            if t.nlevels * t.p >= n:
                raise GroupingFactorError(
                    f"grouping factor {t.group!r} has {t.nlevels} levels for {n} observations; with a "
                    f"{fam.name} family the random effect is confounded with the residual (drop the term)"
                )
    if len(terms) == 1:
        order = np.argsort(terms[0].codes, kind="stable").astype(np.intp)
        counts = np.bincount(terms[0].codes, minlength=terms[0].nlevels)
        struct: Any = BlockRE(terms[0].Xr[order], counts)
    else:
        order = np.arange(n, dtype=np.intp)
        struct = SparseRE(
            [(t.codes, t.Xr, t.nlevels) for t in terms], dense_max=opts.dense_max, schur_max=opts.schur_max
        )
    resp = Response(fam, lk, y[order], wt[order], off[order])
    scaling = FixedScaling.of(design.X, enabled=opts.scale_fixed)
    return PreparedModel(
        design=design,
        family=fam,
        link=lk,
        resp=resp,
        X=scaling.internal_x(design.X[order]),
        struct=struct,
        order=order,
        trials=None if tr is None else tr[order],
        prior_weights=pw[order],
        offset_arg=offset,
        term_ps=[t.p for t in terms],
        nagq=int(nAGQ),
        scaling=scaling,
    )


#: random-effects scales (× θ) of the continuation that :func:`conditional_modes` falls back on
_CONTINUATION = (0.05, 0.15, 0.4, 1.0)


def conditional_modes(
    m: PreparedModel,
    resp: Response,
    theta: F64,
    phi: float,
    opts: GLMMOptions,
    *,
    beta: F64 | None,
    u0: F64 | None,
    joint: bool,
) -> tuple[PirlsResult, Any]:
    """PIRLS at ``θ``: the conditional modes ``u`` (and β, from ``beta``, when ``joint``; else at the
    fixed ``beta``) and the random-effects state. When PIRLS fails from ``u0`` (very large
    standard deviations), it is solved by continuation: the modes at ``θ·c`` for growing ``c``
    start each solve, with ``u`` rescaled so that ``b = Λu`` is kept.

    Raises:
        ConvergenceError: when the continuation fails too.
    """
    assert beta is not None
    tols = opts.pirls_tolerances()

    def solve(th: F64, u: F64 | None, b: F64) -> tuple[PirlsResult, Any]:
        state = m.struct.prepare(th)
        if joint:
            return pirls(m.struct, state, resp, m.X, b, u, phi, joint=True, **tols), state
        eta_fixed = resp.offset + m.X @ b
        return pirls(m.struct, state, resp, m.X, b, u, phi, joint=False, eta_fixed=eta_fixed, **tols), state

    try:
        return solve(theta, u0, beta)
    except ConvergenceError:
        pass
    u: F64 | None = None
    prev = 1.0
    for c in _CONTINUATION:
        pr, state = solve(theta * c, None if u is None else u * (prev / c), beta)
        if joint:
            beta = pr.beta
        u, prev = pr.u, c
    return pr, state


class _Objective:
    """Deviance as a function of the parameter vector, with warm-started PIRLS."""

    def __init__(self, m: PreparedModel, opts: GLMMOptions, joint: bool, nagq: int) -> None:
        self.m = m
        self.opts = opts
        self.joint = joint
        self.nagq = nagq
        self.u: F64 | None = None
        self.beta: F64 | None = None
        self.last: tuple[F64, PirlsResult, Any, float] | None = None
        # finite-difference warm starts (see set_center)
        self._center: tuple[F64, F64, F64] | None = None
        self._dirs: dict[int, tuple[float, F64, F64]] = {}

    def set_center(self, x: F64 | None) -> None:
        """Warm starts for finite differences around ``x`` (None: back to the last modes).

        PIRLS then starts from the modes at ``x`` moved linearly along the coordinate
        directions already evaluated (``x + h e_i``), so the start is O(h²) instead of O(h)
        away from the new modes and PIRLS needs one factorisation fewer per evaluation.
        The modes it converges to, hence the deviance, do not depend on the start.
        """
        self._center = None
        self._dirs = {}
        if x is None or self.last is None or not np.array_equal(self.last[0], x):
            return
        pr = self.last[1]
        self._center = (np.array(x, dtype=np.float64), pr.u.copy(), pr.beta.copy())

    def _warm_start(self, x: F64) -> int | None:
        """Set the PIRLS start for ``x``; the coordinate to learn from this evaluation, if any."""
        if self._center is None:
            return None
        x0, u0, b0 = self._center
        dx = x - x0
        moved = np.flatnonzero(dx)
        u, b = u0.copy(), b0.copy()
        for i in moved:
            known = self._dirs.get(int(i))
            if known is not None:
                h, du, db = known
                u += (dx[i] / h) * du
                b += (dx[i] / h) * db
        self.u = u
        if self.joint:
            self.beta = b
        if moved.size == 1 and int(moved[0]) not in self._dirs:
            return int(moved[0])
        return None

    def _learn(self, x: F64, i: int, pr: PirlsResult) -> None:
        assert self._center is not None
        x0, u0, b0 = self._center
        self._dirs[i] = (float(x[i] - x0[i]), pr.u - u0, pr.beta - b0)

    def split(self, x: F64) -> tuple[F64 | None, F64, float]:
        m = self.m
        k = 0
        beta = None
        if not self.joint:
            beta = x[: m.nb]
            k = m.nb
        theta = x[k : k + m.ntheta]
        phi = math.exp(x[k + m.ntheta]) if m.free_phi else 1.0
        return beta, theta, phi

    def __call__(self, x: F64) -> float:
        m = self.m
        beta, theta, phi = self.split(x)
        learn = self._warm_start(x)
        pr, state = conditional_modes(
            m, m.resp, theta, phi, self.opts, beta=self.beta if self.joint else beta, u0=self.u, joint=self.joint
        )
        if self.joint:
            self.beta = pr.beta
        self.u = pr.u
        if learn is not None:
            self._learn(x, learn, pr)
        dev = deviance(m.struct, state, m.resp, pr, phi, max(self.nagq, 1))
        self.last = (np.array(x), pr, state, phi)
        return dev


def start_values(m: PreparedModel) -> tuple[F64, float]:
    """β from the GLM without random effects (reference.glm), φ from its Pearson statistic.

    Falls back to a least-squares fit of ``g(mustart)`` when the GLM cannot be fitted
    (e.g. separation); the nAGQ = 0 stage refines β anyway.
    """
    resp = m.resp
    beta0: F64 | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = glm_fit(m.X, resp.y, m.family, m.link, offset=resp.offset, weights=resp.wt)
        coef = np.asarray(fit.coef_values, dtype=np.float64)
        if np.all(np.isfinite(coef)):
            beta0 = coef
    except Exception:  # any GLM failure only costs a poorer start
        beta0 = None
    if beta0 is None:
        eta0 = m.link.link(resp.mustart)
        beta0, *_ = np.linalg.lstsq(m.X, eta0 - resp.offset, rcond=None)
    if not m.free_phi:
        return beta0, 1.0
    eta = resp.offset + m.X @ beta0
    mu = m.link.inverse(eta)
    if not resp.valid(eta, mu):
        mu = resp.mustart
    pearson = float(np.mean(resp.wt * (resp.y - mu) ** 2 / m.family.variance(mu)))
    return beta0, max(pearson, 1e-8)


@dataclass
class FitOutput:
    """The optimum as the optimisers leave it, on the internal design (β, vcov, gradient, Hessian);
    :func:`build_result` turns it into a :class:`GLMMResult` on the user's columns."""

    beta: F64
    theta_abs: F64
    phi: float
    deviance: float
    pr: PirlsResult
    state: Any
    hessian: F64 | None
    gradient: F64
    vcov: F64
    nfev: int
    messages: tuple[str, ...]
    x: F64


def separation_message(m: PreparedModel) -> str | None:
    """A one-line description of (quasi-)complete separation by the fixed effects, or None."""
    fam = m.family.name
    if fam not in ("binomial", "poisson"):
        return None
    cols = separating_columns(m.X, m.resp.y, m.resp.wt, fam, m.design.fixed_names)
    if cols is None:
        return None
    what = f"column(s) {', '.join(cols)}" if cols else "the intercept"
    outcome = "the 0/1 outcomes" if fam == "binomial" else "the zero counts"
    return (
        f"the fixed effects (quasi-)completely separate {outcome} along {what}, so the likelihood rises "
        "without bound and those coefficients are infinite; remove or merge the separating predictor or "
        "levels, or use a penalised fit"
    )


def _first_evaluation(obj0: _Objective, m: PreparedModel, x1: F64, beta0: F64) -> None:
    """Evaluate the stage-1 objective at the start, so that PIRLS has converged modes to warm-start
    from. Tries the GLM's β, then β from the working response of ``mustart`` (which always gives
    valid means), then a smaller random-effects scale; raises a message naming the cause."""
    starts = [(beta0, x1)]
    eta0 = m.link.link(m.resp.mustart)
    beta_ls, *_ = np.linalg.lstsq(m.X, eta0 - m.resp.offset, rcond=None)
    small = x1.copy()
    small[: m.ntheta] *= 0.1
    starts += [(beta_ls, x1), (beta_ls, small)]
    failure: ConvergenceError | None = None
    for beta, x in starts:
        obj0.beta = np.array(beta, dtype=np.float64)
        obj0.u = None
        try:
            obj0(x)
            return
        except ConvergenceError as exc:
            failure = exc if failure is None else failure
    sep = separation_message(m)
    if sep is not None:
        raise ConvergenceError(f"cannot start the fit: {sep}") from None
    raise ConvergenceError(
        f"cannot start the fit ({failure}); check the response and the predictors "
        "(extreme values, nearly collinear columns) and simplify the random effects"
    ) from None


def _schur_vcov(m: PreparedModel, state: Any, pr: PirlsResult) -> F64:
    """Inverse of the fixed-effects block ``XᵀWX − Cᵀ A⁻¹ C`` of the penalised system at the modes
    ``pr`` (lme4's nAGQ = 0 standard errors); NaN when it is singular."""
    C = m.struct.cross_x(state, pr.w, m.X)
    schur = (m.X * pr.w[:, None]).T @ m.X - C.T @ pr.factor.solve_mat(C)
    try:
        return np.linalg.inv(schur)
    except np.linalg.LinAlgError:
        return np.full((m.nb, m.nb), np.nan)


def _fit(m: PreparedModel, opts: GLMMOptions) -> FitOutput:
    """Stage 1 (θ[, log φ] with β in PIRLS), then, for nAGQ ≥ 1, the joint Newton stage; every
    β, gradient and Hessian here is on the internal (scaled) design ``m.X``."""
    lower_theta = np.concatenate([theta_lower_bounds(p) for p in m.term_ps])
    beta0, phi0 = start_values(m)
    scale0 = math.sqrt(phi0) if m.free_phi else 1.0
    theta0 = np.concatenate([theta_start(p) for p in m.term_ps]) * scale0
    extra = [math.log(phi0)] if m.free_phi else []
    lower1 = np.concatenate([lower_theta, [-np.inf] * len(extra)])

    # stage 1: β inside PIRLS
    obj0 = _Objective(m, opts, joint=True, nagq=1)
    x1 = np.concatenate([theta0, extra])
    _first_evaluation(obj0, m, x1, beta0)
    x1 = np.array(obj0.last[0]) if obj0.last is not None else x1
    st1 = minimize(
        obj0, x1, lower1, opts, np.full(x1.size, scale0),
        ftol=opts.optimizer_ftol if m.nagq == 0 else opts.stage1_ftol,
    )
    if not math.isfinite(st1.fun):
        sep = separation_message(m)
        raise ConvergenceError(
            sep if sep is not None else
            "the nAGQ=0 stage found no finite deviance; check the predictors for extreme values and "
            "simplify the random effects"
        )
    dev1 = obj0(st1.x)
    _, pr1, state1, phi1 = obj0.last  # type: ignore[misc]
    messages = [f"stage 1 (nAGQ=0): {st1.message} ({st1.nfev} deviance evaluations)"]
    nfev = st1.nfev

    if m.nagq == 0:
        beta = pr1.beta
        theta_abs = st1.x[: m.ntheta]
        schur = pr1.schur
        try:
            vcov = np.linalg.inv(schur)
        except np.linalg.LinAlgError:
            vcov = np.full((m.nb, m.nb), np.nan)
        # gradient of the stage-1 objective for the diagnostics
        grad = fd_grad(obj0, st1.x, dev1, lower1, opts.fd_step)
        obj0(st1.x)
        return FitOutput(beta, theta_abs, phi1, dev1, pr1, state1, None, grad, vcov, nfev, tuple(messages), st1.x)

    # stage 2: joint (β, θ[, log φ]) on the Laplace / AGQ deviance
    obj = _Objective(m, opts, joint=False, nagq=m.nagq)
    obj.u = pr1.u
    x2 = np.concatenate([pr1.beta, st1.x])
    lower2 = np.concatenate([np.full(m.nb, -np.inf), lower1])
    st2 = newton_stage(
        obj, x2, lower2, np.full(x2.size, scale0), opts,
        failure=f"the nAGQ={m.nagq} stage found no finite deviance; simplify the random effects or use nAGQ=0",
    )
    nfev += st2.nfev
    messages.append(f"stage 2 (nAGQ={m.nagq}): {st2.message}")
    x, f0, g, H = st2.x, st2.fun, st2.gradient, st2.hessian
    _, pr, state, phi = obj.last  # type: ignore[misc]
    beta = x[: m.nb]
    theta_abs = x[m.nb : m.nb + m.ntheta]
    try:
        cov_all = np.linalg.inv(0.5 * H)
        vcov = cov_all[: m.nb, : m.nb]
        if not np.all(np.isfinite(vcov)) or np.any(np.diag(vcov) <= 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        warnings.warn(
            "the Hessian of the deviance is not positive definite, so the optimum is not a proper minimum "
            "(a degenerate or singular fit); standard errors come from the fixed-effects block of the "
            "penalised system instead: simplify the random effects",
            ConvergenceWarning,
            stacklevel=3,
        )
        vcov = _schur_vcov(m, state, pr)
    return FitOutput(beta, theta_abs, phi, f0, pr, state, H, g, vcov, nfev, tuple(messages), x)


# ----------------------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class GLMMResult:
    """An immutable fitted GLMM (see :func:`glmer`)."""

    formula: str
    family: Family
    link: Link
    nagq: int
    fixef: pd.Series
    se: pd.Series
    vcov: pd.DataFrame
    theta: pd.Series
    sigma: float
    varcorr: dict[str, pd.DataFrame]
    re_sd: dict[str, pd.Series]
    re_corr: dict[str, pd.DataFrame]
    loglik: float
    deviance: float
    nobs: int
    npar: int
    ngroups: dict[str, int]
    ranef: dict[str, RandomEffects]
    optinfo: dict[str, Any]
    _fitted: F64 = field(repr=False)
    _eta: F64 = field(repr=False)
    _y: F64 = field(repr=False)
    _wt: F64 = field(repr=False)
    _trials: F64 | None = field(repr=False)
    _offset: F64 = field(repr=False)
    _offset_arg: Any = field(repr=False)  # the offset= argument (column name, array or None)
    _index: pd.Index = field(repr=False)
    _design: GLMMDesign = field(repr=False)
    _options: GLMMOptions = field(repr=False)

    # -- information criteria
    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.npar

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + math.log(self.nobs) * self.npar

    @property
    def df_resid(self) -> int:
        return self.nobs - self.npar

    # -- fitted values and residuals (rows of the data used, in data order)
    def fitted(self) -> pd.Series:
        """Conditional means ``g⁻¹(η̂)`` with the predicted random effects (lme4's ``fitted``)."""
        return pd.Series(self._fitted, index=self._index, name="fitted")

    def residuals(self, kind: str = "deviance") -> pd.Series:
        """Residuals: ``deviance`` (lme4's default), ``pearson``, ``response`` or ``working``."""
        y, mu, wt = self._y, self._fitted, self._wt
        fam = self.family
        if kind == "response":
            r = y - mu
        elif kind == "pearson":
            r = (y - mu) * np.sqrt(wt / fam.variance(mu))
        elif kind == "deviance":
            d = np.maximum(fam.dev_resids(y, mu, wt), 0.0)
            r = np.sign(y - mu) * np.sqrt(d)
        elif kind == "working":
            r = (y - mu) / self.link.mu_eta(self._eta)
        else:
            raise ModelInputError(f"unknown residual kind {kind!r}; use deviance, pearson, response or working")
        return pd.Series(r, index=self._index, name=f"{kind} residuals")

    # -- prediction
    def predict(self, newdata: pd.DataFrame | None = None, re: bool = True, type: str = "link") -> pd.Series:
        """Predictions on the ``link`` or ``response`` scale; ``re=False`` leaves out the random
        effects; levels not seen in the fit get random effect 0 (lme4's ``allow.new.levels``)."""
        if type not in ("link", "response"):
            raise ModelInputError(f"type must be 'link' or 'response', got {type!r}")
        if newdata is None:
            eta = self._eta.copy()
            if not re:
                eta = self._design.X @ self.fixef.to_numpy() + self._offset
            index = self._index
        else:
            X, off = self._design.fixed_spec.matrix(newdata)
            eta = X @ self.fixef.to_numpy() + (0.0 if off is None else off)
            if isinstance(self._offset_arg, str):
                eta = eta + np.asarray(newdata[self._offset_arg], dtype=np.float64)
            elif self._offset_arg is not None:
                raise ModelInputError(
                    "the fit used an offset given as an array, which cannot be evaluated on newdata; "
                    "pass offset as a column name or write offset(...) in the formula"
                )
            if re:
                eta = eta + self._re_part(newdata)
            index = newdata.index
        out = eta if type == "link" else self.link.inverse(eta)
        return pd.Series(out, index=index, name=f"predicted ({type})")

    def _re_part(self, frame: pd.DataFrame) -> F64:
        total = np.zeros(len(frame))
        for term, key in zip(self._design.terms, self.ranef, strict=True):
            spec, idx = term.spec
            Xr = np.asarray(spec.get_model_matrix(frame), dtype=np.float64)[:, list(idx)]
            labels = group_labels(frame, group_columns(term.group))
            modes = self.ranef[key].modes
            lookup = modes.reindex(labels.to_numpy()).to_numpy()
            lookup = np.nan_to_num(lookup, nan=0.0)
            total += np.einsum("ij,ij->i", Xr, lookup)
        return total

    # -- simulation
    def simulate(self, n: int = 1, seed: int | None = None) -> pd.DataFrame:
        """``n`` new responses per row: new random effects ``u ~ N(0, I)``, then y | u from the
        family (lme4's ``simulate`` with ``use.u = FALSE``). Binomial: successes out of the trials."""
        from reference.simulate import draw_response

        rng = np.random.default_rng(seed)
        X = self._design.X
        fixed = X @ self.fixef.to_numpy()
        off = self._offset
        cols = {}
        for s in range(n):
            eta = fixed + off
            for term, key in zip(self._design.terms, self.ranef, strict=True):
                cov = self.varcorr[key].to_numpy()
                b = rng.multivariate_normal(np.zeros(term.p), cov, size=term.nlevels, method="cholesky")
                eta = eta + np.einsum("ij,ij->i", term.Xr, b[term.codes])
            mu = self.link.inverse(eta)
            cols[f"sim_{s + 1}"] = draw_response(rng, self.family, mu, trials=self._trials, phi=self.sigma**2)
        return pd.DataFrame(cols, index=self._index)

    def confint(self, method: str = "profile", level: float = 0.95, **kwargs: Any) -> pd.DataFrame:
        """Confidence intervals as lme4's ``confint(m, oldNames = FALSE)``: ``profile``, ``Wald`` or
        ``boot`` (see :func:`reference.inference.confint`)."""
        from reference.inference import confint

        return confint(self, method, level, **kwargs)

    # -- display
    def summary(self) -> str:
        """A text summary laid out like lme4's ``summary(glmer(...))``."""
        from reference.glmm_display import format_summary

        return format_summary(self)

    def __str__(self) -> str:
        return self.summary()


def build_result(formula: str, m: PreparedModel, fit: FitOutput, opts: GLMMOptions) -> GLMMResult:
    """The :class:`GLMMResult` of ``fit`` (β, SEs and vcov mapped back to the user's columns, random
    effects, conditional variances), with the convergence and degeneracy diagnostics warned."""
    design = m.design
    inv = np.empty_like(m.order)
    inv[m.order] = np.arange(m.order.size)
    names = list(design.fixed_names)
    # back from the internal design X A to the user's columns: β = A β*, Var β = A Var β* Aᵀ
    beta_user = m.scaling.beta_to_user(fit.beta)
    vcov_user = m.scaling.vcov_to_user(fit.vcov)
    fixef = pd.Series(beta_user, index=names, name="Estimate")
    with np.errstate(invalid="ignore"):  # a NaN or negative variance (degenerate fit) gives a NaN SE
        se = pd.Series(np.sqrt(np.diag(vcov_user)), index=names, name="Std. Error")
    vcov = pd.DataFrame(vcov_user, index=names, columns=names)
    sigma = math.sqrt(fit.phi) if m.free_phi else 1.0
    keys = term_keys([t.group for t in design.terms])
    # θ per term, ranef
    theta_names: list[str] = []
    theta_vals: list[float] = []
    varcorr: dict[str, pd.DataFrame] = {}
    re_sd: dict[str, pd.Series] = {}
    re_corr: dict[str, pd.DataFrame] = {}
    ranef: dict[str, RandomEffects] = {}
    pr = fit.pr
    k = 0
    uoff = 0
    condvar_blocks = _condvar(m, fit)
    for t_i, (t, key) in enumerate(zip(design.terms, keys, strict=True)):
        nt = t.p * (t.p + 1) // 2
        th = fit.theta_abs[k : k + nt]
        k += nt
        lam = theta_to_lambda(th, t.p)
        rows, cols_ = np.tril_indices(t.p)
        order = np.lexsort((rows, cols_))
        for r_, c_ in zip(rows[order], cols_[order], strict=True):
            theta_names.append(  # named by grouping factor, as lme4 (``(x || g)`` gives g.x, not g.1.x)
                f"{t.group}.{t.columns[r_]}" if r_ == c_ else f"{t.group}.{t.columns[r_]}.{t.columns[c_]}"
            )
        theta_vals.extend((th / sigma).tolist())
        cov = lam @ lam.T
        sd = np.sqrt(np.diag(cov))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = cov / np.outer(sd, sd)
        varcorr[key] = pd.DataFrame(cov, index=list(t.columns), columns=list(t.columns))
        re_sd[key] = pd.Series(sd, index=list(t.columns), name="Std.Dev.")
        re_corr[key] = pd.DataFrame(corr, index=list(t.columns), columns=list(t.columns))
        u_t = pr.u[uoff : uoff + t.nlevels * t.p].reshape(t.nlevels, t.p)
        uoff += t.nlevels * t.p
        b = u_t @ lam.T
        cv = lam[None, :, :] @ condvar_blocks[t_i] @ lam.T[None, :, :]
        ranef[key] = RandomEffects(
            pd.DataFrame(b, index=pd.Index(list(t.levels), name=t.group), columns=list(t.columns)), cv
        )
    npar = m.nb + m.ntheta + (1 if m.free_phi else 0)
    dev = fit.deviance
    grad = fit.gradient
    nb_x = m.nb if fit.hessian is not None else 0  # stage-2 parameters start with β
    x_user = fit.x.copy()
    grad_user = np.array(grad, dtype=np.float64)
    if nb_x:  # β as reported; the gradient transforms with A⁻ᵀ
        x_user[:nb_x] = beta_user
        grad_user[:nb_x] = np.linalg.solve(m.scaling.transform.T, grad[:nb_x])
    optinfo: dict[str, Any] = {
        "messages": fit.messages,
        "nfev": fit.nfev,
        "gradient": grad_user,
        "x": x_user,
        "singular": False,
        "warnings": [],
    }
    result = GLMMResult(
        formula=formula,
        family=m.family,
        link=m.link,
        nagq=m.nagq,
        fixef=fixef,
        se=se,
        vcov=vcov,
        theta=pd.Series(theta_vals, index=theta_names, name="theta"),
        sigma=sigma,
        varcorr=varcorr,
        re_sd=re_sd,
        re_corr=re_corr,
        loglik=-0.5 * dev,
        deviance=dev,
        nobs=int(m.order.size),
        npar=npar,
        ngroups={t.group: t.nlevels for t in design.terms},  # per grouping factor, as lme4's ngrps
        ranef=ranef,
        optinfo=optinfo,
        _fitted=pr.mu[inv],
        _eta=pr.eta[inv],
        _y=m.resp.y[inv],
        _wt=m.resp.wt[inv],
        _trials=None if m.trials is None else m.trials[inv],
        _offset=m.resp.offset[inv],
        _offset_arg=m.offset_arg,
        _index=design.rows,
        _design=design,
        _options=opts,
    )
    _diagnose(result, m, fit, opts)
    return result


def _condvar(m: PreparedModel, fit: FitOutput) -> list[F64]:
    """Per-term (levels, p, p) blocks of A⁻¹ = Var(u | y) (Laplace)."""
    fac = fit.pr.factor
    if isinstance(m.struct, BlockRE):
        return [fac.diag_inverse_blocks()]
    out = []
    s = m.struct
    for t, p in enumerate(s.ps):
        nl = s.nlevs[t]
        blocks = np.empty((nl, p, p))
        start = int(s.offsets[t])
        chunk = max(1, 512 // p)
        for lo in range(0, nl, chunk):
            hi = min(nl, lo + chunk)
            cols = np.arange(start + lo * p, start + hi * p)
            e = np.zeros((s.q, cols.size))
            e[cols, np.arange(cols.size)] = 1.0
            sol = fac.solve_mat(e)[cols, :]  # (cols, cols)
            for j in range(hi - lo):
                blocks[lo + j] = sol[j * p : (j + 1) * p, j * p : (j + 1) * p]
        out.append(blocks)
    return out


def _diagnose(result: GLMMResult, m: PreparedModel, fit: FitOutput, opts: GLMMOptions) -> None:
    msgs: list[str] = result.optinfo["warnings"]
    k = 0
    singular = False
    for p in m.term_ps:
        nt = p * (p + 1) // 2
        th = fit.theta_abs[k : k + nt] / result.sigma
        diag = theta_lower_bounds(p) == 0.0
        if np.any(np.abs(th[diag]) < opts.singular_tol):
            singular = True
        k += nt
    result.optinfo["singular"] = singular
    if singular:
        msgs.append(
            "boundary (singular) fit: a random-effect variance is estimated as 0 (or a correlation as ±1); "
            "simplify the random effects (drop the term, or the correlation with ||)"
        )
    if fit.hessian is not None:
        free = np.ones(fit.x.size, dtype=bool)
        nbt = m.nb + m.ntheta
        lower = np.concatenate(
            [np.full(m.nb, -np.inf), np.concatenate([theta_lower_bounds(p) for p in m.term_ps])]
        )
        free[:nbt] = ~(fit.x[:nbt] <= lower + opts.singular_tol)
        g = fit.gradient[free]
        H = fit.hessian[np.ix_(free, free)]
        try:
            scaled = np.linalg.solve(H, g)
            worst = float(np.max(np.abs(scaled))) if scaled.size else 0.0
        except np.linalg.LinAlgError:
            worst = math.inf
        result.optinfo["scaled_gradient_max"] = worst
        if worst > opts.grad_check_tol:
            msgs.append(
                f"model failed to converge: max|H⁻¹ gradient| = {worst:.3g} > {opts.grad_check_tol}; "
                "simplify the random effects, or tighten options"
            )
    msgs.extend(_degenerate_terms(result, m, opts))
    if _suspect_separation(m, fit):
        sep = separation_message(m)
        if sep is not None:
            msgs.append(sep)
    for msg in msgs:
        warnings.warn(msg, ConvergenceWarning, stacklevel=4)


#: links whose scale has no units of its own (log-odds, log-rates, …): there an SD of 10 is huge
_UNITLESS_LINKS = ("logit", "probit", "cauchit", "cloglog", "loglog", "log")


def _degenerate_terms(result: GLMMResult, m: PreparedModel, opts: GLMMOptions) -> list[str]:
    """Warnings for random-effect standard deviations above ``opts.huge_sd`` on the link scale
    (links without units only), with the share of the term's levels that have a single
    observation (such levels carry almost no information on their own effect, so the Laplace
    approximation for them is poor)."""
    out = []
    fractions: dict[str, float] = {}
    for t, key in zip(m.design.terms, result.re_sd, strict=True):
        counts = np.bincount(t.codes, minlength=t.nlevels)
        single = float(np.mean(counts == 1))
        fractions[key] = single
        sd = result.re_sd[key].to_numpy()
        if m.link.name not in _UNITLESS_LINKS or not np.any(sd > opts.huge_sd):
            continue
        worst = float(np.max(sd))
        note = (
            f"; {single:.0%} of its {t.nlevels} levels have a single observation, so their effects are "
            "barely identified" if single >= 0.5 else ""
        )
        out.append(
            f"degenerate fit: the random effects of {key} have a standard deviation of {worst:.3g} on the "
            f"{m.link.name} scale{note}; the optimum is unreliable (random effects that separate the "
            "outcomes): simplify the random effects or group more coarsely"
        )
    result.optinfo["single_observation_share"] = fractions
    return out


def _suspect_separation(m: PreparedModel, fit: FitOutput) -> bool:
    """True when a fixed effect other than the intercept is so large (over 10 on the link scale per
    standard deviation of its column) that separation should be checked for."""
    if m.family.name not in ("binomial", "poisson") or m.scaling.is_identity:
        return False
    slopes = np.delete(np.abs(fit.beta), [] if m.scaling.intercept is None else [m.scaling.intercept])
    return bool(slopes.size and np.max(slopes) > 10.0)


# ----------------------------------------------------------------------------- entry point


def glmer(
    formula: str,
    data: pd.DataFrame,
    family: str | Family,
    link: str | Link | None = None,
    trials: str | ArrayLike | None = None,
    weights: str | ArrayLike | None = None,
    offset: str | ArrayLike | None = None,
    nAGQ: int = 1,
    *,
    options: GLMMOptions | None = None,
    **option_overrides: Any,
) -> GLMMResult:
    """Fit a generalized linear mixed model like ``lme4::glmer``.

    Args:
        formula: lme4-style formula, e.g. ``"y ~ x + (1 | g)"``, ``"y ~ x + (1 + x | g)"``,
            ``"y ~ (1 | a/b)"``, ``"y ~ x + (1 | g) + (1 | h)"``.
        data: a DataFrame; rows with a missing value in a model column are dropped.
        family: ``"binomial"``, ``"poisson"``, ``"gaussian"``, ``"Gamma"``, … or a Family.
        link: any link the family allows (default: canonical).
        trials: binomial only — column name or array of numbers of trials; ``y`` then counts
            successes. Without it a binomial ``y`` is 0/1 (or use ``cbind(s, f)``).
        weights: prior weights (column name or array).
        offset: offset added to the linear predictor (column name or array).
        nAGQ: 0 (β inside PIRLS, fastest), 1 (Laplace, default) or up to 25 adaptive
            Gauss–Hermite nodes (one scalar random-effects term only).
        options: a :class:`GLMMOptions`; keyword overrides of its fields are accepted too.

    Returns:
        A :class:`GLMMResult`. Convergence problems that still give a fit are reported as
        :class:`~reference.errors.ConvergenceWarning`.

    Raises:
        FormulaError, GroupingFactorError, InvalidResponseError, NAGQError: bad input.
        ConvergenceError: the fit could not be completed.
    """
    opts = with_overrides(options or GLMMOptions(), option_overrides)
    if opts.gaussian_profiled and trials is None:
        fam = get_family(family)
        if fam.name == "gaussian" and fam.link_object(link).name == "identity":
            # the Laplace approximation is exact here, and σ² profiles out in closed form
            return glmer_gaussian(formula, data, weights=weights, offset=offset, nAGQ=nAGQ, options=opts)
    m = prepare_model(formula, data, family, link, trials, weights, offset, nAGQ, opts)
    with single_threaded_blas():
        fit = _fit(m, opts)
        return build_result(formula, m, fit, opts)


def glmer_gaussian(
    formula: str,
    data: pd.DataFrame,
    *,
    weights: str | ArrayLike | None = None,
    offset: str | ArrayLike | None = None,
    nAGQ: int = 1,
    options: GLMMOptions | None = None,
) -> GLMMResult:
    """``glmer(formula, data, family="gaussian")`` (identity link) by the fast profiled ML fit of
    :func:`reference.lmm.lmer` (``REML=False``).

    For the gaussian identity model the Laplace approximation and adaptive Gauss–Hermite
    quadrature are exact, and ``nAGQ = 0`` (β inside the penalised least squares) reaches the
    same optimum, so every ``nAGQ`` gives the ML linear mixed model. Returns a
    :class:`GLMMResult` with lme4's standard errors (σ² times the inverse of the fixed-effects
    Schur complement, as ``lmer``); ``options`` (a GLMMOptions) is only stored.
    """
    nagq = check_nagq(nAGQ)
    if nagq > 1 and len(parse_formula(formula).terms) != 1:
        raise NAGQError(NAGQ_MESSAGE)
    res = lmer(formula, data, REML=False, weights=weights, offset=offset)
    terms = res._design.terms
    if nagq > 1 and terms[0].p != 1:
        raise NAGQError(NAGQ_MESSAGE)
    family = get_family("gaussian")
    return GLMMResult(
        formula=formula,
        family=family,
        link=family.link_object("identity"),
        nagq=nagq,
        fixef=res.fixef,
        se=res.se,
        vcov=res.vcov,
        theta=res.theta,
        sigma=res.sigma,
        varcorr=res.varcorr,
        re_sd=res.re_sd,
        re_corr=res.re_corr,
        loglik=res.loglik,
        deviance=-2.0 * res.loglik,
        nobs=res.nobs,
        npar=res.npar,
        ngroups=dict(res.ngroups),
        ranef=res.ranef,
        optinfo={
            "messages": (f"profiled ML linear mixed model (reference.lmm): {res.optinfo['message']}",),
            "nfev": res.optinfo["nfev"],
            "singular": res.singular,
            "warnings": list(res.optinfo["warnings"]),
            "lmm": res.optinfo,
        },
        _fitted=res._fitted,
        _eta=res._fitted,
        _y=res._y,
        _wt=res._wt,
        _trials=None,
        _offset=res._offset,
        _offset_arg=res._offset_arg,
        _index=res._index,
        _design=res._design,
        _options=options if options is not None else GLMMOptions(),
    )


class DevianceFunction:
    """The objective of :func:`glmer` as a reusable callable (see :func:`glmer_deviance_function`).

    The formula, data and design are processed once; each call only runs PIRLS (warm-started
    from the previous call's conditional modes) and evaluates the deviance.
    """

    def __init__(self, m: PreparedModel, opts: GLMMOptions) -> None:
        self._m = m
        self._obj = _Objective(m, opts, joint=False, nagq=m.nagq)
        self.n_beta = m.nb
        self.n_theta = m.ntheta

    def __call__(self, beta: ArrayLike, theta: ArrayLike, phi: float = 1.0) -> float:
        """−2 log-likelihood at ``beta``, ``theta`` (lme4's order and relative scale) and ``phi``."""
        m = self._m
        beta_arr = np.asarray(beta, dtype=np.float64).reshape(-1)
        theta_arr = np.asarray(theta, dtype=np.float64).reshape(-1)
        if beta_arr.size != m.nb or theta_arr.size != m.ntheta:
            raise ModelInputError(
                f"expected {m.nb} fixed effects and {m.ntheta} theta values, got {beta_arr.size} and {theta_arr.size}"
            )
        if not phi > 0:
            raise ModelInputError(f"phi must be positive, got {phi}")
        scale = math.sqrt(phi) if m.free_phi else 1.0
        beta_int = m.scaling.beta_to_internal(beta_arr)
        x = np.concatenate([beta_int, theta_arr * scale, [math.log(phi)] if m.free_phi else []])
        with single_threaded_blas():
            return self._obj(x)


def glmer_deviance_function(
    formula: str,
    data: pd.DataFrame,
    family: str | Family,
    *,
    link: str | Link | None = None,
    trials: str | ArrayLike | None = None,
    weights: str | ArrayLike | None = None,
    offset: str | ArrayLike | None = None,
    nAGQ: int = 1,
    options: GLMMOptions | None = None,
) -> DevianceFunction:
    """The objective of :func:`glmer` as a function ``f(beta, theta, phi=1.0) -> float``.

    Same arguments and meaning as :func:`glmer_deviance`, but the model is set up once, so the
    function is cheap to call many times (profiling, checking the optimum, plotting).
    """
    opts = options or GLMMOptions()
    m = prepare_model(formula, data, family, link, trials, weights, offset, max(int(nAGQ), 1), opts)
    return DevianceFunction(m, opts)


def glmer_deviance(
    formula: str,
    data: pd.DataFrame,
    family: str | Family,
    beta: ArrayLike,
    theta: ArrayLike,
    *,
    phi: float = 1.0,
    link: str | Link | None = None,
    trials: str | ArrayLike | None = None,
    weights: str | ArrayLike | None = None,
    offset: str | ArrayLike | None = None,
    nAGQ: int = 1,
    options: GLMMOptions | None = None,
) -> float:
    """The objective of :func:`glmer` (−2 log-likelihood) at given parameters, without fitting.

    ``beta`` in the order of the fixed-effects columns, ``theta`` in lme4's order and scale
    (relative to σ = √φ for families with a dispersion, which then needs ``phi``). Laplace for
    ``nAGQ=1``, adaptive Gauss–Hermite with ``nAGQ`` nodes for one scalar term. Useful for
    profiling and for checking the approximation against direct numerical integration; for
    many evaluations use :func:`glmer_deviance_function`.
    """
    f = glmer_deviance_function(
        formula, data, family, link=link, trials=trials, weights=weights, offset=offset, nAGQ=nAGQ, options=options
    )
    return f(beta, theta, phi)
