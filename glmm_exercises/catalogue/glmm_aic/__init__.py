"""Exercise ``glmm-aic``: compare the GLM and random-intercept GLMMs by AIC and BIC, and choose.

Model family: ``y_ij | γ_i ~ f(y | μ_ij)``, Poisson with log link or binary with logit link (the variant
picks the family), with an observation-level covariate ``x1`` and a weak cluster-level covariate ``x2``.
Candidates (``CANDIDATES``): the GLM ``y ~ x1 + x2`` and the random-intercept GLMMs
``y ~ x1 + x2 + (1 | cluster)``, ``y ~ x1 + (1 | cluster)`` and ``y ~ 1 + (1 | cluster)``. Students
write ``information_criteria(X, y, cluster, family)`` (AIC and BIC of one model, the GLM when
``cluster`` is None; Laplace likelihood for the GLMM, as lme4) and ``choose_model(data, family)`` (the
candidate each criterion picks), and explain the choice in words (a
:class:`~graders.checks.WrittenItem`).

Oracles: :func:`reference.glm.glm_fit` and :func:`reference.glmer` (``.aic``, ``.bic``; lme4 counts
τ as a parameter and uses the number of observations in BIC). Diagnoses express the classic mistakes
through the reference: τ not counted, BIC with the number of clusters, the deviance for the AIC.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from glmm_exercises.catalogue.extract import dict_entry
from glmm_exercises.catalogue.glmm_fit import fit_problems, reference_fit
from graders.checks import Diagnosis, Exercise, FunctionSpec, PropertyCheck, WrittenItem
from graders.compare import Comparison
from reference.errors import ModelInputError
from reference.families import resolve
from reference.glm import glm_fit
from reference.simulate import draw_response

__all__ = [
    "CANDIDATES",
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

ID = "glmm-aic"
TITLE = "Choosing between the GLM and GLMMs by AIC and BIC"
VERSION = "1"
SHEET = "exercises/glmm_aic.md.j2"

FAMILIES = ("poisson", "binomial")

#: candidate name -> (fixed-effect columns of the data, random intercept per cluster?)
CANDIDATES: dict[str, tuple[tuple[str, ...], bool]] = {
    "glm": (("x1", "x2"), False),
    "glmm": (("x1", "x2"), True),
    "glmm_x1": (("x1",), True),
    "glmm_null": ((), True),
}

DEFAULT_PARAMS: dict[str, Any] = {
    "family": "poisson",
    "beta": [0.4, 0.5, 0.15],
    "tau": 0.5,
    "n_clusters": 16,
    "cluster_size": 8,
    "data_seed": 5150,
}

#: the best and second-best candidate must differ by at least this much in AIC and in BIC
MIN_GAP = 0.1


def draw_params(rng: np.random.Generator) -> dict[str, Any]:
    """One variant: family, true (β0, β1, β2) with a weak β2, τ, sizes and a data seed; re-drawn until sound."""
    while True:
        family = str(rng.choice(FAMILIES))
        b0 = float(rng.uniform(0.0, 1.0)) if family == "poisson" else float(rng.uniform(-0.5, 0.5))
        params = {
            "family": family,
            "beta": [round(b0, 2), round(float(rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 0.8)), 2),
                     round(float(rng.choice([-1.0, 1.0]) * rng.uniform(0.0, 0.4)), 2)],
            "tau": round(float(rng.uniform(0.35, 0.9)), 2),
            "n_clusters": int(rng.integers(12, 21)),
            "cluster_size": int(rng.integers(6, 11)),
            "data_seed": int(rng.integers(0, 2**31 - 1)),
        }
        if not problems(params):
            return params


def _simulate(beta: Any, tau: float, m: int, size: int, family: str, seed: int) -> pd.DataFrame:
    """Clusters of equal size: x1 ~ N(0, 1) per row, x2 ~ N(0, 1) per cluster, γ ~ N(0, τ²)."""
    rng = np.random.default_rng(seed)
    fam, link = resolve(family)
    cluster = np.repeat(np.arange(1, m + 1), size)
    x1 = np.round(rng.normal(0.0, 1.0, cluster.size), 4)
    x2 = np.round(rng.normal(0.0, 1.0, m), 3)[cluster - 1]
    gamma = rng.normal(0.0, tau, m)[cluster - 1]
    mu = link.inverse(beta[0] + beta[1] * x1 + beta[2] * x2 + gamma)
    y = draw_response(rng, fam, mu, trials=np.ones(cluster.size) if family == "binomial" else None)
    return pd.DataFrame({"cluster": cluster, "x1": x1, "x2": x2, "y": y.astype(int)})


def make_data(params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """``clusters.csv``: columns ``cluster`` (1..m), ``x1`` (per row), ``x2`` (per cluster), ``y``."""
    return {"clusters": _simulate(params["beta"], float(params["tau"]), int(params["n_clusters"]),
                                  int(params["cluster_size"]), params["family"], int(params["data_seed"]))}


def _model_case(data: pd.DataFrame, family: str, name: str) -> dict[str, Any]:
    columns, clustered = CANDIDATES[name]
    X = np.column_stack([np.ones(len(data)), *(data[c].to_numpy(dtype=np.float64) for c in columns)])
    return {"X": X, "y": data["y"].to_numpy(dtype=np.float64),
            "cluster": data["cluster"].to_numpy() if clustered else None, "family": family}


def _table(data: pd.DataFrame, family: str) -> dict[str, tuple[float, float]]:
    """{candidate: (AIC, BIC)} from the reference fits."""
    return {name: (aic_oracle(**case), bic_oracle(**case))
            for name in CANDIDATES for case in [_model_case(data, family, name)]}


def _gap_problems(table: dict[str, tuple[float, float]]) -> list[str]:
    out = []
    for k, criterion in enumerate(("AIC", "BIC")):
        best = sorted(v[k] for v in table.values())
        if best[1] - best[0] < MIN_GAP:
            out.append(f"the two best candidates have nearly equal {criterion} (< {MIN_GAP} apart)")
    return out


def _data_problems(data: pd.DataFrame, family: str) -> list[str]:
    out: list[str] = []
    try:
        for name, (_, clustered) in CANDIDATES.items():
            case = _model_case(data, family, name)
            if clustered:
                out += [f"{name}: {p}" for p in fit_problems(reference_fit(case["X"], case["y"], case["cluster"], family))]
        return out + _gap_problems(_table(data, family))
    except (ModelInputError, ArithmeticError, ValueError) as exc:
        return [f"a reference fit failed: {exc}"]


def problems(params: dict[str, Any]) -> list[str]:
    """Well-posedness: every GLMM reference fit interior and converged, no near tie in AIC or in BIC."""
    if params.get("family") not in FAMILIES:
        return [f"family must be one of {FAMILIES}"]
    return _data_problems(make_data(params)["clusters"], params["family"])


# Oracles --------------------------------------------------------------------------------------


def _fit(X: Any, y: Any, cluster: Any, family: str) -> Any:
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return glm_fit(X, y, family, None) if cluster is None else reference_fit(X, y, cluster, family)


def aic_oracle(X: Any, y: Any, cluster: Any, family: str) -> float:
    return float(_fit(X, y, cluster, family).aic)


def bic_oracle(X: Any, y: Any, cluster: Any, family: str) -> float:
    return float(_fit(X, y, cluster, family).bic)


def _choice(data: pd.DataFrame, family: str, k: int) -> str:
    table = _table(data, family)
    return min(table, key=lambda name: table[name][k])


def choose_aic_oracle(data: pd.DataFrame, family: str) -> str:
    return _choice(data, family, 0)


def choose_bic_oracle(data: pd.DataFrame, family: str) -> str:
    return _choice(data, family, 1)


# Classic mistakes, through the reference -------------------------------------------------------


def _is_glmm(c: dict[str, Any]) -> float:
    return 0.0 if c["cluster"] is None else 1.0


def _n_clusters(c: dict[str, Any]) -> int:
    return len(np.unique(np.asarray(c["cluster"]))) if c["cluster"] is not None else len(c["y"])


def _npar(c: dict[str, Any]) -> int:
    return int(np.asarray(c["X"]).shape[1]) + int(_is_glmm(c))


AIC_DIAGNOSES = (
    Diagnosis("no_tau", lambda **c: aic_oracle(**c) - 2 * _is_glmm(c),
              "Your AIC does not count τ: the GLMM has p + 1 parameters (β and the random-intercept SD)."),
    Diagnosis("deviance", lambda **c: aic_oracle(**c) - 2 * _npar(c),
              "You returned −2 log L without the penalty 2 × (number of parameters)."),
)
BIC_DIAGNOSES = (
    Diagnosis("no_tau", lambda **c: bic_oracle(**c) - math.log(len(c["y"])) * _is_glmm(c),
              "Your BIC does not count τ: the GLMM has p + 1 parameters (β and the random-intercept SD)."),
    Diagnosis("log_clusters", lambda **c: bic_oracle(**c) + (math.log(_n_clusters(c)) - math.log(len(c["y"]))) * _npar(c),
              "Your BIC uses the number of clusters as n; lme4 (and this exercise) use the number of observations."),
)

AIC_HINT = (
    "AIC = −2 log L + 2k: log L is the maximised log-likelihood with every constant (Laplace for the GLMM) and k "
    "counts β and, for the GLMM, τ."
)
BIC_HINT = "BIC = −2 log L + k log n, with n the number of observations and k as for AIC."
CHOOSE_HINT = (
    'Return {"aic": name, "bic": name}: for each criterion the candidate ("glm", "glmm", "glmm_x1", "glmm_null") '
    "with the smallest value — smaller is better."
)
CHOOSE_DIAGNOSES: tuple[Diagnosis, ...] = ()


# Strategies -----------------------------------------------------------------------------------


def _generated(family: str) -> st.SearchStrategy[dict[str, Any]]:
    """Simulated data sets and one random-intercept candidate each, where the reference fit is interior."""

    def make(seed: int, m: int, size: int, name: str) -> dict[str, Any] | None:
        beta = [0.3, 0.5, 0.2] if family == "poisson" else [0.0, 0.8, 0.3]
        data = _simulate(beta, 0.8, m, size, family, seed)
        case = _model_case(data, family, name)
        if case["cluster"] is not None:
            try:
                if fit_problems(reference_fit(case["X"], case["y"], case["cluster"], family)):
                    return None
            except (ModelInputError, ArithmeticError, ValueError):
                return None
        return case

    glmms = [name for name, (_, clustered) in CANDIDATES.items() if clustered]  # the GLM is checked on your data
    return st.builds(make, st.integers(0, 2**31 - 1), st.integers(8, 14), st.integers(4, 8),
                     st.sampled_from(glmms)).filter(lambda c: c is not None)


FUNCTIONS = (
    FunctionSpec(
        "information_criteria",
        "(X, y, cluster, family)",
        """AIC and BIC of one model fitted by maximum likelihood.

    cluster None: the GLM g(μ_i) = X[i] @ beta. Otherwise the random-intercept GLMM
    g(μ_ij) = X[ij] @ beta + γ_i, γ_i ~ N(0, τ²), fitted by the Laplace approximation (as lme4::glmer).

    Args:
        X: fixed-effects design, shape (n, p); the first column is the intercept (ones).
        y: responses, shape (n,): counts (Poisson) or 0/1 (binomial).
        cluster: cluster label of each observation, shape (n,) (integers), or None for the GLM.
        family: "poisson" (log link) or "binomial" (0/1 responses, logit link).

    Returns:
        dict with keys "aic" and "bic" (floats).""",
    ),
    FunctionSpec(
        "choose_model",
        "(data, family)",
        """The candidate each criterion chooses.

    Candidates: "glm" (y ~ x1 + x2, no random effect), "glmm" (y ~ x1 + x2 + (1 | cluster)),
    "glmm_x1" (y ~ x1 + (1 | cluster)), "glmm_null" (y ~ 1 + (1 | cluster)).

    Args:
        data: pandas DataFrame with columns cluster, x1, x2, y (like clusters.csv).
        family: "poisson" or "binomial".

    Returns:
        dict {"aic": name, "bic": name}: the candidate with the smallest AIC, and with the smallest BIC.""",
    ),
)

#: Written answers (graded by hand in the instructor's review).
WRITTEN = (
    WrittenItem(
        "choice", "explain_model_choice",
        "Which model do you choose for your data, and why? Say where AIC and BIC agree or disagree and why "
        "they can (their penalties per parameter), and what the comparison of the GLM with the GLMM says about "
        "τ² (remember that τ² = 0 lies on the boundary).",
    ),
)

TOL = Comparison(rtol=1e-6, atol=1e-3)
NAME = Comparison(kind="string")


def build(params: dict[str, Any]) -> Exercise:
    """The exercise for one variant: the candidates on the student's data set, and simulated data sets."""
    family = params["family"]
    key = json.dumps(params, sort_keys=True)

    def own_model() -> st.SearchStrategy[dict[str, Any]]:
        return st.sampled_from(list(CANDIDATES)).map(
            lambda name: _model_case(make_data(params)["clusters"], family, name))

    own_data = st.just(key).map(lambda _: {"data": make_data(params)["clusters"], "family": family})
    gen = _generated(family)

    def check(name: str, function: str, desc: str, points: float, vis: str, cases: Any, oracle: Any,
              tol: Comparison, hint: str, diagnoses: tuple[Diagnosis, ...], examples: int,
              extract: Callable[[Any], Any]) -> PropertyCheck:
        return PropertyCheck(
            name=name, function=function, description=desc, points=points,
            visibility=vis,  # type: ignore[arg-type]
            cases=cases, oracle=oracle, comparison=tol, hint=hint, diagnoses=diagnoses,
            extract=extract, time_limit=60.0, max_examples=examples,
        )

    ic = ("information_criteria", "aic, bic")
    ch = ("choose_model", "aic, bic")
    own_desc = f"the four candidates on your data set ({params['n_clusters']} clusters, {family})"
    gen_desc = f"one random-intercept candidate on simulated {family} data sets, 8-14 clusters of 4-8"
    checks = (
        check("aic_own", "information_criteria", f"AIC of {own_desc}", 2, "public", own_model(), aic_oracle, TOL,
              AIC_HINT, AIC_DIAGNOSES, 6, dict_entry("aic", *ic)),
        check("bic_own", "information_criteria", f"BIC of {own_desc}", 2, "public", own_model(), bic_oracle, TOL,
              BIC_HINT, BIC_DIAGNOSES, 6, dict_entry("bic", *ic)),
        check("aic_generated", "information_criteria", f"AIC of {gen_desc}", 1, "hidden", gen, aic_oracle, TOL,
              AIC_HINT, AIC_DIAGNOSES, 4, dict_entry("aic", *ic)),
        check("bic_generated", "information_criteria", f"BIC of {gen_desc}", 1, "hidden", gen, bic_oracle, TOL,
              BIC_HINT, BIC_DIAGNOSES, 4, dict_entry("bic", *ic)),
        check("choose_aic_own", "choose_model", "the AIC choice on your data set", 1, "public", own_data,
              choose_aic_oracle, NAME, CHOOSE_HINT, CHOOSE_DIAGNOSES, 1, dict_entry("aic", *ch)),
        check("choose_bic_own", "choose_model", "the BIC choice on your data set", 1, "public", own_data,
              choose_bic_oracle, NAME, CHOOSE_HINT, CHOOSE_DIAGNOSES, 1, dict_entry("bic", *ch)),
    )
    return Exercise(id=ID, version=VERSION, title=TITLE, functions=FUNCTIONS, checks=checks, public_seed=20241206,
                    forbidden_imports=("reference", "graders", "glmm_exercises", "statsmodels"), call_seconds=60.0,
                    written=WRITTEN)


