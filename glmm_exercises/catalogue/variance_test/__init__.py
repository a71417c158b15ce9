"""Exercise ``variance-test``: test H0: τ² = 0 in a random-intercept GLMM (a test on the boundary).

Model: ``y_ij | γ_i ~ f(y | μ_ij)`` with ``g(μ_ij) = x_ijᵀβ + γ_i``, ``γ_i ~ N(0, τ²)``; Poisson with log
link or binary with logit link (the variant picks the family). H0 (τ = 0) is the GLM. Students write
``variance_test`` (the likelihood-ratio statistic ``2 (ℓ_GLMM − ℓ_GLM)`` with the Laplace likelihood,
its χ²₁ p-value and the p-value of the 50:50 mixture of χ²₀ and χ²₁) and ``null_lrt_draws`` (a
parametric bootstrap of the statistic under H0: simulate from the fitted GLM, refit both models),
and explain in words why the χ²₁ p-value is conservative (a :class:`~graders.checks.WrittenItem`).

Oracles: :func:`reference.anova` of :func:`reference.glm.glm_fit` and :func:`reference.glmer`
(``Chisq``, ``Pr(>Chisq)`` and ``attrs["boundary_p"]``) on the student's data and on simulated data
sets whose reference fit is interior. The bootstrap is a :class:`~graders.checks.StatisticalCheck`:
the student's draws are compared with :func:`reference.bootstrap_lrt`'s replicates (computed once per
data set, seeded) by a two-sample Kolmogorov–Smirnov test and Fisher's exact test of the share of
zero statistics (fits on the boundary), at a Bonferroni-corrected level.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st
from scipy import stats

from glmm_exercises.catalogue.extract import dict_entry
from glmm_exercises.catalogue.glmm_fit import fit_problems, reference_fit
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
from reference import anova, bootstrap_lrt
from reference.errors import ModelInputError
from reference.glm import glm_fit
from reference.simulate import simulate_glmm

__all__ = [
    "DEFAULT_PARAMS",
    "EXERCISE",
    "ID",
    "MUTANTS",
    "MUTANT_DIAGNOSES",
    "SHEET",
    "TITLE",
    "VERSION",
    "WRITTEN",
    "build",
    "draw_params",
    "make_data",
    "problems",
]

ID = "variance-test"
TITLE = "Testing the random-effect variance: the likelihood-ratio test on the boundary"
VERSION = "1"
SHEET = "exercises/variance_test.md.j2"

FAMILIES = ("poisson", "binomial")

DEFAULT_PARAMS: dict[str, Any] = {
    "family": "poisson",
    "beta": [0.4, 0.5],
    "tau": 0.4,
    "n_clusters": 12,
    "cluster_size": 6,
    "data_seed": 31337,
}

#: the smallest likelihood-ratio statistic a checked data set may have (the mixture p-value then
#: differs clearly from the χ²₁ one; at 0 both are 1).
MIN_LRT = 0.05
#: bootstrap replicates the student draws per data set, and the reference draws (once, seeded)
NSIM = 20
REFERENCE_NSIM = 200
REFERENCE_SEED = 20241204
#: statistics below this count as 0 (a fit on the boundary τ̂ = 0) in the bootstrap sub-tests
ZERO = 1e-3


def draw_params(rng: np.random.Generator) -> dict[str, Any]:
    """One variant: family, true (β, τ) with a modest τ, sizes and a data seed; re-drawn until sound."""
    while True:
        family = str(rng.choice(FAMILIES))
        if family == "poisson":
            beta = [round(float(rng.uniform(0.0, 1.0)), 2), round(float(rng.uniform(-0.7, 0.7)), 2)]
        else:
            beta = [round(float(rng.uniform(-0.6, 0.6)), 2), round(float(rng.uniform(-1.0, 1.0)), 2)]
        params = {
            "family": family,
            "beta": beta,
            "tau": round(float(rng.uniform(0.25, 0.6)), 2),
            "n_clusters": int(rng.integers(8, 15)),
            "cluster_size": int(rng.integers(5, 9)),
            "data_seed": int(rng.integers(0, 2**31 - 1)),
        }
        if not problems(params):
            return params


def make_data(params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """``clusters.csv``: columns ``cluster`` (1..m), ``x``, ``y`` simulated from the variant's model."""
    df = simulate_glmm(params["beta"], float(params["tau"]) ** 2, n_clusters=int(params["n_clusters"]),
                       cluster_size=int(params["cluster_size"]), family=params["family"], seed=int(params["data_seed"]))
    return {"clusters": pd.DataFrame({"cluster": df["cluster"], "x": np.round(df["x1"].to_numpy(), 4), "y": df["y"]})}


