"""Exercise ``simulate-curves``: the notes' simulation example of cluster curves and their mean.

Model: ``η_i(x) = β0 + γ0i + (β1 + γ1i) x`` with ``(γ0i, γ1i) ~ N(0, diag(τ0², τ1²))`` independent
over the clusters ``i = 1..m``; cluster curve ``h(η_i(x))`` with ``h`` the inverse of the log or
logit link. The variant picks the link and whether the slope is random (``τ1 = 0`` for a random
intercept only), with values near the notes' (log: β = (−2, 0.3), sds (0.2, 0.07); logit:
β = (3, 1), variances (4, 1)).

Students implement ``cluster_curves`` (the m × len(x) matrix of curves) and
``population_mean_curve`` (the average of m simulated curves). Grading:

* ``curves_zero_variance`` (property): with τ0 = τ1 = 0 every row is the "not mean" curve
  ``h(β0 + β1 x)`` (oracle: :func:`reference.population_averaged_curve`).
* ``curves_*`` (statistical): structure (shape m × len(x), finite values in the link's range, every
  row monotone when τ1 = 0), then the random effects are recovered from the curves — apply the
  link ``g`` (from :mod:`reference.links`) and fit a line per row — and the intercept and slope
  deviations are tested against N(0, τ0²) and N(0, τ1²) (Kolmogorov–Smirnov; a zero sd demands
  zero deviations).
* ``mean_curve_*`` (statistical): the average curve against the reference's population-averaged
  curve, a z-test at every grid point with a variance bound from the reference (see
  :func:`_curve_variance_bound`), Bonferroni over the grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st
from scipy import stats

from graders.checks import (
    Diagnosis,
    Exercise,
    FunctionSpec,
    PropertyCheck,
    StatisticalCheck,
    SubTest,
    WrittenItem,
)
from graders.compare import Comparison
from graders.sandbox import RngSeed
from reference.links import get_link
from reference.marginal import (
    poisson_marginal_mean,
    poisson_marginal_variance,
    population_averaged_curve,
)

__all__ = [
    "DEFAULT_PARAMS",
    "EXERCISE",
    "ID",
    "MUTANTS",
    "SHEET",
    "TITLE",
    "VERSION",
    "build",
    "draw_params",
    "make_data",
    "problems",
]

ID = "simulate-curves"
TITLE = "Simulating cluster curves: random intercept and slope, the mean curve and the 'not mean' curve"
VERSION = "1"
SHEET = "exercises/simulate_curves.md.j2"

LINKS = ("log", "logit")

DEFAULT_PARAMS: dict[str, Any] = {
    "link": "log",
    "beta0": -2.0,
    "beta1": 0.3,
    "tau0": 0.2,
    "tau1": 0.07,
    "m": 1000,
    "x_min": -10.0,
    "x_max": 10.0,
    "n_x": 201,
}


def draw_params(rng: np.random.Generator) -> dict[str, Any]:
    """One variant: the link, random slope or not, and values near the notes' example."""
    link = str(rng.choice(LINKS))
    slope = bool(rng.integers(0, 2))
    if link == "log":
        beta0 = float(rng.choice([-2.5, -2.0, -1.5]))
        beta1 = float(rng.choice([0.2, 0.25, 0.3]))
        tau0 = float(rng.choice([0.15, 0.2, 0.3]))
        tau1 = float(rng.choice([0.05, 0.07, 0.1])) if slope else 0.0
    else:
        beta0 = float(rng.choice([2.0, 3.0]))
        beta1 = float(rng.choice([0.5, 1.0]))
        tau0 = float(rng.choice([1.5, 2.0]))
        tau1 = float(rng.choice([0.7, 1.0])) if slope else 0.0
    return {**DEFAULT_PARAMS, "link": link, "beta0": beta0, "beta1": beta1, "tau0": tau0, "tau1": tau1}


