"""Exercise ``simulate-beaches``: simulate a data set like the notes' beaches (RIKZ) example.

Model (lecture notes, "Beaches example - revisited"): ``Richness_ij | γ_i ~ Poisson(μ_ij)`` with
``log μ_ij = β0 + β1 NAP_ij + γ_i`` and one ``γ_i ~ N(0, τ0²)`` per beach. Students implement
``simulate_beaches(beta0, beta1, tau0, n_beaches, per_beach, nap, rng)`` returning a DataFrame with
columns ``Richness`` (integer counts), ``NAP`` (as given) and ``Beach`` (labels 1..n_beaches, beach
by beach).

Grading: a check's ``extract`` turns the DataFrame into the array (Richness, NAP, Beach) and
reports missing columns; ``validate`` checks rows, labels, NAP and the support. Three sub-tests,
each exact or with a known null distribution:

* ``beach totals``: with the same NAP pattern on every beach, the beach totals ``T_i`` are i.i.d.
  Poisson–lognormal; their pmf comes from :func:`reference.marginal.cluster_loglik` (a one-
  observation cluster with mean ``Λ = Σ_j exp(β0 + β1 NAP_j)``), tested by chi-square goodness of
  fit. This sees the random-effect structure: one γ per observation, one γ for all beaches, τ² for
  τ, and a wrong NAP effect (it changes Λ).
* ``NAP effect``: given the beach totals, a beach's counts are multinomial with probabilities
  ``∝ exp(β1 NAP_ij)`` (γ_i cancels), so ``Σ NAP_ij (Y_ij − T_i p_ij)`` has mean 0 and a known
  variance — a z-test of the slope's sign and size.
* ``within-beach dispersion``: the sum over beaches of the multinomial Pearson statistics has a
  known mean and variance given the totals (scaled chi-square approximation): too little spread
  (normal counts) or too much (a random effect per observation) fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from graders.checks import Exercise, FunctionSpec, StatisticalCheck, SubTest
from graders.stats import chi2_discrete_test
from reference.families import get_family
from reference.links import get_link
from reference.quadrature import gauss_hermite
from reference.simulate import BEACHES_BETA, BEACHES_TAU0, simulate_beaches

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

ID = "simulate-beaches"
TITLE = "Simulating a beaches-like data set from a Poisson random-intercept model"
VERSION = "1"
SHEET = "exercises/simulate_beaches.md.j2"

DEFAULT_PARAMS: dict[str, Any] = {
    "beta0": BEACHES_BETA[0],
    "beta1": BEACHES_BETA[1],
    "tau0": BEACHES_TAU0,
    "n_beaches": 9,
    "per_beach": 5,
    "data_seed": 2009,
}


def draw_params(rng: np.random.Generator) -> dict[str, Any]:
    """One variant: coefficients near the RIKZ fit, beaches and samples per beach, a seed for NAP."""
    return {
        "beta0": round(float(rng.uniform(1.2, 2.0)), 2),
        "beta1": round(float(rng.uniform(-0.8, -0.3)), 2),
        "tau0": round(float(rng.uniform(0.3, 0.7)), 2),
        "n_beaches": int(rng.integers(7, 13)),
        "per_beach": int(rng.integers(4, 7)),
        "data_seed": int(rng.integers(0, 2**31 - 1)),
    }


def make_data(params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """``nap.csv``: the NAP values (columns ``Beach``, ``NAP``) the student's data set must use."""
    sim = simulate_beaches(
        params["data_seed"], (params["beta0"], params["beta1"]), params["tau0"],
        params["n_beaches"], params["per_beach"],
    )
    return {"nap": sim[["Beach", "NAP"]].reset_index(drop=True)}


def problems(params: dict[str, Any]) -> list[str]:
    """Why a variant is not well posed (``[]`` when it is)."""
    out: list[str] = []
    if not params["tau0"] > 0:
        out.append("tau0 must be positive")
    if int(params["n_beaches"]) < 2 or int(params["per_beach"]) < 2:
        out.append("need at least 2 beaches and 2 samples per beach")
    if params["beta1"] == 0:
        out.append("beta1 must be non-zero (the NAP effect is what the checks look at)")
    nap = make_data(params)["nap"]["NAP"].to_numpy()
    if np.ptp(nap) == 0:
        out.append("NAP values are all equal")
    return out


# Reference quantities ---------------------------------------------------------------------------