def _case(frame: pd.DataFrame, family: str) -> dict[str, Any]:
    X = np.column_stack([np.ones(len(frame)), *(frame[c].to_numpy(dtype=np.float64) for c in frame if c.startswith("x"))])
    return {"X": X, "y": frame["y"].to_numpy(dtype=np.float64), "cluster": frame["cluster"].to_numpy(), "family": family}


def _own_case(params: dict[str, Any]) -> dict[str, Any]:
    return _case(make_data(params)["clusters"], params["family"])


def _case_problems(case: Mapping[str, Any]) -> list[str]:
    try:
        out = fit_problems(reference_fit(case["X"], case["y"], case["cluster"], case["family"]))
        lrt = lrt_oracle(**case)
    except (ModelInputError, ArithmeticError, ValueError) as exc:
        return [f"a reference fit failed: {exc}"]
    if not lrt >= MIN_LRT:
        out.append(f"the likelihood-ratio statistic {lrt:.3g} is below {MIN_LRT}: no visible evidence to test")
    return out


def problems(params: dict[str, Any]) -> list[str]:
    """Well-posedness: known family; the reference GLMM fit is interior and converged, and LRT ≥ MIN_LRT."""
    if params.get("family") not in FAMILIES:
        return [f"family must be one of {FAMILIES}"]
    return _case_problems(_own_case(params))


# Oracles --------------------------------------------------------------------------------------

_TABLES: dict[tuple[Any, ...], pd.DataFrame] = {}
_BOOT: dict[tuple[Any, ...], np.ndarray] = {}


def _data_key(X: Any, y: Any, cluster: Any, family: str) -> tuple[Any, ...]:
    X = np.asarray(X, dtype=np.float64)
    return (family, X.shape, X.tobytes(), np.asarray(y, dtype=np.float64).tobytes(), np.asarray(cluster).tobytes())


def _fits(X: Any, y: Any, cluster: Any, family: str) -> tuple[Any, Any]:
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return glm_fit(X, y, family, None), reference_fit(X, y, cluster, family)


def lr_table(X: Any, y: Any, cluster: Any, family: str) -> pd.DataFrame:
    """:func:`reference.anova` of the GLM (H0) and the random-intercept GLMM (cached per data set)."""
    key = _data_key(X, y, cluster, family)
    if key not in _TABLES:
        if len(_TABLES) > 64:
            _TABLES.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the boundary note is a warning; it is in attrs as well
            _TABLES[key] = anova(*_fits(X, y, cluster, family), names=["glm", "glmm"])
    return _TABLES[key]


def lrt_oracle(X: Any, y: Any, cluster: Any, family: str) -> float:
    return float(lr_table(X, y, cluster, family).loc["glmm", "Chisq"])


def p_chisq_oracle(X: Any, y: Any, cluster: Any, family: str) -> float:
    return float(lr_table(X, y, cluster, family).loc["glmm", "Pr(>Chisq)"])


def p_mixture_oracle(X: Any, y: Any, cluster: Any, family: str) -> float:
    return float(lr_table(X, y, cluster, family).attrs["boundary_p"]["glmm"])


def reference_draws(X: Any, y: Any, cluster: Any, family: str) -> np.ndarray:
    """:func:`reference.bootstrap_lrt`'s replicates of the statistic under H0 (seeded; cached per data set)."""
    key = _data_key(X, y, cluster, family)
    if key not in _BOOT:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            boot = bootstrap_lrt(*_fits(X, y, cluster, family), nsim=REFERENCE_NSIM, seed=REFERENCE_SEED)
        _BOOT[key] = np.asarray(boot.reference, dtype=np.float64)
    return _BOOT[key]


