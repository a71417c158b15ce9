"""Exercise ``conditional-modes``: predict the random intercepts of a GLMM (conditional modes).

Model: ``y_ij | γ_i ~ f(y | μ_ij)`` with ``g(μ_ij) = x_ijᵀβ + γ_i``, ``γ_i ~ N(0, τ²)``; Poisson with
log link or binary with logit link (the variant picks the family). Given β and τ, each cluster's
random intercept is predicted by the mode γ̂_i of its conditional density
``f(γ | y_i) ∝ Π_j f(y_ij | γ) φ(γ; 0, τ²)`` (lme4's ``ranef``), and its uncertainty by the
conditional variance ``1 / (−d²/dγ² log f(γ | y_i))`` at the mode (lme4's ``condVar``). Students
write ``conditional_modes`` and ``conditional_variances`` and explain in words why the modes shrink
toward 0 (a :class:`~graders.checks.WrittenItem`).

Oracles: on the student's data set, β and τ are the reference fit's estimates
(:func:`reference.glmer`, through ``glmm_fit.reference_fit``) and the expected values are that fit's ``ranef`` (modes and conditional
variances); on simulated data sets with hypothesis-drawn β and τ, they come from
:func:`reference.marginal.conditional_mode`, one cluster at a time (no fit needed: fast). Diagnoses
express the classic mistakes through the reference: τ read as a variance, the variance without the
prior's curvature 1/τ², its square root, and the curvature taken at γ = 0 instead of at the mode.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from glmm_exercises.catalogue.glmm_fit import fit_problems, reference_fit
from graders.checks import Diagnosis, Exercise, FunctionSpec, PropertyCheck, WrittenItem
from graders.compare import Comparison
from reference.errors import ModelInputError
from reference.families import resolve
from reference.marginal import conditional_mode
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
    "mutants_for",
    "problems",
]

ID = "conditional-modes"
TITLE = "Predicting the random effects: conditional modes and conditional variances"
VERSION = "1"
SHEET = "exercises/conditional_modes.md.j2"

FAMILIES = ("poisson", "binomial")

DEFAULT_PARAMS: dict[str, Any] = {
    "family": "poisson",
    "beta": [0.3, 0.6],
    "tau": 0.8,
    "n_clusters": 14,
    "max_size": 10,
    "data_seed": 8080,
}

#: the reference τ̂ must be this far from 0 (interior fit) and from 1 (so τ and τ² differ visibly).
MIN_TAU = 0.1
AWAY_FROM_ONE = 0.05


def draw_params(rng: np.random.Generator) -> dict[str, Any]:
    """One variant: family, true (β, τ), clusters, largest cluster size, data seed; re-drawn until sound."""
    while True:
        family = str(rng.choice(FAMILIES))
        if family == "poisson":
            beta = [round(float(rng.uniform(-0.2, 1.0)), 2), round(float(rng.uniform(-0.8, 0.8)), 2)]
        else:
            beta = [round(float(rng.uniform(-0.8, 0.8)), 2), round(float(rng.uniform(-1.2, 1.2)), 2)]
        params = {
            "family": family,
            "beta": beta,
            "tau": round(float(rng.uniform(0.6, 1.5)), 2),
            "n_clusters": int(rng.integers(10, 17)),
            "max_size": int(rng.integers(8, 13)),
            "data_seed": int(rng.integers(0, 2**31 - 1)),
        }
        if not problems(params):
            return params


def make_data(params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """``clusters.csv``: columns ``cluster`` (1..m), ``x``, ``y``; cluster sizes vary from 1 to ``max_size``."""
    m, size = int(params["n_clusters"]), int(params["max_size"])
    seed = int(params["data_seed"])
    df = simulate_glmm(params["beta"], float(params["tau"]) ** 2, n_clusters=m, cluster_size=size,
                       family=params["family"], seed=seed)
    keep = np.random.default_rng([seed, 1]).integers(1, size + 1, m)  # unequal sizes: shrinkage differs
    rows = df.groupby("cluster").cumcount().to_numpy() < keep[df["cluster"].to_numpy() - 1]
    df = df[rows]
    return {"clusters": pd.DataFrame({"cluster": df["cluster"].to_numpy(), "x": np.round(df["x1"].to_numpy(), 4),
                                      "y": df["y"].to_numpy()})}


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


_OWN: dict[str, dict[str, Any]] = {}


def _own_case(params: dict[str, Any]) -> dict[str, Any]:
    """The student's data with β and τ set to the reference fit's estimates (computed once)."""
    key = _key(params)
    if key not in _OWN:
        data = make_data(params)["clusters"]
        X = np.column_stack([np.ones(len(data)), data["x"].to_numpy(dtype=np.float64)])
        case = {"X": X, "y": data["y"].to_numpy(dtype=np.float64), "cluster": data["cluster"].to_numpy(),
                "beta": None, "tau": None, "family": params["family"]}
        fit = reference_fit(case["X"], case["y"], case["cluster"], case["family"])
        case["beta"] = fit.fixef.to_numpy()
        case["tau"] = float(fit.re_sd["cluster"].iloc[0])
        _OWN[key] = case
    return _OWN[key]


def problems(params: dict[str, Any]) -> list[str]:
    """Well-posedness: known family; the reference fit of the variant's data converges, τ̂ interior and ≠ 1."""
    if params.get("family") not in FAMILIES:
        return [f"family must be one of {FAMILIES}"]
    try:
        case = _own_case(params)
    except (ModelInputError, ArithmeticError, ValueError) as exc:
        return [f"the reference fit of the variant's data failed: {exc}"]
    out = fit_problems(reference_fit(case["X"], case["y"], case["cluster"], case["family"]))
    tau = case["tau"]
    if not tau > MIN_TAU:
        out.append(f"reference τ̂ = {tau:.3g} is too close to 0 for clear shrinkage (need > {MIN_TAU})")
    if abs(tau - 1.0) < AWAY_FROM_ONE:
        out.append(f"reference τ̂ = {tau:.3g} is too close to 1: τ and τ² would be indistinguishable")
    return out


