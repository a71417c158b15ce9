"""Profile-likelihood confidence intervals (lme4's ``confint(profile(m))``, MASS's for a GLM).

For a parameter ψ of the fit, the profile is ``ζ(v) = sign(v − ψ̂) √(D(v) − D̂)``, where
``D(v)`` is the smallest deviance with ψ held at ``v`` and every other parameter optimised,
and ``D̂`` the deviance at the estimate. The interval at level ``1 − α`` is where ``|ζ|`` stays
below the normal quantile ``z = Φ⁻¹(1 − α/2)``. lme4 tabulates ζ on a grid and interpolates
with splines; here each limit is found directly as the root of ``ζ(v) = ±z`` (secant steps to
bracket it, then Brent's method), so the limits are exact up to the optimiser's tolerance.

Parameters, as lme4 (``prof.scale = "sdcor"``): the random-effect standard deviations and
correlations of each term (θ's column-wise order), σ for ``lmer``, then the fixed effects.

* ``glmer`` (families without a dispersion): D is the Laplace / adaptive Gauss–Hermite deviance
  of the fit (:func:`reference.glmm.glmer_deviance_function`) over (sd, cor, β); all others are
  re-optimised by bounded quasi-Newton steps (sd ≥ 0, |cor| ≤ 1). lme4 cannot profile GLMMs
  with an estimated scale, nor can this module (use Wald or bootstrap intervals there).
* ``lmer``: always the ML deviance (a REML fit is refitted by ML first, as lme4's profile does).
  For the variance parameters ``D(sd, cor, σ) = log|L|² − Σ log wᵢ + r²(θ)/σ² + n log(2πσ²)``
  with β profiled out and ``θ = chol(Σ)/σ``; for a fixed effect βⱼ held at ``b`` the penalised
  residual sum of squares is ``r²(θ) + (b − β̂ⱼ(θ))² / [S_XX⁻¹]ⱼⱼ`` (exact: r² is quadratic in β),
  σ is profiled in closed form, and θ is re-optimised.
* ``glm``: MASS's profile — the model refitted with βⱼ as an offset, ``ζ = sign · √(ΔD / φ)``
  with φ the dispersion of ``summary`` (1 for binomial and Poisson).

A standard deviation whose profile stays below ``z`` all the way to 0 gets the lower limit 0
(a correlation: ±1), as lme4 reports for such boundary profiles.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize, stats

from reference.errors import ConvergenceError
from reference.glm import GLMResult, glm_fit
from reference.glmm import GLMMResult
from reference.glmm_re import single_threaded_blas
from reference.inference import (
    InferenceError,
    _glmer_call,
    _lmer_call,
    _ml,
    _n_jobs,
    parameter_estimates,
    percent_labels,
    run_parallel,
)
from reference.lmm import LMMResult

__all__ = ["profile_confint"]

F64 = NDArray[np.float64]
LOG_2PI = math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------- sd/cor <-> θ


def _term_layout(ps: list[int]) -> list[tuple[int, int, int, int]]:
    """Per vector entry: (term, row, col, start of the term) in θ's column-wise order."""
    out = []
    start = 0
    for t, p in enumerate(ps):
        for c in range(p):
            for r in range(c, p):
                out.append((t, r, c, start))
        start += p * (p + 1) // 2
    return out


def sdcor_to_theta(v: F64, ps: list[int]) -> F64 | None:
    """θ (column-wise lower Cholesky entries) from standard deviations and correlations laid out
    the same way; None when the correlations do not form a positive semi-definite matrix."""
    out = np.empty(v.size)
    pos = 0
    for p in ps:
        n = p * (p + 1) // 2
        block = v[pos : pos + n]
        if p == 1:
            out[pos] = block[0]
        else:
            sd = np.empty(p)
            corr = np.eye(p)
            k = 0
            for c in range(p):
                for r in range(c, p):
                    if r == c:
                        sd[r] = block[k]
                    else:
                        corr[r, c] = corr[c, r] = block[k]
                    k += 1
            try:
                chol = np.linalg.cholesky(corr)
            except np.linalg.LinAlgError:
                return None
            lam = sd[:, None] * chol
            k = 0
            for c in range(p):
                for r in range(c, p):
                    out[pos + k] = lam[r, c]
                    k += 1
        pos += n
    return out


def _sdcor_bounds(ps: list[int]) -> tuple[F64, F64]:
    lo, hi = [], []
    for _t, r, c, _s in _term_layout(ps):
        lo.append(0.0 if r == c else -1.0)
        hi.append(math.inf if r == c else 1.0)
    return np.array(lo), np.array(hi)