COLUMNS = ("Richness", "NAP", "Beach")


def to_array(value: object) -> np.ndarray:
    """The returned DataFrame as a float array with columns (Richness, NAP, Beach); raise on bad structure."""
    if not isinstance(value, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame with columns {', '.join(COLUMNS)}, got {type(value).__name__}")
    missing = [c for c in COLUMNS if c not in value.columns]
    if missing:
        raise ValueError(
            f"the DataFrame lacks column(s) {', '.join(missing)} (it has {', '.join(map(str, value.columns))}); "
            "name them exactly Richness, NAP, Beach"
        )
    if value["Richness"].to_numpy().dtype.kind not in "iu":
        raise ValueError(f"Richness must be an integer column (counts), got dtype {value['Richness'].dtype}")
    return np.column_stack([value[c].to_numpy(dtype=np.float64) for c in COLUMNS])


def _validate(draws: object, case: Mapping[str, Any]) -> str | None:
    arr = np.asarray(draws, dtype=np.float64)
    n_b, per = int(case["n_beaches"]), int(case["per_beach"])
    if arr.shape != (n_b * per, 3):
        return f"expected n_beaches × per_beach = {n_b * per} rows, got {arr.shape[0]}"
    y, nap, beach = arr.T
    if not np.array_equal(beach, np.repeat(np.arange(1, n_b + 1), per).astype(np.float64)):
        return (f"Beach must label the rows beach by beach: {per} rows of beach 1, then {per} of beach 2, …, "
                f"up to {n_b}, in the order of nap")
    if not np.array_equal(nap, np.asarray(case["nap"], dtype=np.float64)):
        return "the NAP column must hold the nap values passed in, in the same order"
    if np.any(y < 0) or not np.all(np.isfinite(y)):
        return "Richness counts must be non-negative"
    return None


def _by_beach(draws: np.ndarray, case: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    n_b, per = int(case["n_beaches"]), int(case["per_beach"])
    return draws[:, 0].reshape(n_b, per), draws[:, 1].reshape(n_b, per)


def _within_probs(nap: np.ndarray, beta1: float) -> np.ndarray:
    """Given a beach total, the share of each sample: ∝ h(β1 NAP) with h the inverse log link."""
    w = get_link("log").inverse(beta1 * nap)
    return w / w.sum(axis=1, keepdims=True)


class _TotalsDistribution:
    """Beach total T ~ Poisson(Λ e^γ), γ ~ N(0, τ²): pmf/sf/ppf for :func:`graders.stats.chi2_discrete_test`.

    The pmf integrates the reference Poisson density over γ with a 1000-node Gauss–Hermite rule
    (:mod:`reference.quadrature`) on the support 0 … Λ e^{8τ} + a Poisson margin, where every
    probability is accurate to about 1e-7 absolute, far below what moves a pooled chi-square bin
    (tests compare it with :func:`reference.marginal.cluster_loglik`).
    """

    def __init__(self, log_lambda: float, tau: float) -> None:
        top_mean = float(np.exp(log_lambda + 8.0 * tau))
        support = np.arange(int(top_mean + 12.0 * np.sqrt(top_mean) + 30.0), dtype=np.float64)
        z, logw = gauss_hermite(1000)
        mu = np.exp(log_lambda + tau * z)
        logpdf = get_family("poisson").logpdf(support[:, None], mu[None, :]) + logw[None, :]
        self._pmf = np.exp(special.logsumexp(logpdf, axis=1))
        self._cdf = np.minimum(np.cumsum(self._pmf), 1.0)

    def pmf(self, k: np.ndarray) -> np.ndarray:
        k = np.asarray(k, dtype=np.int64)
        return np.where(k < self._pmf.size, self._pmf[np.minimum(k, self._pmf.size - 1)], 0.0)

    def sf(self, k: float) -> float:
        k = int(k)
        if k < 0:
            return 1.0
        return float(max(1.0 - self._cdf[k], 0.0)) if k < self._cdf.size else 0.0

    def ppf(self, q: float) -> float:
        return float(min(np.searchsorted(self._cdf, q), self._pmf.size))


@lru_cache(maxsize=32)
def _totals(log_lambda: float, tau: float) -> _TotalsDistribution:
    return _TotalsDistribution(log_lambda, tau)


def _log_lambda(case: Mapping[str, Any]) -> float:
    nap = np.asarray(case["nap"], dtype=np.float64).reshape(int(case["n_beaches"]), int(case["per_beach"]))
    lam = get_link("log").inverse(case["beta0"] + case["beta1"] * nap[0]).sum()
    return float(np.log(lam))


TOTALS_HINT = (
    "The beach totals do not vary like a Poisson model with one random intercept per beach: draw ONE "
    "γ_i ~ N(0, τ0²) per beach (tau0 is the standard deviation; rng.normal(0, tau0, size=n_beaches)), "
    "repeat it for that beach's samples, and draw Poisson counts with mean exp(β0 + β1 NAP + γ_i)."
)
NAP_HINT = (
    "Within beaches, counts do not change with NAP as exp(β1 NAP) says: check the sign of beta1 and "
    "that the linear predictor is beta0 + beta1 * NAP + γ."
)
DISPERSION_HINT = (
    "Within a beach the counts spread too much or too little around their means: given γ_i, the "
    "samples of a beach are independent Poisson counts (rng.poisson), with the same γ_i for all of them."
)


def _totals_subtest() -> SubTest:
    def p_value(draws: np.ndarray, case: Mapping[str, Any]) -> float:
        y, _nap = _by_beach(draws, case)
        dist = _totals(round(_log_lambda(case), 12), float(case["tau0"]))
        return chi2_discrete_test(lambda _c: dist, hint=TOTALS_HINT).p_value(y.sum(axis=1), case)

    return SubTest("beach totals ~ Poisson-lognormal", p_value, TOTALS_HINT)


def _nap_subtest() -> SubTest:
    def p_value(draws: np.ndarray, case: Mapping[str, Any]) -> float:
        y, nap = _by_beach(draws, case)
        if np.any(y != np.round(y)):
            return 0.0
        total = y.sum(axis=1)
        p = _within_probs(nap, float(case["beta1"]))
        mean_nap = (p * nap).sum(axis=1)
        var_nap = (p * nap**2).sum(axis=1) - mean_nap**2
        score = float(((y * nap).sum(axis=1) - total * mean_nap).sum())
        var = float((total * var_nap).sum())
        if var <= 0:
            return 1.0 if score == 0 else 0.0
        return float(2.0 * stats.norm.sf(abs(score) / np.sqrt(var)))

    return SubTest("NAP effect within beaches", p_value, NAP_HINT)


def _dispersion_subtest() -> SubTest:
    def p_value(draws: np.ndarray, case: Mapping[str, Any]) -> float:
        y, nap = _by_beach(draws, case)
        if np.any(y != np.round(y)):
            return 0.0
        total = y.sum(axis=1)
        keep = total > 0
        y, nap, total = y[keep], nap[keep], total[keep]
        if total.size == 0:
            return 1.0
        p = _within_probs(nap, float(case["beta1"]))
        k = p.shape[1]
        expected = total[:, None] * p
        pearson = float(((y - expected) ** 2 / expected).sum())
        # exact mean and variance of a multinomial Pearson statistic given its total N
        mean = float(total.size * (k - 1))
        var = float((2 * (k - 1) + ((1 / p).sum(axis=1) - k**2 - 2 * k + 2) / total).sum())
        scale, df = var / (2 * mean), 2 * mean**2 / var
        z_upper = stats.chi2.sf(pearson / scale, df)
        z_lower = stats.chi2.cdf(pearson / scale, df)
        return float(min(1.0, 2 * min(z_upper, z_lower)))

    return SubTest("within-beach dispersion", p_value, DISPERSION_HINT)


# Cases ------------------------------------------------------------------------------------------

#: a NAP pattern repeated on every beach of the statistical cases: asymmetric about 0 (so the sign of
#: β1 changes the beach totals) and inside the real data's range.
NAP_PATTERN = (-1.2, -0.4, 0.3, 1.1, 2.1)


def _case(beta0: float, beta1: float, tau0: float, n_beaches: int, pattern: tuple[float, ...]) -> dict[str, Any]:
    nap = np.tile(np.asarray(pattern, dtype=np.float64), n_beaches)
    return {"beta0": beta0, "beta1": beta1, "tau0": tau0, "n_beaches": n_beaches, "per_beach": len(pattern), "nap": nap}


ARGS_DOC = """Args:
        beta0, beta1: intercept and NAP effect on the log scale.
        tau0: standard deviation of the beach random intercept γ (γ ~ N(0, tau0²)).
        n_beaches: number of beaches; per_beach: samples per beach.
        nap: numpy array of n_beaches * per_beach NAP values, beach by beach (the first per_beach
            values belong to beach 1, and so on).
        rng: a numpy random Generator; draw all random numbers from it."""

FUNCTIONS = (
    FunctionSpec(
        "simulate_beaches",
        "(beta0, beta1, tau0, n_beaches, per_beach, nap, rng)",
        f"""Simulate species richness on n_beaches beaches with per_beach samples each.

    Richness_ij | γ_i ~ Poisson(exp(beta0 + beta1 * NAP_ij + γ_i)), γ_i ~ N(0, tau0²), one γ_i per beach.

    {ARGS_DOC}

    Returns:
        pandas DataFrame with n_beaches * per_beach rows and columns Richness (int counts),
        NAP (the given values, same order) and Beach (int labels 1..n_beaches, beach by beach).""",
    ),
)


def build(params: dict[str, Any]) -> Exercise:
    """The exercise for one variant: its own NAP values, plus large designs at the variant's parameters."""
    b0, b1, tau = float(params["beta0"]), float(params["beta1"]), float(params["tau0"])
    nap_own = make_data(params)["nap"]["NAP"].to_numpy(dtype=np.float64)
    own = {"beta0": b0, "beta1": b1, "tau0": tau, "n_beaches": int(params["n_beaches"]),
           "per_beach": int(params["per_beach"]), "nap": nap_own}
    big = _case(b0, b1, tau, 600, NAP_PATTERN)
    other = _case(1.0, 0.6, 0.5, 800, (-1.0, 0.0, 1.5))
    totals, nap_test, dispersion = _totals_subtest(), _nap_subtest(), _dispersion_subtest()

    def check(name: str, desc: str, points: float, vis: str, cases: tuple[dict[str, Any], ...],
              subtests: tuple[SubTest, ...]) -> StatisticalCheck:
        return StatisticalCheck(
            name=name, function="simulate_beaches", description=desc, points=points,
            visibility=vis,  # type: ignore[arg-type]
            cases=cases, subtests=subtests, validate=_validate, extract=to_array,
            hint="Return a DataFrame with columns Richness (int), NAP (as given) and Beach (1..n_beaches, "
                 "beach by beach), one row per sample.",
        )

    checks = (
        check("structure", f"your variant: {params['n_beaches']} beaches × {params['per_beach']} samples, "
              "your NAP values: columns, labels, counts, NAP effect", 2, "public", (own,), (nap_test,)),
        check("beach_totals", "600 beaches × 5 samples at your β and τ0: beach totals", 3, "public", (big,), (totals,)),
        check("within_beach", "600 beaches × 5 samples at your β and τ0: NAP effect and Poisson spread "
              "within beaches", 2, "public", (big,), (nap_test, dispersion)),
        check("other_parameters", "800 beaches × 3 samples, β = (1, 0.6), τ0 = 0.5: all three tests", 2,
              "hidden", (other,), (totals, nap_test, dispersion)),
    )
    return Exercise(id=ID, version=VERSION, title=TITLE, functions=FUNCTIONS, checks=checks,
                    public_seed=20241126, call_seconds=10.0)


EXERCISE = build(DEFAULT_PARAMS)

_STATS = frozenset({"beach_totals", "other_parameters"})

#: mutant name -> the checks it fails on the default variant when all checks run.
MUTANTS: dict[str, frozenset[str]] = {
    "gamma_per_observation": _STATS | {"within_beach"},
    "gamma_shared": _STATS,
    "nap_wrong_sign": _STATS | {"within_beach", "structure"},
    "variance_as_sd": _STATS,
    "normal_counts": frozenset({"within_beach", "other_parameters"}),
}


def mutants_for(params: dict[str, Any]) -> dict[str, frozenset[str]]:
    """Checks each mutant fails in EVERY variant (used by selftest; ``MUTANTS`` is exact for the default).

    The large-design checks only: on a variant's own small data set (28-72 samples) the NAP test's
    power against the wrong sign is high but not overwhelming for every drawable β1.
    """
    return {
        "gamma_per_observation": _STATS | {"within_beach"},
        "gamma_shared": _STATS,
        "nap_wrong_sign": frozenset({"within_beach", "other_parameters"}),
        "variance_as_sd": _STATS,
        "normal_counts": frozenset({"within_beach", "other_parameters"}),
    }