# Oracles --------------------------------------------------------------------------------------


def fit_modes_oracle(X: Any, y: Any, cluster: Any, beta: Any, tau: float, family: str) -> np.ndarray:
    """The reference fit's conditional modes (lme4's ``ranef``), by sorted cluster label."""
    return reference_fit(X, y, cluster, family).ranef["cluster"].modes.to_numpy()[:, 0]


def fit_condvar_oracle(X: Any, y: Any, cluster: Any, beta: Any, tau: float, family: str) -> np.ndarray:
    """The reference fit's conditional variances (lme4's ``condVar``), by sorted cluster label."""
    return reference_fit(X, y, cluster, family).ranef["cluster"].condvar[:, 0, 0]


def _per_cluster(X: Any, y: Any, cluster: Any, beta: Any, tau: float, family: str) -> list[Any]:
    X, y, cluster = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64), np.asarray(cluster)
    return [conditional_mode(y[cluster == c], X[cluster == c], np.asarray(beta, dtype=np.float64), float(tau), family)
            for c in np.unique(cluster)]


def modes_oracle(X: Any, y: Any, cluster: Any, beta: Any, tau: float, family: str) -> np.ndarray:
    """Conditional mode of each cluster's random intercept at the given β and τ (sorted labels)."""
    return np.array([cm.mode for cm in _per_cluster(X, y, cluster, beta, tau, family)])


def condvar_oracle(X: Any, y: Any, cluster: Any, beta: Any, tau: float, family: str) -> np.ndarray:
    """Conditional variance (inverse negative curvature at the mode) of each cluster's intercept."""
    return np.array([cm.scale**2 for cm in _per_cluster(X, y, cluster, beta, tau, family)])


# Classic mistakes, through the reference -------------------------------------------------------


def _tau_as_variance(oracle: Any) -> Any:
    return lambda **c: oracle(**{**c, "tau": float(np.sqrt(c["tau"]))})


def _without_prior_curvature(**c: Any) -> np.ndarray:
    return 1.0 / (1.0 / condvar_oracle(**c) - 1.0 / float(c["tau"]) ** 2)


def _curvature_at_zero(**c: Any) -> np.ndarray:
    fam, link = resolve(c["family"])
    X, cluster = np.asarray(c["X"], dtype=np.float64), np.asarray(c["cluster"])
    mu = link.inverse(X @ np.asarray(c["beta"], dtype=np.float64))
    weight = fam.variance(mu)  # canonical link: the Fisher weight is the variance function
    labels, idx = np.unique(cluster, return_inverse=True)
    return 1.0 / (np.bincount(idx, weight, labels.size) + 1.0 / float(c["tau"]) ** 2)


