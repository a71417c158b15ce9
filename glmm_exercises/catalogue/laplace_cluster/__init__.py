"""Exercise ``laplace-cluster``: one cluster's marginal log-likelihood by Laplace and adaptive GHQ.

Model: ``Y_j | γ ~ f(y | μ_j)`` with ``g(μ_j) = x_jᵀβ + γ`` and ``γ ~ N(0, τ²)``, for a Poisson
(log link) or binary logit cluster — the variant picks the family. The cluster's contribution
``log ∫ Π_j f(y_j | γ) φ(γ; 0, τ²) dγ`` (with every constant, log y! included) is computed by the
Laplace approximation and by adaptive Gauss–Hermite quadrature with ``K`` nodes (lme4's
``nAGQ = K``).

Oracles: :func:`reference.marginal.cluster_loglik` with ``method="laplace"`` / ``"aghq"``.
Diagnoses use the same function (``method="ghq"`` for the non-adaptive rule) or
:func:`reference.marginal.conditional_mode` and :class:`reference.marginal.ClusterModel` to
express the classic mistakes; the family's log-density comes from :mod:`reference.families`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from graders.checks import Diagnosis, Exercise, FunctionSpec, PropertyCheck
from graders.compare import Comparison
from reference.marginal import ClusterModel, cluster_loglik, conditional_mode
from reference.quadrature import HALF_LOG_2PI

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
    "mutants_for",
    "problems",
]

ID = "laplace-cluster"
TITLE = "A cluster's marginal log-likelihood: Laplace approximation and adaptive Gauss–Hermite"
VERSION = "1"
SHEET = "exercises/laplace_cluster.md.j2"

FAMILIES = ("poisson", "binomial")

DEFAULT_PARAMS: dict[str, Any] = {
    "family": "poisson",
    "beta": [0.5, 0.8],
    "tau": 0.9,
    "K": 5,
    "n_clusters": 8,
    "data_seed": 1234,
}


def draw_params(rng: np.random.Generator) -> dict[str, Any]:
    """One variant: the family, true (β, τ) used to simulate the data set and evaluate it, K, a seed."""
    family = str(rng.choice(FAMILIES))
    if family == "poisson":
        beta = [round(float(rng.uniform(0.0, 1.2)), 2), round(float(rng.uniform(-0.8, 0.8)), 2)]
    else:
        beta = [round(float(rng.uniform(-1.0, 1.0)), 2), round(float(rng.uniform(-1.5, 1.5)), 2)]
    params = {
        "family": family,
        "beta": beta,
        "tau": round(float(rng.uniform(0.5, 2.0)), 2),
        "K": int(rng.choice([3, 5, 7, 9])),
        "n_clusters": int(rng.integers(6, 11)),
        "data_seed": int(rng.integers(0, 2**31 - 1)),
    }
    return params


def make_data(params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """``clusters.csv``: columns ``cluster``, ``x``, ``y`` simulated from the variant's model."""
    rng = np.random.default_rng(params["data_seed"])
    rows = []
    beta0, beta1 = params["beta"]
    for i in range(params["n_clusters"]):
        size = int(rng.integers(3, 13))
        gamma = rng.normal(0.0, params["tau"])
        x = np.round(rng.uniform(-1.0, 1.0, size), 3)
        eta = beta0 + beta1 * x + gamma
        if params["family"] == "poisson":
            y = rng.poisson(np.exp(eta))
        else:
            y = (rng.uniform(size=size) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
        rows.extend({"cluster": i + 1, "x": float(xj), "y": int(yj)} for xj, yj in zip(x, y, strict=True))
    return {"clusters": pd.DataFrame(rows, columns=["cluster", "x", "y"])}


def problems(params: dict[str, Any]) -> list[str]:
    """Well-posedness: a known family, finite β, τ > 0, K ≥ 2, and every cluster's mode found."""
    out: list[str] = []
    if params.get("family") not in FAMILIES:
        out.append(f"family must be one of {FAMILIES}")
        return out
    if not (params.get("tau", 0) > 0 and np.all(np.isfinite(params.get("beta", [np.nan])))):
        out.append("tau must be positive and beta finite")
        return out
    if not (isinstance(params.get("K"), int) and 2 <= params["K"] <= 25):
        out.append("K must be an integer between 2 and 25 (K = 1 is the Laplace approximation)")
    for case in _own_cases(params):
        try:
            conditional_mode(case["y"], case["X"], case["beta"], case["tau"], case["family"])
        except (ValueError, ArithmeticError) as exc:
            out.append(f"cluster mode not found: {exc}")
    return out


# Oracles -----------------------------------------------------------------------------------


def laplace_oracle(y: Any, X: Any, beta: Any, tau: float, family: str) -> float:
    """Laplace approximation from the reference (adaptive rule with one node)."""
    return cluster_loglik(y, X, beta, tau, family, method="laplace")


def ghq_oracle(y: Any, X: Any, beta: Any, tau: float, family: str, K: int) -> float:
    """Adaptive Gauss–Hermite with K nodes from the reference."""
    return cluster_loglik(y, X, beta, tau, family, method="aghq", k=K)


# Classic mistakes, through the reference -----------------------------------------------------------


def _model(y: Any, X: Any, beta: Any, tau: float, family: str) -> ClusterModel:
    return ClusterModel.from_data(y, X, beta, tau, family)


def _log_factorial_sum(y: Any, family: str) -> float:
    # Σ log y_j! is minus the Poisson log-density at μ = 1 minus its −1 per observation:
    # log f(y | μ = 1) = −1 − log y!  (through the reference family, not a new formula)
    if family != "poisson":
        return 0.0
    model = _model(y, np.ones((np.size(y), 1)), [0.0], 0.0, family)
    return -float(model.loglik(np.array(0.0))) - float(np.size(y))


def _laplace_no_factorial(y: Any, X: Any, beta: Any, tau: float, family: str) -> float:
    return laplace_oracle(y, X, beta, tau, family) + _log_factorial_sum(y, family)


def _ghq_no_factorial(y: Any, X: Any, beta: Any, tau: float, family: str, K: int) -> float:
    return ghq_oracle(y, X, beta, tau, family, K) + _log_factorial_sum(y, family)


def _laplace_no_curvature(y: Any, X: Any, beta: Any, tau: float, family: str) -> float:
    # log integrand at the mode, without ½log(2π) − ½log(curvature)
    found = conditional_mode(y, X, beta, tau, family)
    return found.log_integrand_at_mode


def _laplace_curvature_only(y: Any, X: Any, beta: Any, tau: float, family: str) -> float:
    # kept −½log(curvature) but dropped ½log(2π)
    return laplace_oracle(y, X, beta, tau, family) - HALF_LOG_2PI


def _laplace_at_zero(y: Any, X: Any, beta: Any, tau: float, family: str) -> float:
    # the Laplace formula evaluated at γ = 0 instead of the mode
    model = _model(y, X, beta, tau, family)
    _first, second = model.derivatives(0.0)
    return float(model.log_integrand(np.array(0.0))) + HALF_LOG_2PI - 0.5 * math.log(-second)


def _ghq_nonadaptive(y: Any, X: Any, beta: Any, tau: float, family: str, K: int) -> float:
    return cluster_loglik(y, X, beta, tau, family, method="ghq", k=K)


def _ghq_laplace(y: Any, X: Any, beta: Any, tau: float, family: str, K: int) -> float:
    return laplace_oracle(y, X, beta, tau, family)


NO_FACTORIAL_HINT = (
    "Your value matches leaving out −Σ log y_j! from the Poisson log-likelihood; the marginal "
    "log-likelihood includes every constant (lme4's logLik does), use scipy.special.gammaln(y + 1)."
)
LAPLACE_DIAGNOSES = (
    Diagnosis("no_log_factorial", _laplace_no_factorial, NO_FACTORIAL_HINT),
    Diagnosis(
        "no_curvature",
        _laplace_no_curvature,
        "Your value is the log integrand at the mode, g(γ̂): the Laplace approximation adds "
        "½ log(2π) − ½ log(−g''(γ̂)), the log of the width of the normal approximation.",
    ),
    Diagnosis(
        "no_2pi",
        _laplace_curvature_only,
        "Your value is ½ log(2π) too small: ∫ exp(−(γ − γ̂)²/(2σ²)) dγ = √(2π) σ.",
    ),
    Diagnosis(
        "at_zero",
        _laplace_at_zero,
        "Your value matches the Laplace formula evaluated at γ = 0: first find the mode γ̂ of "
        "g(γ) = Σ log f(y_j | γ) + log φ(γ; 0, τ²) (Newton's method), then expand around it.",
    ),
)
GHQ_DIAGNOSES = (
    Diagnosis("no_log_factorial", _ghq_no_factorial, NO_FACTORIAL_HINT),
    Diagnosis(
        "nonadaptive",
        _ghq_nonadaptive,
        "Your value matches non-adaptive Gauss–Hermite (nodes τ z_k around 0); the adaptive rule "
        "centres the nodes at the mode γ̂ and scales them by σ̂ = (−g''(γ̂))^(−1/2).",
    ),
    Diagnosis(
        "laplace",
        _ghq_laplace,
        "You returned the Laplace approximation; with K nodes use all K adaptive nodes γ̂ + σ̂ z_k.",
    ),
)
LAPLACE_HINT = (
    "Laplace: log L ≈ g(γ̂) + ½ log(2π) − ½ log(−g''(γ̂)) with g(γ) = Σ_j log f(y_j | γ) + log φ(γ; 0, τ²) "
    "(all constants included) and γ̂ the mode of g."
)
GHQ_HINT = (
    "Adaptive GHQ: with σ̂ = (−g''(γ̂))^(−1/2) and the standard-normal rule (z_k, w_k), "
    "L ≈ σ̂ Σ_k w_k exp(g(γ̂ + σ̂ z_k)) / φ(z_k); work on the log scale (logsumexp)."
)

# Strategies ------------------------------------------------------------------------------------


def _real(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def _clusters(
    draw: st.DrawFn, family: str, max_size: int, tau_range: tuple[float, float], k_range: tuple[int, int] | None
) -> dict[str, Any]:
    n = draw(st.integers(1, max_size))
    p = draw(st.integers(1, 3))
    cols = [np.ones(n)]
    for _ in range(p - 1):
        cols.append(np.array(draw(st.lists(_real(-1.5, 1.5), min_size=n, max_size=n))))
    X = np.column_stack(cols)
    if family == "poisson":
        beta = [draw(_real(-1.0, 2.0))] + [draw(_real(-0.7, 0.7)) for _ in range(p - 1)]
        y = draw(st.lists(st.integers(0, 25), min_size=n, max_size=n))
    else:
        beta = [draw(_real(-2.0, 2.0))] + [draw(_real(-1.5, 1.5)) for _ in range(p - 1)]
        y = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    case: dict[str, Any] = {
        "y": np.asarray(y, dtype=np.float64),
        "X": X,
        "beta": np.asarray(beta, dtype=np.float64),
        "tau": draw(_real(*tau_range)),
        "family": family,
    }
    if k_range is not None:
        case["K"] = draw(st.integers(*k_range))
    return case


def _inputs_key(cases: st.SearchStrategy[dict[str, Any]]) -> str | None:
    """The text that determines a generated-clusters strategy: ``_clusters`` is a module-level
    composite that uses only its arguments, all shown in its repr (so variants of one family
    share their generated inputs). The own-data checks (values from the variant) get none."""
    text = repr(cases)
    return text if text.startswith("_clusters(") else None


def _own_cases(params: dict[str, Any], K: int | None = None) -> list[dict[str, Any]]:
    """One case per cluster of the variant's data set, at the variant's (β, τ)."""
    data = make_data(params)["clusters"]
    out = []
    for _label, rows in data.groupby("cluster", sort=True):
        case: dict[str, Any] = {
            "y": rows["y"].to_numpy(dtype=np.float64),
            "X": np.column_stack([np.ones(len(rows)), rows["x"].to_numpy(dtype=np.float64)]),
            "beta": np.asarray(params["beta"], dtype=np.float64),
            "tau": float(params["tau"]),
            "family": params["family"],
        }
        if K is not None:
            case["K"] = K
        out.append(case)
    return out


#: the reference's curvature is a central difference of the analytic score (relative error ~1e-8),
#: which moves −½ log(curvature) by ~1e-8; 1e-7 absolute covers it with room.
TOL = Comparison(rtol=1e-9, atol=1e-7)

_ARGS_DOC = """Args:
        y: responses of the cluster, a 1-D float array (Poisson: counts; binomial: 0/1).
        X: fixed-effects design of the cluster, shape (len(y), len(beta)), intercept column included.
        beta: fixed effects, a 1-D float array.
        tau: standard deviation τ > 0 of the random intercept.
        family: "poisson" (log link) or "binomial" (binary y, logit link)."""

FUNCTIONS = (
    FunctionSpec(
        "laplace_loglik",
        "(y, X, beta, tau, family)",
        f"""Laplace approximation of one cluster's marginal log-likelihood.

    log ∫ Π_j f(y_j | γ) φ(γ; 0, τ²) dγ with g(μ_j) = X[j] @ beta + γ, every constant included
    (Poisson: −log y_j!).

    {_ARGS_DOC}

    Returns:
        The approximate log-likelihood contribution (a float).""",
    ),
    FunctionSpec(
        "ghq_loglik",
        "(y, X, beta, tau, family, K)",
        f"""Adaptive Gauss–Hermite approximation (K nodes) of one cluster's marginal log-likelihood.

    Same integral as laplace_loglik; the K nodes are centred at the mode of the integrand and
    scaled by its curvature (lme4's nAGQ = K). K = 1 gives the Laplace approximation.

    {_ARGS_DOC}
        K: number of quadrature nodes (an int ≥ 1).

    Returns:
        The approximate log-likelihood contribution (a float).""",
    ),
)


def build(params: dict[str, Any]) -> Exercise:
    """The exercise for one variant: generated clusters of the variant's family plus its own data."""
    family = params["family"]
    K = int(params["K"])

    def laplace(name: str, desc: str, points: float, vis: str, cases: st.SearchStrategy[dict[str, Any]]) -> PropertyCheck:
        return PropertyCheck(
            name=name,
            function="laplace_loglik",
            description=desc,
            points=points,
            visibility=vis,  # type: ignore[arg-type]
            cases=cases,
            oracle=laplace_oracle,
            comparison=TOL,
            hint=LAPLACE_HINT,
            diagnoses=LAPLACE_DIAGNOSES,
            inputs_key=_inputs_key(cases),
        )

    def ghq(name: str, desc: str, points: float, vis: str, cases: st.SearchStrategy[dict[str, Any]]) -> PropertyCheck:
        return PropertyCheck(
            name=name,
            function="ghq_loglik",
            description=desc,
            points=points,
            visibility=vis,  # type: ignore[arg-type]
            cases=cases,
            oracle=ghq_oracle,
            comparison=TOL,
            hint=GHQ_HINT,
            diagnoses=GHQ_DIAGNOSES,
            inputs_key=_inputs_key(cases),
        )

    checks = (
        laplace("laplace_small", f"{family} clusters of 1-10 observations, τ in [0.1, 2]", 3, "public",
                _clusters(family, 10, (0.1, 2.0), None)),
        laplace("laplace_own_data", "each cluster of your data set at your (β, τ)", 1, "public",
                st.sampled_from(_own_cases(params))),
        laplace("laplace_wide", f"{family} clusters of 1-30 observations, τ in [0.05, 3]", 2, "hidden",
                _clusters(family, 30, (0.05, 3.0), None)),
        ghq("ghq_small", f"{family} clusters of 1-10 observations, τ in [0.1, 2], K in 2-10", 3, "public",
            _clusters(family, 10, (0.1, 2.0), (2, 10))),
        ghq("ghq_own_data", f"each cluster of your data set at your (β, τ), K = {K}", 1, "public",
            st.sampled_from(_own_cases(params, K))),
        ghq("ghq_wide", f"{family} clusters of 1-30 observations, τ in [0.05, 3], K in 1-25", 2, "hidden",
            _clusters(family, 30, (0.05, 3.0), (1, 25))),
    )
    return Exercise(id=ID, version=VERSION, title=TITLE, functions=FUNCTIONS, checks=checks, public_seed=20241118)


EXERCISE = build(DEFAULT_PARAMS)

_LAPLACE = frozenset({"laplace_small", "laplace_own_data", "laplace_wide"})
_GHQ = frozenset({"ghq_small", "ghq_own_data", "ghq_wide"})

#: mutant name -> the checks it fails on the default (Poisson) variant when all checks run.
MUTANTS: dict[str, frozenset[str]] = {
    "drops_log_factorial": _LAPLACE | _GHQ,
    "laplace_no_curvature": _LAPLACE,
    "nonadaptive_ghq": _GHQ,
    "mode_at_zero": _LAPLACE,
}


def mutants_for(params: dict[str, Any]) -> dict[str, frozenset[str]]:
    """The mutants' failing checks in one variant: binary data have no log y! to drop."""
    out = dict(MUTANTS)
    if params["family"] == "binomial":
        out["drops_log_factorial"] = frozenset()
    return out

#: mutant name -> the mistakes its failing checks may name (the mutant's own; at least one is named).
MUTANT_DIAGNOSES: dict[str, frozenset[str]] = {
    "drops_log_factorial": frozenset({"no_log_factorial"}),
    "laplace_no_curvature": frozenset({"no_curvature"}),
    "mode_at_zero": frozenset({"at_zero"}),
    "nonadaptive_ghq": frozenset({"nonadaptive"}),
}