def make_data(params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """No data files: the x grid and parameters reach the functions as arguments."""
    return {}


def problems(params: dict[str, Any]) -> list[str]:
    """Why a variant is not well posed (``[]`` when it is)."""
    out: list[str] = []
    if params.get("link") not in LINKS:
        return [f"link must be one of {LINKS}"]
    if not (params["tau0"] > 0 and params["tau1"] >= 0):
        out.append("tau0 must be positive and tau1 non-negative (standard deviations)")
    if not params["x_min"] < params["x_max"] or int(params["n_x"]) < 3:
        out.append("the x grid needs x_min < x_max and at least 3 points")
    if int(params["m"]) < 2 or int(params["m"]) == int(params["n_x"]):
        out.append("m must be at least 2 and differ from the grid length (so a transposed result is detectable)")
    # the worked example's mean curve must be finite (no overflow of exp on the grid)
    curve = _population_curve(_grid(params), params["beta0"], params["beta1"], params["tau0"], params["tau1"], params["link"])
    if not np.all(np.isfinite(curve["marginal_mean"])):
        out.append("the population-averaged curve overflows on the grid")
    return out


def _grid(params: Mapping[str, Any]) -> np.ndarray:
    return np.linspace(float(params["x_min"]), float(params["x_max"]), int(params["n_x"]))


# Reference quantities ---------------------------------------------------------------------------


def _population_curve(x: Any, beta0: float, beta1: float, tau0: float, tau1: float, link: str) -> pd.DataFrame:
    return population_averaged_curve(np.asarray(x, dtype=np.float64), (beta0, beta1), (tau0**2, tau1**2), link)


def not_mean_oracle(x: Any, beta0: float, beta1: float, tau0: float, tau1: float, link: str, m: int, rng: Any) -> np.ndarray:
    """With τ0 = τ1 = 0 every cluster curve is h(β0 + β1 x): m identical rows."""
    row = _population_curve(x, beta0, beta1, 0.0, 0.0, link)["not_mean"].to_numpy()
    return np.tile(row, (int(m), 1))


def _curve_variance_bound(case: Mapping[str, Any]) -> np.ndarray:
    """An upper bound of Var h(η(x)) for one cluster, per grid point, from the reference.

    log link: exact, Var exp(η) = Var(Y) − E(Y) of the Poisson random-intercept model with the
    sd of the random part at x. logit link: h ∈ (0, 1) gives h² ≤ h, so Var h ≤ E h (1 − E h).
    A bound (not an estimate) keeps the z-test conservative for a correct solution.
    """
    curve = _population_curve(case["x"], case["beta0"], case["beta1"], case["tau0"], case["tau1"], case["link"])
    mean = curve["marginal_mean"].to_numpy()
    if case["link"] == "log":
        eta = case["beta0"] + case["beta1"] * np.asarray(case["x"], dtype=np.float64)
        sd = curve["sd_eta"].to_numpy()
        return poisson_marginal_variance(eta, sd) - poisson_marginal_mean(eta, sd)
    return mean * (1.0 - mean)


def recovered_effects(curves: np.ndarray, case: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Intercept and slope deviations (γ0i, γ1i) read back from the curves: g(curve) fitted by a line per row.

    Values where ``g`` loses precision or an inverse link may have been clamped (a logit curve
    within 1e-8 of 1, any value below 1e-12) are left out of that row's fit; a row with fewer than
    two usable points gives NaN.
    """
    x = np.asarray(case["x"], dtype=np.float64)
    curves = np.asarray(curves, dtype=np.float64)
    usable = np.isfinite(curves) & (curves > 1e-12)
    if case["link"] == "logit":
        usable &= curves < 1.0 - 1e-8
    safe = np.where(usable, curves, 0.5 if case["link"] == "logit" else 1.0)
    eta = get_link(case["link"]).link(safe)
    w = usable.astype(np.float64)
    n = w.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_bar = (w * x).sum(axis=1) / n
        eta_bar = (w * eta).sum(axis=1) / n
        dx = (x[None, :] - x_bar[:, None]) * w
        slope = (dx * (eta - eta_bar[:, None])).sum(axis=1) / (dx * dx).sum(axis=1)
        intercept = eta_bar - slope * x_bar
    bad = n < 2
    slope[bad] = np.nan
    intercept[bad] = np.nan
    return intercept - case["beta0"], slope - case["beta1"]


# Statistical checks -----------------------------------------------------------------------------

RANGE = {"log": "(0, ∞)", "logit": "[0, 1]"}


def _validate_curves(draws: object, case: Mapping[str, Any]) -> str | None:
    arr = np.asarray(draws) if isinstance(draws, np.ndarray | list) else None
    if arr is None or arr.dtype.kind not in "iuf":
        return f"expected a numeric numpy array of shape (m, len(x)), got {type(draws).__name__}"
    want = (int(case["m"]), len(case["x"]))
    if arr.shape != want:
        extra = " (rows must be clusters, columns the x values)" if arr.shape == want[::-1] else ""
        return f"expected shape (m, len(x)) = {want}, got {arr.shape}{extra}"
    if not np.all(np.isfinite(arr)):
        return "the curves contain NaN or infinite values"
    low_ok = np.all(arr > 0) if case["link"] == "log" else np.all(arr >= 0)
    if not low_ok or (case["link"] == "logit" and np.any(arr > 1)):
        return f"curve values must lie in the range of the inverse {case['link']} link, {RANGE[case['link']]}"
    if case["tau1"] == 0:
        steps = np.diff(arr, axis=1) * np.sign(case["beta1"])
        if np.any(steps < -1e-12 * np.max(np.abs(arr))):
            return "with no random slope every cluster curve must be monotone in x, in the direction of beta1"
    if arr.shape[0] > 1 and case["tau0"] > 0 and np.all(arr == arr[0]):
        return "all clusters have the same curve: draw a new random intercept for every cluster"
    return None


def _ks_or_zero(which: int, sd_key: str, hint: str) -> SubTest:
    def p_value(draws: np.ndarray, case: Mapping[str, Any]) -> float:
        dev = recovered_effects(draws, case)[which]
        sd = float(case[sd_key])
        if sd == 0:
            return 1.0 if np.all(np.abs(dev) < 1e-6) else 0.0
        return float(stats.kstest(dev, stats.norm(0.0, sd).cdf).pvalue)

    name = "intercept deviations ~ N(0, tau0^2)" if which == 0 else "slope deviations ~ N(0, tau1^2)"
    return SubTest(name, p_value, hint)


INTERCEPT_HINT = (
    "Reading back γ0i = g(curve) − (β0 + β1 x) at x = 0 does not give N(0, τ0²) draws: draw one γ0i per "
    "cluster with standard deviation tau0 (rng.normal(0, tau0, size=m); tau0 is a standard deviation, "
    "not a variance), and add it to the intercept only."
)
SLOPE_HINT = (
    "The slopes of g(curve) against x do not vary like N(β1, τ1²): draw one γ1i per cluster with "
    "standard deviation tau1 and multiply it by x (η = β0 + γ0i + (β1 + γ1i) x); with tau1 = 0 all "
    "slopes equal β1. Adding the slope effect to the intercept is a classic slip."
)
CURVES_HINT = (
    "Return a numpy array with one row per cluster (m rows) and one column per x value: "
    "h(β0 + γ0i + (β1 + γ1i) x) with h = exp for the log link and the logistic function for logit."
)


def _mean_curve_subtest(hint: str) -> SubTest:
    def p_value(draws: np.ndarray, case: Mapping[str, Any]) -> float:
        curve = _population_curve(case["x"], case["beta0"], case["beta1"], case["tau0"], case["tau1"], case["link"])
        mean = curve["marginal_mean"].to_numpy()
        var = _curve_variance_bound(case)
        z = (np.ravel(draws) - mean) / np.sqrt(var / int(case["m"]))
        p_each = 2.0 * stats.norm.sf(np.abs(z))
        return float(min(1.0, np.min(p_each) * p_each.size))  # Bonferroni over the grid

    return SubTest("average curve vs population-averaged curve", p_value, hint)


MEAN_HINT = (
    "The average of your m curves is not the population-averaged curve E[h(η)]: average the simulated "
    "cluster curves over the clusters (axis 0), do not return h(β0 + β1 x), the 'not mean' curve."
)


def _validate_mean(draws: object, case: Mapping[str, Any]) -> str | None:
    arr = np.asarray(draws) if isinstance(draws, np.ndarray | list) else None
    if arr is None or arr.dtype.kind not in "iuf":
        return f"expected a numeric numpy array of length len(x), got {type(draws).__name__}"
    if arr.shape != (len(case["x"]),):
        return f"expected shape (len(x),) = ({len(case['x'])},), got {arr.shape}"
    if not np.all(np.isfinite(arr)):
        return "the mean curve contains NaN or infinite values"
    return None


ARGS_DOC = """Args:
        x: 1-D numpy array of covariate values.
        beta0, beta1: fixed intercept and slope.
        tau0, tau1: standard deviations of the random intercept γ0 and random slope γ1
            (independent; tau1 = 0 means a random intercept only).
        link: "log" (h = exp) or "logit" (h = logistic function).
        m: number of clusters.
        rng: a numpy random Generator; draw all random numbers from it."""

FUNCTIONS = (
    FunctionSpec(
        "cluster_curves",
        "(x, beta0, beta1, tau0, tau1, link, m, rng)",
        f"""Simulate m cluster curves h(beta0 + γ0i + (beta1 + γ1i) x).

    (γ0i, γ1i) ~ N(0, diag(tau0², tau1²)), independently for i = 1..m.

    {ARGS_DOC}

    Returns:
        numpy array of shape (m, len(x)): row i is cluster i's curve on the grid x.""",
    ),
    FunctionSpec(
        "population_mean_curve",
        "(x, beta0, beta1, tau0, tau1, link, m, rng)",
        f"""The population mean curve estimated by simulation: the average of m cluster curves.

    {ARGS_DOC}

    Returns:
        numpy array of shape (len(x),): the average over the m clusters at each x.""",
    ),
)