TAU_VARIANCE_HINT = (
    "Your values match the prediction with τ read as a variance: the argument tau is the standard deviation, "
    "so the prior term is −γ²/(2τ²)."
)
MODES_DIAGNOSES = (Diagnosis("tau_as_variance", _tau_as_variance(modes_oracle), TAU_VARIANCE_HINT),)
CONDVAR_DIAGNOSES = (
    Diagnosis("tau_as_variance", _tau_as_variance(condvar_oracle), TAU_VARIANCE_HINT),
    Diagnosis("no_prior_curvature", _without_prior_curvature,
              "Your variances miss the prior's curvature: −d²/dγ² log f(γ | y) = Σ_j w_ij + 1/τ², "
              "so the variance is 1/(Σ_j w_ij + 1/τ²), not 1/Σ_j w_ij."),
    Diagnosis("sd", lambda **c: np.sqrt(condvar_oracle(**c)),
              "Your values are the conditional standard deviations: return the variances (their squares)."),
    Diagnosis("at_zero", _curvature_at_zero,
              "Your curvature is taken at γ = 0: evaluate the weights w_ij at the mode γ̂_i."),
)

MODES_HINT = (
    "γ̂_i maximises h_i(γ) = Σ_j log f(y_ij | γ) − γ²/(2τ²) (the prior term keeps it finite even when all "
    "y_ij are 0); iterate Newton's method γ ← γ − h_i'(γ)/h_i''(γ) to convergence, one cluster at a time or all "
    "at once, and return the modes ordered by sorted cluster label."
)
CONDVAR_HINT = (
    "The conditional variance is 1/(−h_i''(γ̂_i)) = 1/(Σ_j w_ij(γ̂_i) + 1/τ²) with the weights at the mode "
    "(Poisson: μ_ij, binary logit: π_ij(1 − π_ij)), ordered by sorted cluster label."
)


# Strategies -----------------------------------------------------------------------------------


def _generated(family: str) -> st.SearchStrategy[dict[str, Any]]:
    """Small simulated data sets with unequal clusters (some of one row) and hypothesis-drawn β, τ."""

    @st.composite
    def cases(draw: st.DrawFn) -> dict[str, Any]:
        m = draw(st.integers(3, 8))
        size = draw(st.integers(1, 8))
        p = draw(st.integers(1, 3))
        if family == "poisson":
            beta = [draw(st.sampled_from([-0.5, 0.0, 0.5, 1.2]))]
            beta += [draw(st.sampled_from([-0.6, -0.2, 0.3, 0.7])) for _ in range(p - 1)]
        else:
            beta = [draw(st.sampled_from([-1.0, 0.0, 0.8]))]
            beta += [draw(st.sampled_from([-1.0, -0.4, 0.5, 1.1])) for _ in range(p - 1)]
        tau = draw(st.sampled_from([0.3, 0.6, 1.6, 2.5]))  # never 1: τ and τ² must differ
        seed = draw(st.integers(0, 2**31 - 1))
        df = simulate_glmm(beta, tau**2, n_clusters=m, cluster_size=size, family=family, seed=seed)
        keep = np.random.default_rng(seed).integers(1, size + 1, m)
        df = df[df.groupby("cluster").cumcount().to_numpy() < keep[df["cluster"].to_numpy() - 1]]
        X = np.column_stack([np.ones(len(df)), *(np.round(df[f"x{j}"].to_numpy(), 4) for j in range(1, p))])
        # the model's β is given, not estimated: perturb it so the data do not fit it exactly
        given = [round(b + draw(st.sampled_from([-0.3, 0.0, 0.2])), 2) for b in beta]
        return {"X": X, "y": df["y"].to_numpy(dtype=np.float64), "cluster": df["cluster"].to_numpy(),
                "beta": np.array(given), "tau": tau, "family": family}

    return cases()


_ARGS_DOC = """X: fixed-effects design, shape (n, p); the first column is the intercept (ones).
        y: responses, shape (n,): counts (Poisson) or 0/1 (binomial).
        cluster: cluster label of each observation, shape (n,) (integers).
        beta: the fixed effects β (length p), taken as known.
        tau: the standard deviation τ > 0 of the random intercept, taken as known.
        family: "poisson" (log link) or "binomial" (0/1 responses, logit link)."""

FUNCTIONS = (
    FunctionSpec(
        "conditional_modes",
        "(X, y, cluster, beta, tau, family)",
        f"""The conditional mode γ̂_i of every cluster's random intercept.

    γ̂_i maximises Σ_j log f(y_ij | γ) + log φ(γ; 0, τ²) with η_ij = X[ij] @ beta + γ.

    Args:
        {_ARGS_DOC}

    Returns:
        numpy array of the m modes, in the order of the sorted cluster labels (np.unique(cluster)).""",
    ),
    FunctionSpec(
        "conditional_variances",
        "(X, y, cluster, beta, tau, family)",
        f"""The conditional variance of every cluster's random intercept (Laplace / normal approximation).

    1 / (−d²/dγ² [Σ_j log f(y_ij | γ) + log φ(γ; 0, τ²)]) at γ = γ̂_i.

    Args:
        {_ARGS_DOC}

    Returns:
        numpy array of the m variances, in the order of the sorted cluster labels.""",
    ),
)