# ----------------------------------------------------------------------------- problems


@dataclass
class _Problem:
    """A deviance over named parameters, with bounds, and the inner minimisation."""

    names: list[str]
    est: F64
    lower: F64
    upper: F64
    scale: F64  # typical size of a step of each parameter (for secant starts and the optimiser)
    base: float = math.nan
    lowest: float = math.inf  # the smallest deviance any profile point reached
    starts: dict[int, list[tuple[float, F64]]] = field(default_factory=dict)

    def deviance_at(self, j: int, value: float, start: F64 | None) -> tuple[float, F64]:
        raise NotImplementedError

    def _minimise(self, f: Any, x0: F64, lo: F64, hi: F64, scale: F64) -> tuple[float, F64]:
        """Minimise f over a box, in units of ``scale`` (L-BFGS-B with finite-difference gradients)."""
        if x0.size == 0:
            return float(f(x0)), x0
        s = np.where(scale > 0, scale, 1.0)

        def g(z: F64) -> float:
            val = f(z * s)
            return val if math.isfinite(val) else 1e300

        bounds = list(zip(lo / s, hi / s, strict=True))
        # the deviance is even in each standard deviation, so 0 is a stationary point whether or not
        # it is a minimum: a start there (a warm start from a boundary solution) would never leave it
        x0 = np.where((lo == 0.0) & (x0 < 0.05 * s), s, x0)
        z = np.clip(x0 / s, lo / s, hi / s)
        opts = {"ftol": 1e-13, "gtol": 1e-8, "maxiter": 500}
        res = optimize.minimize(g, z, method="L-BFGS-B", bounds=bounds, options=opts)
        best, z = float(res.fun), res.x
        if not res.success:  # stopped by its line search far from the optimum: one restart polishes
            res = optimize.minimize(g, z, method="L-BFGS-B", bounds=bounds, options=opts)
            if res.fun < best:
                best, z = float(res.fun), res.x
        return best, z * s