# Classic mistakes, through the reference -------------------------------------------------------


def _p_two_df(**c: Any) -> float:
    return float(stats.chi2.sf(lrt_oracle(**c), 2))


LRT_DIAGNOSES = (
    Diagnosis("not_doubled", lambda **c: lrt_oracle(**c) / 2,
              "Your statistic is ℓ_GLMM − ℓ_GLM: the likelihood-ratio statistic is twice that, 2 (ℓ_GLMM − ℓ_GLM)."),
)
P_CHISQ_DIAGNOSES = (
    Diagnosis("two_df", _p_two_df,
              "Your p-value uses 2 degrees of freedom: H0 fixes one parameter (τ² = 0), so the χ² reference has 1."),
)
P_MIXTURE_DIAGNOSES = (
    Diagnosis("chisq", p_chisq_oracle,
              "Your mixture p-value is the plain χ²₁ p-value: under H0 the statistic is 0 about half the time, so "
              "P(0.5 χ²₀ + 0.5 χ²₁ ≥ t) = 0.5 P(χ²₁ ≥ t) for t > 0."),
    Diagnosis("doubled", lambda **c: min(1.0, 2 * p_chisq_oracle(**c)),
              "Your mixture p-value is twice the χ²₁ one; the χ²₁ p-value is conservative (too large), so the "
              "mixture p-value is half of it, not double."),
)

LRT_HINT = (
    "LRT = 2 (ℓ_GLMM − ℓ_GLM) with both log-likelihoods maximised and every constant kept; the GLMM's is the "
    "Laplace approximation maximised over β and τ ≥ 0 (on the boundary τ̂ = 0 the statistic is 0)."
)
P_CHISQ_HINT = "The χ²₁ p-value is P(χ²₁ ≥ LRT) (scipy.stats.chi2.sf(lrt, 1))."
P_MIXTURE_HINT = (
    "The mixture p-value is P(½χ²₀ + ½χ²₁ ≥ LRT): ½ P(χ²₁ ≥ LRT) when LRT > 0, and 1 when LRT = 0."
)
BOOT_HINT = (
    "Under H0 τ = 0, so simulate each new response from the GLM fitted to the data (not from the GLMM, and not "
    "from χ²₁), refit both the GLM and the GLMM to it, and record 2 (ℓ_GLMM − ℓ_GLM) (0 when τ̂ = 0). Use the "
    "generator rng for every draw."
)


# Strategies -----------------------------------------------------------------------------------


def _generated(family: str) -> st.SearchStrategy[dict[str, Any]]:
    """Simulated data sets with a modest τ whose reference fit is interior and whose LRT ≥ MIN_LRT."""

    @st.composite
    def cases(draw: st.DrawFn) -> dict[str, Any]:
        m = draw(st.integers(8, 14))
        size = draw(st.integers(4, 8))
        if family == "poisson":
            beta = [draw(st.sampled_from([0.0, 0.5, 1.0])), draw(st.sampled_from([-0.5, 0.3, 0.6]))]
        else:
            beta = [draw(st.sampled_from([-0.5, 0.0, 0.5])), draw(st.sampled_from([-0.8, 0.4, 1.0]))]
        tau = draw(st.sampled_from([0.3, 0.5, 0.8]))
        seed = draw(st.integers(0, 2**31 - 1))
        df = simulate_glmm(beta, tau**2, n_clusters=m, cluster_size=size, family=family, seed=seed)
        frame = pd.DataFrame({"cluster": df["cluster"], "x": np.round(df["x1"].to_numpy(), 4), "y": df["y"]})
        return _case(frame, family)

    return cases().filter(lambda case: not _case_problems(case))


def strong_case(family: str) -> dict[str, Any]:
    """A fixed data set with clear clustering (τ = 1): simulating from the GLMM instead of the GLM shows there."""
    df = simulate_glmm([0.3, 0.5], 1.0, n_clusters=10, cluster_size=5, family=family, seed=7)
    frame = pd.DataFrame({"cluster": df["cluster"], "x": np.round(df["x1"].to_numpy(), 4), "y": df["y"]})
    return {**_case(frame, family), "nsim": NSIM}