def _case(params: Mapping[str, Any], x: np.ndarray, m: int, **over: Any) -> dict[str, Any]:
    case = {k: params[k] for k in ("beta0", "beta1", "tau0", "tau1", "link")}
    case.update(over)
    return {"x": x, **{k: float(v) if k != "link" else v for k, v in case.items()}, "m": m}


def _other(params: Mapping[str, Any]) -> dict[str, Any]:
    """The notes' example of the other link, with the other random structure."""
    link = "logit" if params["link"] == "log" else "log"
    slope = params["tau1"] == 0
    if link == "log":
        return {"link": link, "beta0": -2.0, "beta1": 0.3, "tau0": 0.2, "tau1": 0.07 if slope else 0.0}
    return {"link": link, "beta0": 3.0, "beta1": 1.0, "tau0": 2.0, "tau1": 1.0 if slope else 0.0}


#: the statistical cases' grid: narrow enough that g(curve) is well conditioned for logit curves.
X_STATS = np.linspace(-1.0, 1.0, 5)
M_STATS = 2000
M_MEAN = 20000


def _real(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def build(params: dict[str, Any]) -> Exercise:
    """The exercise for one variant: statistical cases at the variant's parameters (and the other link)."""
    grid = _grid(params)
    own = _case(params, X_STATS, M_STATS)
    own_structure = _case(params, grid, 50)
    other = _case(_other(params), X_STATS, M_STATS)
    intercept_only = _case(params, X_STATS, M_STATS, tau1=0.0)
    mean_own = _case(params, np.linspace(float(params["x_min"]), float(params["x_max"]), 21), M_MEAN)
    mean_other = _case(_other(params), np.linspace(-10.0, 10.0, 21), M_MEAN)
    subtests = (_ks_or_zero(0, "tau0", INTERCEPT_HINT), _ks_or_zero(1, "tau1", SLOPE_HINT))

    zero_var = st.fixed_dictionaries(
        {
            "x": st.lists(_real(-10.0, 10.0), min_size=1, max_size=15).map(np.array),
            "beta0": _real(-3.0, 3.0),
            "beta1": _real(-1.0, 1.0),
            "tau0": st.just(0.0),
            "tau1": st.just(0.0),
            "link": st.sampled_from(LINKS),
            "m": st.integers(1, 6),
            "rng": st.integers(0, 2**32 - 1).map(RngSeed),
        }
    )

    def curves_check(name: str, desc: str, points: float, vis: str, cases: tuple[dict[str, Any], ...]) -> StatisticalCheck:
        return StatisticalCheck(
            name=name, function="cluster_curves", description=desc, points=points,
            visibility=vis,  # type: ignore[arg-type]
            cases=cases, subtests=subtests, validate=_validate_curves, hint=CURVES_HINT,
        )

    def mean_check(name: str, desc: str, points: float, vis: str, cases: tuple[dict[str, Any], ...]) -> StatisticalCheck:
        return StatisticalCheck(
            name=name, function="population_mean_curve", description=desc, points=points,
            visibility=vis,  # type: ignore[arg-type]
            cases=cases, subtests=(_mean_curve_subtest(MEAN_HINT),), validate=_validate_mean, hint=MEAN_HINT,
        )

    checks = (
        PropertyCheck(
            name="curves_zero_variance",
            function="cluster_curves",
            description="tau0 = tau1 = 0: every row is h(beta0 + beta1 x)",
            points=1,
            visibility="public",
            cases=zero_var,
            oracle=not_mean_oracle,
            comparison=Comparison(rtol=1e-9, atol=1e-12),
            hint="With no random effects each row must be h(beta0 + beta1 x) on the grid x, with m rows.",
            diagnoses=(
                Diagnosis(
                    "transposed",
                    lambda **case: not_mean_oracle(**case).T,
                    "Your array is transposed: rows are clusters (m rows), columns the x values.",
                ),
            ),
            max_examples=40,
        ),
        curves_check("curves_structure", f"your variant's model on the grid from {params['x_min']:g} to "
                     f"{params['x_max']:g}, m = 50: shape, range, monotonicity", 1, "public", (own_structure,)),
        curves_check("curves_own", f"{params['link']} link, your variant's τ0 and τ1, m = {M_STATS}: "
                     "recovered random effects ~ N(0, τ²)", 3, "public", (own,)),
        curves_check("curves_intercept_only", "your variant's parameters with tau1 = 0: slopes all equal β1",
                     1, "hidden", (intercept_only,)),
        curves_check("curves_other_link", f"the notes' {other['link']} example: recovered random effects",
                     2, "hidden", (other,)),
        mean_check("mean_curve_own", f"average of m = {M_MEAN} curves of your variant vs the population-averaged "
                   "curve", 2, "public", (mean_own,)),
        mean_check("mean_curve_other_link", f"average of m = {M_MEAN} curves, the notes' {other['link']} example",
                   1, "hidden", (mean_other,)),
    )
    return Exercise(id=ID, version=VERSION, title=TITLE, functions=FUNCTIONS, checks=checks,
                    public_seed=20241125, call_seconds=10.0, written=WRITTEN)


#: Written answers (graded by hand in the instructor's review).
WRITTEN = (
    WrittenItem(
        "jensen", "explain_jensen",
        'Are the average curve and the "not mean" curve the same? Explain the difference with '
        "Jensen's inequality, and say where along x it is largest.",
    ),
)


EXERCISE = build(DEFAULT_PARAMS)

_CURVES_STAT = frozenset({"curves_own", "curves_intercept_only", "curves_other_link"})

#: mutant name -> the checks it fails on the default variant (log link, random slope) with all checks.
MUTANTS: dict[str, frozenset[str]] = {
    "same_gamma_for_all": _CURVES_STAT | {"curves_structure", "mean_curve_own", "mean_curve_other_link"},
    "variance_as_sd": _CURVES_STAT | {"curves_structure", "mean_curve_own", "mean_curve_other_link"},
    # the default variant's other-link case has no random slope, where this mistake is harmless
    "slope_into_intercept": frozenset({"curves_structure", "curves_own", "mean_curve_own"}),
    "not_mean_curve": frozenset({"mean_curve_own", "mean_curve_other_link"}),
    "transposed": frozenset({"curves_zero_variance", "curves_structure", *_CURVES_STAT}),
}


def mutants_for(params: dict[str, Any]) -> dict[str, frozenset[str]]:
    """Checks each mutant fails in EVERY variant (used by selftest; ``MUTANTS`` is exact for the default).

    Only failures that do not hinge on chance are listed: structural rejections and sub-tests whose
    effect is many standard errors wide for every drawable variant. The random slope mistake only
    shows in a case that has a random slope (the variant's own or the other link's case).
    """
    own_slope = params["tau1"] > 0
    return {
        "same_gamma_for_all": frozenset({"curves_structure", *_CURVES_STAT}),
        "variance_as_sd": _CURVES_STAT,
        "slope_into_intercept": frozenset({"curves_own" if own_slope else "curves_other_link"}),
        "not_mean_curve": frozenset({"mean_curve_own", "mean_curve_other_link"}),
        "transposed": frozenset({"curves_structure", *_CURVES_STAT}),
    }