class _GlmerProblem(_Problem):
    def __init__(self, fit: GLMMResult) -> None:
        from reference.glmm import glmer_deviance_function

        if not fit.family.fixed_dispersion:
            raise InferenceError(
                f"profile intervals for a {fit.family.name} GLMM (estimated dispersion) are not available, as in lme4; "
                "use method='Wald' or 'boot' (or lmer for a gaussian model)"
            )
        if fit.nagq == 0:
            raise InferenceError(
                "profile intervals need the Laplace (or AGQ) deviance at its optimum, and an nAGQ=0 fit is not "
                "there; refit with nAGQ=1 (or use method='Wald' or 'boot')"
            )
        formula, data, kw = _glmer_call(fit, None)
        self.devfun = glmer_deviance_function(formula, data, **kw)
        self.ps = [t.p for t in fit._design.terms]
        est = parameter_estimates(fit)
        nv = sum(p * (p + 1) // 2 for p in self.ps)
        lo_v, hi_v = _sdcor_bounds(self.ps)
        nb = fit.fixef.size
        scale = np.concatenate([np.maximum(np.abs(est.to_numpy()[:nv]), 0.1) * 0.25, fit.se.to_numpy()])
        super().__init__(
            names=list(est.index), est=est.to_numpy(), lower=np.concatenate([lo_v, np.full(nb, -np.inf)]),
            upper=np.concatenate([hi_v, np.full(nb, np.inf)]), scale=scale,
        )
        self.nv = nv
        self.base = self.full_deviance(self.est)

    def full_deviance(self, x: F64) -> float:
        theta = sdcor_to_theta(x[: self.nv], self.ps)
        if theta is None:
            return math.inf
        try:
            return float(self.devfun(x[self.nv :], theta))
        except (ConvergenceError, np.linalg.LinAlgError, FloatingPointError):
            return math.inf

    def deviance_at(self, j: int, value: float, start: F64 | None) -> tuple[float, F64]:
        free = np.arange(self.est.size) != j
        x = self.est.copy()
        x[j] = value

        def f(z: F64) -> float:
            x[free] = z
            return self.full_deviance(x)

        x0 = self.est[free] if start is None else start
        return self._minimise(f, x0, self.lower[free], self.upper[free], self.scale[free])


class _LmerProblem(_Problem):
    def __init__(self, fit: LMMResult) -> None:
        from reference.lmm import _LMM, LMMOptions

        ml = _ml(fit)
        formula, data, kw = _lmer_call(ml, None)
        self.model = _LMM(formula, data, False, kw.get("weights"), kw.get("offset"), LMMOptions())
        self.ps = list(self.model.term_ps)
        est = parameter_estimates(ml)
        nv = sum(p * (p + 1) // 2 for p in self.ps)
        lo_v, hi_v = _sdcor_bounds(self.ps)
        nb = ml.fixef.size
        scale = np.concatenate([np.maximum(np.abs(est.to_numpy()[: nv + 1]), 1e-3) * 0.25, ml.se.to_numpy()])
        super().__init__(
            names=list(est.index), est=est.to_numpy(),
            lower=np.concatenate([lo_v, [1e-10 * ml.sigma], np.full(nb, -np.inf)]),
            upper=np.concatenate([hi_v, [np.inf], np.full(nb, np.inf)]), scale=scale,
        )
        self.nv = nv
        self.theta_hat = ml.theta.to_numpy()
        self.base = self.variance_deviance(self.est[: nv + 1])

    def _eval(self, theta: F64) -> Any:
        try:
            return self.model.evaluate(theta)
        except np.linalg.LinAlgError:
            return None

    def variance_deviance(self, v: F64) -> float:
        """ML deviance at (sd, cor, σ) with β profiled out (lme4's devfun2)."""
        m = self.model
        sigma = v[self.nv]
        theta = sdcor_to_theta(v[: self.nv], self.ps)
        if theta is None or not sigma > 0:
            return math.inf
        ev = self._eval(theta / sigma)
        if ev is None:
            return math.inf
        _ldrx, r2 = m.pieces(ev)
        return float(ev.ldL2 - m.ldW + r2 / sigma**2 + m.n * (LOG_2PI + 2.0 * math.log(sigma)))

    def fixed_deviance(self, k: int, b: float, theta: F64) -> float:
        """ML deviance with βₖ = b, the other β and σ profiled out, at θ."""
        m = self.model
        ev = self._eval(theta)
        if ev is None:
            return math.inf
        _ldrx, r2 = m.pieces(ev)
        beta = m.beta(ev)
        lx = ev.ls[: m.k, : m.k]
        e = np.zeros(m.k)
        e[k] = 1.0
        vkk = float(np.sum(np.linalg.solve(lx, e) ** 2))  # [S_XX⁻¹]ₖₖ with S_XX = Lx Lxᵀ
        r2k = r2 + (b - beta[k]) ** 2 / vkk
        return float(ev.ldL2 - m.ldW + m.n * (1.0 + LOG_2PI + math.log(r2k / m.n)))

    def deviance_at(self, j: int, value: float, start: F64 | None) -> tuple[float, F64]:
        nvs = self.nv + 1
        if j < nvs:
            free = np.arange(nvs) != j
            v = self.est[:nvs].copy()
            v[j] = value

            def f(z: F64) -> float:
                v[free] = z
                return self.variance_deviance(v)

            x0 = self.est[:nvs][free] if start is None else start
            return self._minimise(f, x0, self.lower[:nvs][free], self.upper[:nvs][free], self.scale[:nvs][free])
        k = j - nvs
        x0 = self.theta_hat if start is None else start
        return self._minimise(
            lambda th: self.fixed_deviance(k, value, th), x0, self.model.lower, np.full(x0.size, np.inf),
            np.maximum(np.abs(self.theta_hat), 0.05) * 0.25,
        )


class _GlmProblem(_Problem):
    def __init__(self, fit: GLMResult) -> None:
        if fit.model_matrix is None:
            raise InferenceError("this GLMResult does not keep its model matrix; fit it with reference.glm or glm_fit")
        if not np.all(np.isfinite(fit.coef_values)):
            raise InferenceError("the GLM has aliased (NA) coefficients; drop the redundant predictors to profile it")
        self.fit = fit
        est = np.asarray(fit.coef_values, dtype=np.float64)
        super().__init__(
            names=list(fit.names), est=est, lower=np.full(est.size, -np.inf), upper=np.full(est.size, np.inf),
            scale=np.asarray(fit.se_values, dtype=np.float64),
        )
        self.base = float(fit.deviance)

    def deviance_at(self, j: int, value: float, start: F64 | None) -> tuple[float, F64]:
        fit = self.fit
        X = np.asarray(fit.model_matrix)
        keep = np.arange(X.shape[1]) != j
        off = np.asarray(fit.offset) + X[:, j] * value
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sub = glm_fit(
                X[:, keep], fit.y, fit.family, fit.link, offset=off, weights=fit.prior_weights,
                intercept=fit.has_intercept, start=start, dispersion=fit.dispersion,
            )
        dev = (sub.deviance - self.base) / fit.dispersion + self.base
        return float(dev), np.asarray(sub.coef_values, dtype=np.float64)


# ----------------------------------------------------------------------------- limits


def _zeta(problem: _Problem, j: int, value: float) -> float:
    """Signed root of the deviance increase with parameter ``j`` at ``value`` (warm-started)."""
    known = problem.starts.setdefault(j, [])
    start = min(known, key=lambda kv: abs(kv[0] - value))[1] if known else None
    dev, x = problem.deviance_at(j, value, start)
    if math.isfinite(dev):
        known.append((value, x))
        problem.lowest = min(problem.lowest, dev)
    diff = dev - problem.base
    if not math.isfinite(diff):
        return math.copysign(math.inf, value - problem.est[j])
    return math.copysign(math.sqrt(max(diff, 0.0)), value - problem.est[j])


def _limit(problem: _Problem, j: int, z: float, direction: int) -> float:
    """The value on one side of the estimate where ζ = direction · z (or the bound)."""
    est = problem.est[j]
    bound = problem.upper[j] if direction > 0 else problem.lower[j]
    if est == bound:
        return est
    target = direction * z
    h = problem.scale[j] if problem.scale[j] > 0 else max(abs(est), 1.0) * 0.1
    prev_v, prev_z = est, 0.0
    v = est + direction * h
    for _ in range(60):
        if (v - bound) * direction >= 0:
            v = bound
        zv = _zeta(problem, j, v)
        if direction * zv >= z:
            if not math.isfinite(zv):  # the deviance is undefined here: halve back towards the last point
                v = 0.5 * (v + prev_v)
                continue
            tol = 1e-4 * (problem.scale[j] if problem.scale[j] > 0 else max(abs(est), 1e-8))
            return float(optimize.brentq(lambda x: _zeta(problem, j, x) - target, prev_v, v, xtol=tol, rtol=1e-10))
        if v == bound:
            return float(bound)
        # secant towards the target through the last two points, at least 20 % and at most 4 × further
        slope = (zv - prev_z) / (v - prev_v) if v != prev_v else 0.0
        step = (target - zv) / slope if slope * direction > 0 else 4.0 * (v - est)
        step = direction * min(max(abs(step) * 1.1, 0.2 * abs(v - est)), 4.0 * abs(v - est))
        prev_v, prev_z = v, zv
        v = v + step
    raise ConvergenceError(f"the profile of {problem.names[j]} did not reach the confidence limit; check the fit")


@dataclass(frozen=True)
class _LimitsTask:
    """Both limits of one parameter (a picklable unit of work for the worker processes)."""

    problem: _Problem
    z: float

    def __call__(self, j: int) -> tuple[float, float, float]:
        """(lower, upper, the lowest deviance met on the way)."""
        lo, hi = _limit(self.problem, j, self.z, -1), _limit(self.problem, j, self.z, +1)
        return lo, hi, self.problem.lowest


def _problem_for(fit: Any) -> _Problem:
    if isinstance(fit, GLMResult):
        return _GlmProblem(fit)
    if isinstance(fit, LMMResult):
        return _LmerProblem(fit)
    return _GlmerProblem(fit)


def profile_confint(fit: Any, level: float = 0.95, *, jobs: int = 1, progress: bool | None = None) -> pd.DataFrame:
    """Profile-likelihood intervals for every parameter (see the module docstring), as a DataFrame
    indexed by parameter with R's percent column names."""
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    with single_threaded_blas():  # small matrices: BLAS threads only cost time (see glmm_re)
        problem = _problem_for(fit)
        task = _LimitsTask(problem, z)
        out = run_parallel(task, list(range(len(problem.names))), _n_jobs(jobs), "profile", progress)
    lo = np.array([np.nan if v is None else v[0] for v, _ in out])
    hi = np.array([np.nan if v is None else v[1] for v, _ in out])
    bad = [problem.names[i] for i, (v, _) in enumerate(out) if v is None]
    if bad:
        warnings.warn(f"the profile failed for {', '.join(bad)}; those limits are NaN", UserWarning, stacklevel=3)
    lowest = min([v[2] for v, _ in out if v is not None], default=math.inf)
    if lowest < problem.base - 1e-3:
        warnings.warn(
            f"the profile reached a deviance {problem.base - lowest:.3g} below the fit's: the fit is not at "
            "its optimum, so the intervals are too narrow; refit (tighter options, other starting values)",
            UserWarning,
            stacklevel=3,
        )
    labels = percent_labels(level)
    res = pd.DataFrame({labels[0]: lo, labels[1]: hi}, index=pd.Index(problem.names))
    res.attrs["deviance"] = problem.base
    return res