def _zeroed(draws: np.ndarray) -> np.ndarray:
    return np.where(draws < ZERO, 0.0, draws)


def _ks(draws: np.ndarray, case: Mapping[str, Any]) -> float:
    ref = reference_draws(case["X"], case["y"], case["cluster"], case["family"])
    return float(stats.ks_2samp(_zeroed(draws), _zeroed(ref)).pvalue)


def _zero_share(draws: np.ndarray, case: Mapping[str, Any]) -> float:
    ref = reference_draws(case["X"], case["y"], case["cluster"], case["family"])
    a, b = int(np.sum(draws < ZERO)), int(np.sum(ref < ZERO))
    return float(stats.fisher_exact([[a, draws.size - a], [b, ref.size - b]]).pvalue)


def _validate(draws: object, case: Mapping[str, Any]) -> str | None:
    arr = np.asarray(draws, dtype=np.float64) if isinstance(draws, list | tuple | np.ndarray) else None
    if arr is None or arr.shape != (case["nsim"],):
        return f"return a numpy array of nsim = {case['nsim']} statistics, got {type(draws).__name__}"
    if not np.all(np.isfinite(arr)) or np.any(arr < -1e-6):
        return "every statistic must be finite and ≥ 0 (twice a gain in maximised log-likelihood)"
    return None


BOOT_SUBTESTS = (
    SubTest("zero share", _zero_share,
            "The share of statistics equal to 0 (refits with τ̂ = 0) differs from the null distribution's: under "
            "H0 about half or more of the refits are on the boundary. Simulate from the fitted GLM and refit both models."),
    SubTest("Kolmogorov–Smirnov", _ks, BOOT_HINT),
)

_ARGS_DOC = """X: fixed-effects design, shape (n, p); the first column is the intercept (ones).
        y: responses, shape (n,): counts (Poisson) or 0/1 (binomial).
        cluster: cluster label of each observation, shape (n,) (integers).
        family: "poisson" (log link) or "binomial" (0/1 responses, logit link)."""

FUNCTIONS = (
    FunctionSpec(
        "variance_test",
        "(X, y, cluster, family)",
        f"""Likelihood-ratio test of H0: τ² = 0 in the random-intercept GLMM g(μ_ij) = X[ij] @ beta + γ_i.

    Args:
        {_ARGS_DOC}

    Returns:
        dict with keys
          "lrt": 2 (ℓ_GLMM − ℓ_GLM), the GLMM's ℓ the maximised Laplace log-likelihood (τ ≥ 0) (float),
          "p_chisq": the p-value from the χ²₁ distribution (float),
          "p_mixture": the p-value from the 50:50 mixture of χ²₀ and χ²₁ (float).""",
    ),
    FunctionSpec(
        "null_lrt_draws",
        "(X, y, cluster, family, nsim, rng)",
        f"""Parametric bootstrap of the likelihood-ratio statistic under H0: τ² = 0.

    Args:
        {_ARGS_DOC}
        nsim: number of bootstrap replicates (int).
        rng: a numpy.random.Generator; draw every random number from it.

    Returns:
        numpy array of nsim statistics, each computed like variance_test's "lrt" on a new response.""",
    ),
)

#: Written answers (graded by hand in the instructor's review).
WRITTEN = (
    WrittenItem(
        "boundary", "explain_boundary",
        "Explain in a few sentences why the χ²₁ p-value of the likelihood-ratio test of τ² = 0 is conservative, "
        "where the 50:50 mixture of χ²₀ and χ²₁ comes from, and what your bootstrap shows about it on your data.",
    ),
)

LRT_TOL = Comparison(rtol=1e-4, atol=1e-3)
P_TOL = Comparison(rtol=2e-3, atol=1e-12)