EXERCISE = build(DEFAULT_PARAMS)

#: mutant name -> the checks it fails on the default variant when all checks run (see mutants_for).
MUTANTS: dict[str, frozenset[str]] = {
    "npar_without_tau": frozenset({"aic_own", "bic_own", "aic_generated", "bic_generated"}),
    "bic_log_clusters": frozenset({"bic_own", "bic_generated", "choose_bic_own"}),
    "aic_is_deviance": frozenset({"aic_own", "aic_generated"}),
    "choose_largest": frozenset({"choose_aic_own", "choose_bic_own"}),
}

#: How each IC mistake moves a candidate's (AIC, BIC), given the true pair, n, number of clusters, k.
_IC_ERRORS: dict[str, Callable[[float, float, int, int, int, bool], tuple[float, float]]] = {
    "npar_without_tau": lambda a, b, n, m, k, g: (a - 2 * g, b - math.log(n) * g),
    "bic_log_clusters": lambda a, b, n, m, k, g: (a, b + (math.log(m) - math.log(n)) * k if g else b),
    "aic_is_deviance": lambda a, b, n, m, k, g: (a - 2 * k, b),
}


def mutants_for(params: dict[str, Any]) -> dict[str, frozenset[str]]:
    """The mutants' failing checks in one variant (``MUTANTS`` is exact for the default variant).

    Whether a wrong criterion changes the choice depends on the variant's margins: the choice is
    recomputed from the reference values with each mutant's error applied, and the choice check is
    expected to fail exactly when the choice changes.
    """
    data = make_data(params)["clusters"]
    table = _table(data, params["family"])
    n, m = len(data), int(data["cluster"].nunique())
    out = dict(MUTANTS)
    for mutant, wrong in _IC_ERRORS.items():
        base = set(MUTANTS[mutant]) - {"choose_aic_own", "choose_bic_own"}
        moved = {name: wrong(a, b, n, m, len(CANDIDATES[name][0]) + 1 + CANDIDATES[name][1], CANDIDATES[name][1])
                 for name, (a, b) in table.items()}
        for k, check in enumerate(("choose_aic_own", "choose_bic_own")):
            if min(moved, key=lambda s: moved[s][k]) != min(table, key=lambda s: table[s][k]):
                base.add(check)
        out[mutant] = frozenset(base)
    return out


#: mutant name -> the mistakes its failing checks may name (the mutant's own; at least one is named).
MUTANT_DIAGNOSES: dict[str, frozenset[str]] = {
    "npar_without_tau": frozenset({"no_tau"}),
    "bic_log_clusters": frozenset({"log_clusters"}),
    "aic_is_deviance": frozenset({"deviance"}),
}
