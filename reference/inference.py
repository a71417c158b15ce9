"""Inference for fitted models: likelihood-ratio tables, Wald and bootstrap intervals, the
parametric-bootstrap likelihood-ratio test.

* :func:`anova` — lme4's ``anova(m0, m1, ...)`` for ``glm``, ``glmer`` and ``lmer`` fits: one row
  per model ordered by the number of parameters, χ² tests between consecutive rows. REML
  ``lmer`` fits are refitted by maximum likelihood first (as lme4), and a test of a variance
  component on its boundary (0) carries a note with the 50:50 χ² mixture p-value.
* :func:`confint` — intervals by profile likelihood (:mod:`reference.profile`), Wald (fixed
  effects only, as lme4) or parametric bootstrap (percentile), named as lme4's
  ``confint(m, oldNames = FALSE)``: ``sd_(Intercept)|g``, ``cor_x.(Intercept)|g``, ``sigma``,
  then the fixed effects. Fits expose it as ``fit.confint(...)``.
* :func:`bootstrap_lrt` — pbkrtest's ``PBmodcomp``: simulate from the smaller model, refit
  both, compare the observed statistic with the simulated ones.

Bootstrap replicates run in worker processes (``jobs``); replicate ``i`` always draws from the
``i``-th child of ``numpy.random.SeedSequence(seed)``, so results do not depend on ``jobs``.
A progress bar goes to stderr when it is a terminal.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from reference.errors import ConvergenceError, ModelInputError
from reference.glm import GLMResult, glm_fit
from reference.glmm import GLMMResult
from reference.lmm import LMMResult

__all__ = [
    "BootstrapLRT",
    "BoundaryTestWarning",
    "InferenceError",
    "RefitNote",
    "anova",
    "bootstrap_lrt",
    "confint",
    "parameter_estimates",
    "percent_labels",
    "refit",
    "simulate_glm",
    "simulate_lmm",
]

F64 = NDArray[np.float64]
Fit = GLMResult | GLMMResult | LMMResult

RESPONSE_COLUMN = "y_bootstrap_"


class InferenceError(ModelInputError):
    """Models cannot be compared or a method does not apply to a fit; the message says why."""


class RefitNote(UserWarning):
    """Information, not a problem: REML fits were refitted by maximum likelihood (as lme4 says)."""


class BoundaryTestWarning(UserWarning):
    """A likelihood-ratio test puts a variance on its boundary 0, so the χ² p-value is conservative."""


# ----------------------------------------------------------------------------- fits


def _check_fit(fit: Any, what: str = "fit") -> None:
    from reference.glmm_nb import NBGLMMResult

    if isinstance(fit, NBGLMMResult):
        raise InferenceError(
            f"{what} is a glmer_nb fit, whose shape k is estimated; inference is available for glm, glmer and "
            "lmer fits (fit glmer with family=NegativeBinomial(k) at the estimated k instead)"
        )
    if not isinstance(fit, GLMResult | GLMMResult | LMMResult):
        raise InferenceError(
            f"{what} is a {type(fit).__name__}; pass results of reference.glm, reference.glmer or reference.lmer"
        )


def _response(fit: Fit) -> F64:
    """The response as fitted (binomial: proportion of successes)."""
    return np.asarray(fit.y if isinstance(fit, GLMResult) else fit._y, dtype=np.float64)


def _n_sd(fit: Fit) -> int:
    """Number of random-effect standard deviations (variance components)."""
    return 0 if isinstance(fit, GLMResult) else sum(t.p for t in fit._design.terms)


def _npar(fit: Fit) -> int:
    return int(fit.df_loglik) if isinstance(fit, GLMResult) else int(fit.npar)


def _rhs(formula: str) -> str:
    return formula.split("~", 1)[1]


def _glmer_call(fit: GLMMResult, y: F64 | None) -> tuple[str, pd.DataFrame, dict[str, Any]]:
    """Formula, data and keyword arguments that refit ``fit`` (with response ``y`` as fitted)."""
    design = fit._design
    data = design.data
    trials = fit._trials
    formula = fit.formula
    kw: dict[str, Any] = {}
    if y is not None:
        data = data.copy()
        counts = y if trials is None else np.round(y * trials)
        data[RESPONSE_COLUMN] = counts
        formula = f"{RESPONSE_COLUMN} ~{_rhs(fit.formula)}"
        if trials is not None:
            kw["trials"] = trials
    elif trials is not None and design.trials is None:
        kw["trials"] = trials
    prior = fit._wt / (1.0 if trials is None else trials)
    if np.any(prior != 1.0):
        kw["weights"] = prior
    off = fit._offset - (0.0 if design.offset is None else design.offset)
    if np.any(off != 0.0):
        kw["offset"] = off
    kw.update(family=fit.family, link=fit.link, nAGQ=fit.nagq, options=fit._options)
    return formula, data, kw


def _lmer_call(fit: LMMResult, y: F64 | None) -> tuple[str, pd.DataFrame, dict[str, Any]]:
    design = fit._design
    data = design.data
    formula = fit.formula
    if y is not None:
        data = data.copy()
        data[RESPONSE_COLUMN] = y
        formula = f"{RESPONSE_COLUMN} ~{_rhs(fit.formula)}"
    kw: dict[str, Any] = {}
    if not np.all(fit._wt == 1.0):
        kw["weights"] = fit._wt
    off = fit._offset - (0.0 if design.offset is None else design.offset)
    if np.any(off != 0.0):
        kw["offset"] = off
    return formula, data, kw


def refit(fit: Fit, y: Any = None, *, reml: bool | None = None) -> Fit:
    """The same model fitted again, to a new response ``y`` (on the scale as fitted: binomial
    proportions; ``None`` keeps the data's) and, for ``lmer`` fits, with ``reml`` changed.

    Weights, offsets and trials are those of ``fit``; the data are the rows ``fit`` used.
    """
    _check_fit(fit)
    y_arr = None if y is None else np.asarray(y, dtype=np.float64).reshape(-1)
    if y_arr is not None and y_arr.size != fit.nobs:
        raise InferenceError(f"the new response has {y_arr.size} values but the fit has {fit.nobs} observations")
    if isinstance(fit, GLMResult):
        if fit.model_matrix is None:
            raise InferenceError("this GLMResult does not keep its model matrix; fit it with reference.glm or glm_fit")
        yy = fit.y if y_arr is None else y_arr
        offset = fit.offset if np.any(fit.offset != 0.0) else None
        return glm_fit(
            fit.model_matrix, yy, fit.family, fit.link, offset=offset, weights=fit.prior_weights, names=fit.names,
            intercept=fit.has_intercept,
        )
    if isinstance(fit, LMMResult):
        from reference.lmm import lmer

        formula, data, kw = _lmer_call(fit, y_arr)
        return lmer(formula, data, REML=fit.reml if reml is None else reml, **kw)
    from reference.glmm import glmer

    formula, data, kw = _glmer_call(fit, y_arr)
    return glmer(formula, data, **kw)


def _ml(fit: Fit) -> Fit:
    """An ML version of the fit (REML lmer fits refitted quietly)."""
    if isinstance(fit, LMMResult) and fit.reml:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return refit(fit, reml=False)
    return fit


# ----------------------------------------------------------------------------- simulation


def simulate_lmm(fit: LMMResult, n: int = 1, seed: int | np.random.SeedSequence | None = None) -> pd.DataFrame:
    """``n`` new responses from a fitted ``lmer`` model: new random effects from the estimated
    covariance, then ``y = offset + Xβ̂ + Zb + ε`` with ``ε ~ N(0, σ̂²/w)`` (lme4's ``simulate``)."""
    rng = np.random.default_rng(seed)
    design = fit._design
    fixed = design.X @ fit.fixef.to_numpy() + fit._offset
    sd = fit.sigma / np.sqrt(fit._wt)
    cols = {}
    for s in range(int(n)):
        y = fixed.copy()
        for term, key in zip(design.terms, fit.varcorr, strict=True):
            cov = fit.varcorr[key].to_numpy()
            vals, vecs = np.linalg.eigh(cov)
            root = vecs * np.sqrt(np.clip(vals, 0.0, None))
            b = rng.standard_normal((term.nlevels, term.p)) @ root.T
            y = y + np.einsum("ij,ij->i", term.Xr, b[term.codes])
        cols[f"sim_{s + 1}"] = y + rng.standard_normal(y.size) * sd
    return pd.DataFrame(cols, index=fit._index)


def simulate_glm(fit: GLMResult, n: int = 1, seed: int | np.random.SeedSequence | None = None) -> pd.DataFrame:
    """``n`` new responses from a fitted GLM at its fitted means, on the scale as fitted: binomial
    proportions (successes drawn out of the prior weights, i.e. the trials), gaussian with
    variance ``dispersion / weight``, other families as :func:`reference.simulate.draw_response`
    with the estimated dispersion."""
    from reference.simulate import draw_response

    rng = np.random.default_rng(seed)
    mu = np.asarray(fit.fitted, dtype=np.float64)
    w = np.asarray(fit.prior_weights, dtype=np.float64)
    cols = {}
    for s in range(int(n)):
        name = fit.family.name
        if name == "binomial":
            trials = np.round(w)
            y = np.divide(rng.binomial(trials.astype(np.int64), mu), trials, out=np.zeros_like(mu), where=trials > 0)
        elif name == "gaussian":
            y = rng.normal(mu, np.sqrt(fit.dispersion / np.where(w > 0, w, np.inf)))
        else:
            y = draw_response(rng, fit.family, mu, phi=fit.dispersion)
        cols[f"sim_{s + 1}"] = y
    return pd.DataFrame(cols)


def _simulate_one(fit: Fit, seed: np.random.SeedSequence) -> F64:
    """One simulated response on the scale as fitted."""
    if isinstance(fit, GLMResult):
        return simulate_glm(fit, 1, seed).iloc[:, 0].to_numpy()
    if isinstance(fit, LMMResult):
        return simulate_lmm(fit, 1, seed).iloc[:, 0].to_numpy()
    y = fit.simulate(1, seed).iloc[:, 0].to_numpy()
    return y if fit._trials is None else y / fit._trials


# ----------------------------------------------------------------------------- anova


def _same_data(fits: Sequence[Fit], names: Sequence[str]) -> None:
    n0, y0 = fits[0].nobs, _response(fits[0])
    for fit, name in zip(fits[1:], names[1:], strict=True):
        if fit.nobs != n0:
            raise InferenceError(
                f"models were not fitted to the same data: {name} has {fit.nobs} observations, {names[0]} has {n0}; "
                "fit every model to the same rows (drop rows with missing values first)"
            )
        if not np.allclose(_response(fit), y0, rtol=1e-10, atol=1e-12):
            raise InferenceError(
                f"models were not fitted to the same data: the response of {name} differs from that of {names[0]}; "
                "compare models of the same response on the same rows"
            )


def _mixture_p(chisq: float, df: int) -> float:
    """P-value of the 50:50 mixture of χ²(df−1) and χ²(df) (χ²₀ is a point mass at 0)."""
    upper = float(stats.chi2.sf(chisq, df))
    lower = float(stats.chi2.sf(chisq, df - 1)) if df > 1 else (0.0 if chisq > 0 else 1.0)
    return 0.5 * (upper + lower)


def anova(*fits: Fit, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Likelihood-ratio comparison of nested models, as lme4's ``anova(m0, m1, ...)``.

    Args:
        *fits: two or more fits of the same response on the same rows (``reference.glm``,
            ``reference.glmer``, ``reference.lmer``; a GLM can be the smallest model).
        names: row labels (default ``m1``, ``m2``, … in the order given).

    Returns:
        A DataFrame with one row per model, ordered by the number of parameters, and columns
        ``npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq)`` (NaN on the first row).
        ``Chisq`` is 2 × the gain in log-likelihood over the previous row (0 if negative).
        ``attrs["notes"]`` lists what the reader should know (ML refits, boundary tests);
        ``attrs["boundary_p"]`` maps a row testing one more variance component to the p-value
        from the 50:50 mixture of χ²(Df−1) and χ²(Df) (χ²₀:χ²₁ for a single variance).

    Raises:
        InferenceError: fewer than two fits, an unsupported fit, or fits to different data.
    """
    if len(fits) < 2:
        raise InferenceError("anova needs at least two fitted models to compare, e.g. anova(fit0, fit1)")
    labels = list(names) if names is not None else [f"m{i + 1}" for i in range(len(fits))]
    if len(labels) != len(fits) or len(set(labels)) != len(labels):
        raise InferenceError(f"give one distinct name per model: {len(fits)} models, names {labels}")
    for fit, label in zip(fits, labels, strict=True):
        _check_fit(fit, label)
    _same_data(fits, labels)
    notes: list[str] = []
    refitted = [lab for fit, lab in zip(fits, labels, strict=True) if isinstance(fit, LMMResult) and fit.reml]
    if refitted:
        notes.append(f"refitting model(s) with ML (instead of REML): {', '.join(refitted)}")
        warnings.warn(notes[-1], RefitNote, stacklevel=2)
    ml = [_ml(f) for f in fits]
    order = sorted(range(len(fits)), key=lambda i: _npar(ml[i]))  # stable: ties keep the given order
    rows = []
    boundary_p: dict[str, float] = {}
    prev: Fit | None = None
    for i in order:
        fit = ml[i]
        ll = float(fit.loglik)
        npar = _npar(fit)
        row = {
            "npar": npar,
            "AIC": -2.0 * ll + 2.0 * npar,
            "BIC": -2.0 * ll + math.log(fit.nobs) * npar,
            "logLik": ll,
            "deviance": -2.0 * ll,
            "Chisq": math.nan,
            "Df": math.nan,
            "Pr(>Chisq)": math.nan,
        }
        if prev is not None:
            chisq = max(0.0, 2.0 * (ll - float(prev.loglik)))
            df = npar - _npar(prev)
            row["Chisq"], row["Df"] = chisq, df
            row["Pr(>Chisq)"] = float(stats.chi2.sf(chisq, df)) if df > 0 else math.nan
            added = _n_sd(fit) - _n_sd(prev)
            if added > 0 and df > 0:
                text = (
                    f"{labels[i]} adds {added} variance component(s) tested on the boundary (variance 0): the "
                    "chi-square p-value is conservative (too large)"
                )
                same_fixed = _nfixed(fit) == _nfixed(prev)
                if added == 1 and same_fixed:
                    p_mix = _mixture_p(chisq, int(df))
                    boundary_p[labels[i]] = p_mix
                    mix = "chi2_0 and chi2_1" if df == 1 else f"chi2_{int(df) - 1} and chi2_{int(df)}"
                    text += f"; the 50:50 mixture of {mix} gives p = {p_mix:.4g}"
                notes.append(text)
                warnings.warn(text, BoundaryTestWarning, stacklevel=2)
        rows.append(row)
        prev = fit
    out = pd.DataFrame(rows, index=pd.Index([labels[i] for i in order]))
    out["npar"] = out["npar"].astype(int)
    out.attrs["notes"] = notes
    out.attrs["boundary_p"] = boundary_p
    return out


def _nfixed(fit: Fit) -> int:
    return int(fit.rank) if isinstance(fit, GLMResult) else int(fit.fixef.size)


# ----------------------------------------------------------------------------- parameters


def parameter_estimates(fit: Fit) -> pd.Series:
    """The parameters lme4's ``confint(m, oldNames = FALSE)`` reports, in its order: per term
    ``sd_<col>|<group>`` and ``cor_<row>.<col>|<group>`` (θ's column-wise order), ``sigma`` for
    lmer (and GLMMs with a dispersion), then the fixed effects. For a GLM: the coefficients."""
    if isinstance(fit, GLMResult):
        return pd.Series(np.asarray(fit.coef_values, dtype=np.float64), index=list(fit.names))
    names: list[str] = []
    values: list[float] = []
    for term, key in zip(fit._design.terms, fit.varcorr, strict=True):
        sd = fit.re_sd[key].to_numpy()
        corr = fit.re_corr[key].to_numpy()
        cols = term.columns
        for c in range(term.p):
            for r in range(c, term.p):
                if r == c:
                    names.append(f"sd_{cols[r]}|{term.group}")
                    values.append(float(sd[r]))
                else:
                    names.append(f"cor_{cols[r]}.{cols[c]}|{term.group}")
                    values.append(float(corr[r, c]))
    if isinstance(fit, LMMResult) or not fit.family.fixed_dispersion:
        names.append("sigma")
        values.append(float(fit.sigma))
    names.extend(fit.fixef.index)
    values.extend(fit.fixef.to_numpy().tolist())
    return pd.Series(values, index=names, dtype=np.float64)


def percent_labels(level: float) -> list[str]:
    """R's column names for an interval at ``level``: ``["2.5 %", "97.5 %"]`` for 0.95 (R's
    ``format.perc``: three significant digits, common decimals)."""
    a = (1.0 - level) / 2.0
    pct = [100.0 * a, 100.0 * (1.0 - a)]
    decimals = 0
    for v in pct:
        full = max(0, 2 - math.floor(math.log10(abs(v)))) if v != 0 else 0
        d = full
        while d > 0 and round(v, d - 1) == round(v, full):
            d -= 1
        decimals = max(decimals, d)
    return [f"{v:.{decimals}f} %" for v in pct]


def _check_level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0.0 < float(level) < 1.0:
        raise InferenceError(f"level must be a number between 0 and 1 (e.g. 0.95), got {level!r}")
    return float(level)


def _wald(fit: Fit, level: float) -> pd.DataFrame:
    est = parameter_estimates(fit)
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    lo = pd.Series(np.nan, index=est.index)
    hi = pd.Series(np.nan, index=est.index)
    if isinstance(fit, GLMResult):
        se = np.asarray(fit.se_values, dtype=np.float64)
        lo[:] = est.to_numpy() - z * se
        hi[:] = est.to_numpy() + z * se
    else:
        fe = fit.fixef.index
        lo[fe] = fit.fixef - z * fit.se
        hi[fe] = fit.fixef + z * fit.se
    labels = percent_labels(level)
    return pd.DataFrame({labels[0]: lo, labels[1]: hi})


def confint(
    fit: Fit,
    method: str = "profile",
    level: float = 0.95,
    *,
    nsim: int = 500,
    seed: int | None = None,
    jobs: int = 1,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Confidence intervals for every parameter of a fit, as lme4's ``confint(m, oldNames = FALSE)``.

    Args:
        fit: a ``glmer`` or ``lmer`` fit (``glm`` fits: ``profile`` and ``Wald``).
        method: ``"profile"`` (profile likelihood, see :mod:`reference.profile`; lmer fits are
            profiled on the ML deviance, REML fits refitted by ML first, as lme4), ``"Wald"``
            (estimate ± z·SE; NaN for the variance parameters, as lme4) or ``"boot"``
            (parametric bootstrap percentile intervals: ``nsim`` responses simulated from the
            fit, each refitted; failed refits are dropped with a warning).
        level: the confidence level; columns are named as R's (``2.5 %``, ``97.5 %``).
        nsim, seed, jobs: bootstrap size, seed (reproducible whatever ``jobs``) and number of
            worker processes (``jobs=-1``: one per CPU); ``jobs`` also spreads the profile's
            parameters over processes.
        progress: show a progress bar on stderr (default: when stderr is a terminal).

    Returns:
        A DataFrame indexed by parameter (see :func:`parameter_estimates`) with the lower and
        upper limits; ``attrs`` records the method and, for the bootstrap, the replicates used.
    """
    _check_fit(fit)
    level = _check_level(level)
    key = str(method).lower()
    if key == "wald":
        out = _wald(fit, level)
    elif key == "profile":
        from reference.profile import profile_confint

        out = profile_confint(fit, level, jobs=jobs, progress=progress)
    elif key == "boot":
        if isinstance(fit, GLMResult):
            raise InferenceError("bootstrap intervals are for glmer and lmer fits; use method='profile' or 'Wald' for a glm")
        out = _boot_confint(fit, level, nsim, seed, jobs, progress)
    else:
        raise InferenceError(f"unknown method {method!r}; use 'profile', 'Wald' or 'boot'")
    out.attrs["method"] = {"wald": "Wald", "profile": "profile", "boot": "boot"}[key]
    return out


# ----------------------------------------------------------------------------- bootstrap machinery


@dataclass(frozen=True)
class _ParamTask:
    """One bootstrap replicate for confint: simulate from ``fit``, refit, return the parameters."""

    fit: Fit

    def __call__(self, seed: np.random.SeedSequence) -> F64:
        y = _simulate_one(self.fit, seed)
        return parameter_estimates(refit(self.fit, y)).to_numpy()


@dataclass(frozen=True)
class _LRTTask:
    """One bootstrap replicate of the LRT: simulate from the smaller model, refit both."""

    small: Fit
    large: Fit

    def __call__(self, seed: np.random.SeedSequence) -> float:
        y = _simulate_one(self.small, seed)
        return 2.0 * (float(refit(self.large, y).loglik) - float(refit(self.small, y).loglik))


_WORKER: dict[str, Any] = {}


def _init_worker(task: Callable[[np.random.SeedSequence], Any], seeds: list[np.random.SeedSequence]) -> None:
    _WORKER["task"] = task
    _WORKER["seeds"] = seeds


def _one(task: Callable[[np.random.SeedSequence], Any], seed: np.random.SeedSequence) -> tuple[Any, bool]:
    """(value or None when the refit failed, whether it warned)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = task(seed)
        except (ConvergenceError, ModelInputError, np.linalg.LinAlgError, FloatingPointError, ValueError):
            return None, True
    return value, bool(caught)


def _run_chunk(indices: list[int]) -> list[tuple[int, Any, bool]]:
    task, seeds = _WORKER["task"], _WORKER["seeds"]
    return [(i, *_one(task, seeds[i])) for i in indices]


def _n_jobs(jobs: int | None) -> int:
    if jobs is None:
        return 1
    if isinstance(jobs, bool) or not isinstance(jobs, int | np.integer) or jobs == 0 or jobs < -1:
        raise InferenceError(f"jobs must be a positive whole number or -1 (one per CPU), got {jobs!r}")
    return (os.cpu_count() or 1) if jobs == -1 else int(jobs)


class _Progress:
    """A one-line progress bar on stderr, shown only on a terminal (or when asked)."""

    def __init__(self, total: int, label: str, show: bool | None) -> None:
        self.total, self.label, self.done = total, label, 0
        self.show = sys.stderr.isatty() if show is None else bool(show)
        self._draw()

    def _draw(self) -> None:
        if not self.show:
            return
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}")
        sys.stderr.flush()

    def update(self, k: int = 1) -> None:
        self.done += k
        self._draw()

    def close(self) -> None:
        if self.show:
            sys.stderr.write("\n")
            sys.stderr.flush()


def run_parallel(
    task: Callable[[Any], Any], items: list[Any], jobs: int, label: str, progress: bool | None
) -> list[tuple[Any, bool]]:
    """``[(task(item) or None on failure, warned)]`` in item order, over ``jobs`` processes."""
    n = len(items)
    bar = _Progress(n, label, progress)
    results: list[tuple[Any, bool]] = [(None, True)] * n
    try:
        if jobs <= 1 or n <= 1:
            for i, item in enumerate(items):
                results[i] = _one(task, item)
                bar.update()
            return results
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        size = max(1, min(25, n // (4 * jobs)))
        chunks = [list(range(lo, min(n, lo + size))) for lo in range(0, n, size)]
        with ProcessPoolExecutor(
            max_workers=min(jobs, len(chunks)),
            mp_context=multiprocessing.get_context(method),
            initializer=_init_worker,
            initargs=(task, items),
        ) as pool:
            for part in pool.map(_run_chunk, chunks):
                for i, value, warned in part:
                    results[i] = (value, warned)
                bar.update(len(part))
        return results
    finally:
        bar.close()


def _replicates(
    task: Callable[[np.random.SeedSequence], Any], nsim: int, seed: int | None, jobs: int, label: str,
    progress: bool | None,
) -> list[tuple[Any, bool]]:
    if isinstance(nsim, bool) or not isinstance(nsim, int | np.integer) or nsim < 1:
        raise InferenceError(f"nsim must be a positive whole number of bootstrap samples, got {nsim!r}")
    seeds = np.random.SeedSequence(seed).spawn(int(nsim))
    return run_parallel(task, seeds, _n_jobs(jobs), label, progress)


def _boot_confint(fit: Fit, level: float, nsim: int, seed: int | None, jobs: int, progress: bool | None) -> pd.DataFrame:
    est = parameter_estimates(fit)
    out = _replicates(_ParamTask(fit), nsim, seed, jobs, "bootstrap", progress)
    values = [v for v, _ in out if v is not None]
    failed = nsim - len(values)
    if not values:
        raise ConvergenceError("every bootstrap refit failed; check the model (simplify the random effects)")
    if failed:
        warnings.warn(f"{failed} of {nsim} bootstrap refits failed and were dropped", UserWarning, stacklevel=3)
    draws = np.vstack(values)
    a = (1.0 - level) / 2.0
    lo, hi = np.nanquantile(draws, [a, 1.0 - a], axis=0)
    labels = percent_labels(level)
    res = pd.DataFrame({labels[0]: lo, labels[1]: hi}, index=est.index)
    res.attrs["nsim"] = len(values)
    res.attrs["n_failed"] = failed
    res.attrs["n_warnings"] = sum(1 for v, w in out if v is not None and w)
    res.attrs["replicates"] = pd.DataFrame(draws, columns=est.index)
    return res


# ----------------------------------------------------------------------------- bootstrap LRT


@dataclass(frozen=True)
class BootstrapLRT:
    """Result of :func:`bootstrap_lrt` (pbkrtest's ``PBmodcomp``)."""

    lrt: float  # observed statistic 2 (logLik1 − logLik0), = anova's Chisq
    df: int  # difference in the number of parameters
    p_value: float  # (1 + #{reference ≥ lrt}) / (1 + nsim)
    p_chisq: float  # the asymptotic χ²(df) p-value, for comparison
    nsim: int  # replicates used (failed refits are dropped)
    n_failed: int
    reference: F64  # the simulated statistics

    def __str__(self) -> str:
        return (
            f"Parametric bootstrap test; nsim = {self.nsim} ({self.n_failed} failed)\n"
            f"       stat df p.value\nLRT    {self.lrt:.4g} {self.df} {self.p_chisq:.4g}\n"
            f"PBtest {self.lrt:.4g}    {self.p_value:.4g}"
        )


def bootstrap_lrt(
    fit0: Fit, fit1: Fit, nsim: int = 1000, seed: int | None = None, jobs: int = 1, progress: bool | None = None
) -> BootstrapLRT:
    """Parametric-bootstrap likelihood-ratio test of two nested models (pbkrtest's ``PBmodcomp``).

    The smaller model (fewer parameters, whichever order they are given in) generates ``nsim``
    responses; both models are refitted to each and the statistic ``2 (logLik₁ − logLik₀)``
    recomputed. REML lmer fits are refitted by ML first, as in :func:`anova`. The p-value is
    ``(1 + #{LRT* ≥ LRT}) / (1 + nsim)``; it does not rely on the χ² approximation, so it is the
    test to use for variance components on their boundary and for small samples.
    """
    for f, name in ((fit0, "fit0"), (fit1, "fit1")):
        _check_fit(f, name)
    _same_data([fit0, fit1], ["fit0", "fit1"])
    small, large = sorted((_ml(fit0), _ml(fit1)), key=_npar)
    df = _npar(large) - _npar(small)
    if df <= 0:
        raise InferenceError("the two models have the same number of parameters; bootstrap_lrt compares nested models")
    lrt = max(0.0, 2.0 * (float(large.loglik) - float(small.loglik)))
    out = _replicates(_LRTTask(small, large), nsim, seed, jobs, "bootstrap LRT", progress)
    ref = np.array([v for v, _ in out if v is not None], dtype=np.float64)
    failed = nsim - ref.size
    if ref.size == 0:
        raise ConvergenceError("every bootstrap refit failed; check the models")
    if failed:
        warnings.warn(f"{failed} of {nsim} bootstrap refits failed and were dropped", UserWarning, stacklevel=2)
    ref = np.maximum(ref, 0.0)
    p = (1.0 + float(np.count_nonzero(ref >= lrt))) / (1.0 + ref.size)
    return BootstrapLRT(
        lrt=lrt, df=int(df), p_value=p, p_chisq=float(stats.chi2.sf(lrt, df)), nsim=int(ref.size),
        n_failed=int(failed), reference=ref,
    )