def build(params: dict[str, Any]) -> Exercise:
    """The exercise for one variant: the student's data set, simulated data sets and a bootstrap check."""
    family = params["family"]
    own_case = st.just(json.dumps(params, sort_keys=True)).map(lambda _: _own_case(params))
    gen = _generated(family)

    def check(name: str, key: str, desc: str, points: float, vis: str, cases: Any, oracle: Any,
              tol: Comparison, hint: str, diagnoses: tuple[Diagnosis, ...], examples: int) -> PropertyCheck:
        return PropertyCheck(
            name=name, function="variance_test", description=desc, points=points,
            visibility=vis,  # type: ignore[arg-type]
            cases=cases, oracle=oracle, comparison=tol, hint=hint, diagnoses=diagnoses,
            extract=dict_entry(key, "variance_test", "lrt, p_chisq, p_mixture"), time_limit=20.0, max_examples=examples,
        )

    own_desc = f"your data set ({params['n_clusters']} clusters, {family})"
    gen_desc = f"simulated {family} data sets, 8-14 clusters of 4-8, τ̂ > 0"
    checks: tuple[PropertyCheck | StatisticalCheck, ...] = (
        check("lrt_own", "lrt", f"LRT on {own_desc}", 2, "public", own_case, lrt_oracle, LRT_TOL, LRT_HINT,
              LRT_DIAGNOSES, 1),
        check("p_chisq_own", "p_chisq", f"χ²₁ p-value on {own_desc}", 1, "public", own_case, p_chisq_oracle, P_TOL,
              P_CHISQ_HINT, P_CHISQ_DIAGNOSES, 1),
        check("p_mixture_own", "p_mixture", f"mixture p-value on {own_desc}", 1, "public", own_case,
              p_mixture_oracle, P_TOL, P_MIXTURE_HINT, P_MIXTURE_DIAGNOSES, 1),
        check("lrt_generated", "lrt", f"LRT on {gen_desc}", 2, "hidden", gen, lrt_oracle, LRT_TOL, LRT_HINT,
              LRT_DIAGNOSES, 3),
        check("p_mixture_generated", "p_mixture", f"mixture p-value on {gen_desc}", 1, "hidden", gen,
              p_mixture_oracle, P_TOL, P_MIXTURE_HINT, P_MIXTURE_DIAGNOSES, 3),
        StatisticalCheck(
            name="bootstrap", function="null_lrt_draws",
            description=f"{NSIM} bootstrap statistics on your data set and on a clearly clustered one, against "
                        f"{REFERENCE_NSIM} reference replicates",
            points=3, visibility="public",
            cases=({**_own_case(params), "nsim": NSIM}, strong_case(family)),
            subtests=BOOT_SUBTESTS, validate=_validate, hint=BOOT_HINT, alpha=1e-5, time_limit=90.0,
        ),
    )
    return Exercise(id=ID, version=VERSION, title=TITLE, functions=FUNCTIONS, checks=checks, public_seed=20241205,
                    forbidden_imports=("reference", "graders", "glmm_exercises", "statsmodels"), call_seconds=90.0,
                    written=WRITTEN)


EXERCISE = build(DEFAULT_PARAMS)

_P_MIXTURE = frozenset({"p_mixture_own", "p_mixture_generated"})

#: mutant name -> the checks it fails (in every variant) when all checks run.
MUTANTS: dict[str, frozenset[str]] = {
    "lrt_not_doubled": frozenset({"lrt_own", "p_chisq_own", "lrt_generated"}) | _P_MIXTURE,
    "chisq_two_df": frozenset({"p_chisq_own"}) | _P_MIXTURE,
    "mixture_as_chisq": _P_MIXTURE,
    "mixture_doubled": _P_MIXTURE,
    "bootstrap_chisq": frozenset({"bootstrap"}),
    "bootstrap_from_glmm": frozenset({"bootstrap"}),
    "bootstrap_observed_data": frozenset({"bootstrap"}),
}

#: mutant name -> the mistakes its failing checks may name (the mutant's own; at least one is named).
MUTANT_DIAGNOSES: dict[str, frozenset[str]] = {
    "lrt_not_doubled": frozenset({"not_doubled"}),
    "chisq_two_df": frozenset({"two_df"}),
    "mixture_as_chisq": frozenset({"chisq"}),
    "mixture_doubled": frozenset({"doubled"}),
}