#: Written answers (graded by hand in the instructor's review).
WRITTEN = (
    WrittenItem(
        "shrinkage", "explain_shrinkage",
        "Explain in a few sentences why the conditional modes are pulled toward 0 compared with what each "
        "cluster's data alone would suggest, why the pull is strongest for small clusters (and, for counts, "
        "clusters with small means), and why every conditional variance is smaller than τ².",
    ),
)

TOL = Comparison(rtol=1e-5, atol=1e-6)


def build(params: dict[str, Any]) -> Exercise:
    """The exercise for one variant: the student's data (β, τ from the reference fit) and simulated data sets."""
    family = params["family"]
    own = st.just(_key(params)).map(lambda _: _own_case(params))  # the fit runs only when a check needs it
    gen = _generated(family)

    def check(name: str, function: str, desc: str, points: float, vis: str, cases: Any, oracle: Any,
              hint: str, diagnoses: tuple[Diagnosis, ...], examples: int) -> PropertyCheck:
        return PropertyCheck(
            name=name, function=function, description=desc, points=points,
            visibility=vis,  # type: ignore[arg-type]
            cases=cases, oracle=oracle, comparison=TOL, hint=hint, diagnoses=diagnoses,
            time_limit=20.0, max_examples=examples,
        )

    own_desc = f"your data set ({params['n_clusters']} clusters, {family}) at the fitted β̂ and τ̂"
    gen_desc = f"simulated {family} data sets, 3-8 clusters of 1-8 rows, given β and τ"
    checks = (
        check("modes_own", "conditional_modes", f"modes on {own_desc}", 2, "public", own, fit_modes_oracle,
              MODES_HINT, MODES_DIAGNOSES, 1),
        check("condvar_own", "conditional_variances", f"variances on {own_desc}", 2, "public", own,
              fit_condvar_oracle, CONDVAR_HINT, CONDVAR_DIAGNOSES, 1),
        check("modes_generated", "conditional_modes", f"modes on {gen_desc}", 2, "hidden", gen, modes_oracle,
              MODES_HINT, MODES_DIAGNOSES, 15),
        check("condvar_generated", "conditional_variances", f"variances on {gen_desc}", 2, "hidden", gen,
              condvar_oracle, CONDVAR_HINT, CONDVAR_DIAGNOSES, 15),
    )
    return Exercise(id=ID, version=VERSION, title=TITLE, functions=FUNCTIONS, checks=checks, public_seed=20241204,
                    forbidden_imports=("reference", "graders", "glmm_exercises", "statsmodels"), call_seconds=20.0,
                    written=WRITTEN)


EXERCISE = build(DEFAULT_PARAMS)

_ALL = frozenset({c.name for c in EXERCISE.checks})
_CONDVAR = frozenset({"condvar_own", "condvar_generated"})

#: mutant name -> the checks it fails on the default (Poisson) variant when all checks run (see mutants_for).
MUTANTS: dict[str, frozenset[str]] = {
    "no_prior": _ALL,
    "tau_as_variance": _ALL,
    "one_newton_step": _ALL,
    "condvar_no_prior_curvature": _CONDVAR,
    "condvar_sd": _CONDVAR,
    "condvar_at_zero": _CONDVAR,
}



def mutants_for(params: dict[str, Any]) -> dict[str, frozenset[str]]:
    """Checks each mutant fails in this variant (used by selftest; ``MUTANTS`` is exact for the Poisson default).

    For binary data the weights π(1 − π) are flat near π = ½, so the curvature at the one-step value can
    equal the curvature at the mode within the tolerance: that mutant is only sure to miss the modes.
    """
    out = dict(MUTANTS)
    if params["family"] != "poisson":
        out["one_newton_step"] = frozenset({"modes_own", "modes_generated"})
    return out


#: mutant name -> the mistakes its failing checks may name (the mutant's own; at least one is named).
MUTANT_DIAGNOSES: dict[str, frozenset[str]] = {
    "tau_as_variance": frozenset({"tau_as_variance"}),
    "condvar_no_prior_curvature": frozenset({"no_prior_curvature"}),
    "condvar_sd": frozenset({"sd"}),
    "condvar_at_zero": frozenset({"at_zero"}),
}
