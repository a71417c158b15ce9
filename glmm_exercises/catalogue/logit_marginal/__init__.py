"""Exercise ``logit-marginal``: the population-averaged probability of the logit random-intercept model.

Model (lecture notes, "Conditional and marginal model", binary example): ``Y | γ ~ Bin(1, π)``
with ``logit π = β0 + β1 x + γ`` and ``γ ~ N(0, τ²)``. The marginal probability
``P(Y = 1 | x) = ∫ expit(β0 + β1 x + γ) φ(γ; 0, τ²) dγ`` has no closed form; students compute it
by ``K``-node Gauss–Hermite quadrature, beside the "not mean" curve ``expit(β0 + β1 x)``, and
measure the attenuation of the population curve: the derivative of the population log-odds
``logit P(η)`` with respect to the conditional log-odds ``η`` (the ratio of the population slope
to the conditional slope, ≈ 1/√(1 + c²τ²) with c = 16√3/(15π)).

Oracles use :func:`reference.marginal.marginal_mean` with the same ``K`` (its plain
Gauss–Hermite branch), and for the attenuation the reference's Gauss–Hermite rule with the logit
link's ``inverse`` and ``mu_eta``. Diagnoses express each classic mistake through the same
functions with altered arguments.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from graders.checks import Diagnosis, Exercise, FunctionSpec, PropertyCheck
from graders.compare import Comparison
from reference.links import get_link
from reference.marginal import marginal_mean
from reference.quadrature import gauss_hermite

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

ID = "logit-marginal"
TITLE = "Marginal probability and attenuation in the logit random-intercept model"
VERSION = "1"
SHEET = "exercises/logit_marginal.md.j2"

LOGIT = get_link("logit")

#: the constant of the known approximation logit P ≈ η / √(1 + c²τ²) (shown in the sheet only).
APPROX_C = 16.0 * np.sqrt(3.0) / (15.0 * np.pi)

DEFAULT_PARAMS: dict[str, Any] = {"beta0": -0.5, "beta1": 1.2, "tau2": 2.0, "K": 20, "x_grid": [-3.0, -1.5, 0.0, 1.5, 3.0]}


def draw_params(rng: np.random.Generator) -> dict[str, Any]:
    """One variant: a model (β0, β1, τ²), a number of nodes K and a grid of x values."""
    beta0 = round(float(rng.uniform(-1.5, 1.5)), 2)
    beta1 = round(float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0)), 2)
    tau2 = round(float(rng.uniform(1.5, 4.0)), 2)  # away from 1, where τ² and τ coincide
    K = int(rng.choice([10, 15, 20, 25, 30]))
    x_grid = [round(v, 2) for v in np.linspace(-3.0, 3.0, 7).tolist()]
    return {"beta0": beta0, "beta1": beta1, "tau2": tau2, "K": K, "x_grid": x_grid}


def make_data(params: dict[str, Any]) -> dict[str, Any]:
    """No data files: the exercise is about the model, not a data set."""
    return {}


def problems(params: dict[str, Any]) -> list[str]:
    """Well-posedness of a variant: finite parameters, τ² > 0, a sensible K."""
    out: list[str] = []
    for name in ("beta0", "beta1", "tau2"):
        if not np.isfinite(params.get(name, np.nan)):
            out.append(f"{name} must be a finite number")
    if not params.get("tau2", 0) > 0:
        out.append("tau2 must be positive (with τ² = 0 there is nothing to integrate)")
    if not (isinstance(params.get("K"), int) and 2 <= params["K"] <= 100):
        out.append("K must be an integer between 2 and 100")
    if not params.get("x_grid"):
        out.append("x_grid must list at least one x value")
    return out


# Oracles -----------------------------------------------------------------------------------


def _eta(x: Any, beta0: float, beta1: float) -> np.ndarray:
    return beta0 + beta1 * np.asarray(x, dtype=np.float64)


def _sd(tau2: float) -> float:
    return float(np.sqrt(tau2))


def not_mean_oracle(x: Any, beta0: float, beta1: float) -> np.ndarray:
    """expit(β0 + β1 x): the conditional probability at γ = 0."""
    return LOGIT.inverse(_eta(x, beta0, beta1))


def marginal_oracle(x: Any, beta0: float, beta1: float, tau2: float, K: int) -> np.ndarray:
    """The K-node Gauss–Hermite marginal probability from the reference."""
    return marginal_mean(_eta(x, beta0, beta1), _sd(tau2), LOGIT, k=K)


def _attenuation_with_sd(eta: Any, sd: float, K: int) -> np.ndarray:
    """d logit P / dη with P(η) = Σ_k w_k expit(η + sd z_k) (the reference's K-node rule)."""
    z, logw = gauss_hermite(K)
    eta_arr = np.asarray(eta, dtype=np.float64)
    nodes = eta_arr[..., None] + sd * z
    weights = np.exp(logw)
    p = np.sum(weights * LOGIT.inverse(nodes), axis=-1)
    dp = np.sum(weights * LOGIT.mu_eta(nodes), axis=-1)
    # d logit(P)/dη = P'(η) / (P (1 − P)); the derivative of logit at P is the reciprocal of
    # the logit link's mu_eta at logit(P).
    return dp / LOGIT.mu_eta(LOGIT.link(p))


def attenuation_oracle(eta: Any, tau2: float, K: int) -> np.ndarray:
    """Slope of the population log-odds curve per unit of conditional log-odds."""
    return _attenuation_with_sd(eta, _sd(tau2), K)


# Classic mistakes ------------------------------------------------------------------------------


def _m_not_mean(x: Any, beta0: float, beta1: float, tau2: float, K: int) -> np.ndarray:
    return marginal_mean(_eta(x, beta0, beta1), 0.0, LOGIT, k=K)


def _m_tau2_as_sd(x: Any, beta0: float, beta1: float, tau2: float, K: int) -> np.ndarray:
    return marginal_mean(_eta(x, beta0, beta1), tau2, LOGIT, k=K)


def _m_no_sqrt2(x: Any, beta0: float, beta1: float, tau2: float, K: int) -> np.ndarray:
    # physicists' nodes t_k = z_k / √2 used without the √2: the rule for sd τ/√2
    return marginal_mean(_eta(x, beta0, beta1), _sd(tau2) / np.sqrt(2.0), LOGIT, k=K)


def _m_no_sqrtpi(x: Any, beta0: float, beta1: float, tau2: float, K: int) -> np.ndarray:
    # physicists' weights (summing to √π) used without dividing by √π
    return np.sqrt(np.pi) * marginal_oracle(x, beta0, beta1, tau2, K)


def _m_no_normalisation(x: Any, beta0: float, beta1: float, tau2: float, K: int) -> np.ndarray:
    return np.sqrt(np.pi) * _m_no_sqrt2(x, beta0, beta1, tau2, K)


def _m_over_z(x: Any, beta0: float, beta1: float, tau2: float, K: int) -> np.ndarray:
    # the nodes of N(0, 1) used as values of γ: integrates over z, forgetting γ = τ z
    return marginal_mean(_eta(x, beta0, beta1), 1.0, LOGIT, k=K)


def _a_tau2_as_sd(eta: Any, tau2: float, K: int) -> np.ndarray:
    return _attenuation_with_sd(eta, tau2, K)


def _a_no_sqrt2(eta: Any, tau2: float, K: int) -> np.ndarray:
    return _attenuation_with_sd(eta, _sd(tau2) / np.sqrt(2.0), K)


def _a_none(eta: Any, tau2: float, K: int) -> np.ndarray:
    return np.ones_like(np.asarray(eta, dtype=np.float64))


def _a_approximation(eta: Any, tau2: float, K: int) -> np.ndarray:
    return np.full_like(np.asarray(eta, dtype=np.float64), 1.0 / np.sqrt(1.0 + APPROX_C**2 * tau2))


TAU2_AS_SD_HINT = (
    "Your value matches using tau2 as the standard deviation of γ: tau2 is the variance τ², so the "
    "nodes for γ are √tau2 · z_k (probabilists' nodes) or √(2 tau2) · t_k (physicists' nodes)."
)
NO_SQRT2_HINT = (
    "Your value matches the physicists' Gauss–Hermite nodes t_k (numpy's hermgauss) used without the "
    "factor √2: with weight exp(−t²) the substitution is γ = √2 τ t."
)
MARGINAL_DIAGNOSES = (
    Diagnosis(
        "not_mean",
        _m_not_mean,
        "You returned expit(β0 + β1 x), the conditional probability at γ = 0 (the 'not mean' curve); "
        "average expit(β0 + β1 x + γ) over γ ~ N(0, τ²) instead.",
    ),
    Diagnosis("tau2_as_sd", _m_tau2_as_sd, TAU2_AS_SD_HINT),
    Diagnosis("no_sqrt2", _m_no_sqrt2, NO_SQRT2_HINT),
    Diagnosis(
        "no_sqrtpi",
        _m_no_sqrtpi,
        "Your value is √π times the right one: the physicists' weights (numpy's hermgauss) sum to √π, "
        "so divide the weighted sum by √π to average against the normal density.",
    ),
    Diagnosis(
        "no_normalisation",
        _m_no_normalisation,
        "Your value matches the physicists' rule with neither normalisation: use γ = √2 τ t_k and divide "
        "the weighted sum by √π.",
    ),
    Diagnosis(
        "over_z",
        _m_over_z,
        "Your value matches integrating over z ~ N(0, 1) with γ = z: the random intercept is γ = τ z, "
        "so scale the nodes by τ = √tau2.",
    ),
)
ATTENUATION_DIAGNOSES = (
    Diagnosis("tau2_as_sd", _a_tau2_as_sd, TAU2_AS_SD_HINT),
    Diagnosis("no_sqrt2", _a_no_sqrt2, NO_SQRT2_HINT),
    Diagnosis(
        "no_attenuation",
        _a_none,
        "You returned 1, the slope of the conditional (not mean) curve; differentiate the population "
        "log-odds logit P(η) instead.",
    ),
    Diagnosis(
        "approximation",
        _a_approximation,
        "You returned the approximation 1/√(1 + c²τ²); the check wants the exact derivative of logit P(η) "
        "for the K-node rule (it depends on η).",
    ),
)

MARGINAL_HINT = (
    "P(Y = 1 | x) = ∫ expit(β0 + β1 x + γ) φ(γ; 0, τ²) dγ ≈ Σ_k w_k expit(β0 + β1 x + τ z_k) with the "
    "K-node Gauss–Hermite rule for the standard normal density (weights summing to one)."
)
ATTENUATION_HINT = (
    "With P(η) = Σ_k w_k expit(η + τ z_k): d logit P / dη = P'(η) / (P (1 − P)) and "
    "P'(η) = Σ_k w_k expit'(η + τ z_k), where expit' = expit (1 − expit)."
)
NOT_MEAN_HINT = "The 'not mean' curve is the conditional probability at γ = 0: expit(β0 + β1 x) = 1/(1 + exp(−β0 − β1 x))."

# Strategies ------------------------------------------------------------------------------------


def _real(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


SCALAR_X = _real(-3.0, 3.0)
VECTOR_X = hnp.arrays(np.float64, st.integers(1, 15), elements=_real(-3.0, 3.0))
BETA0 = _real(-2.0, 2.0)
BETA1 = _real(-2.0, 2.0)
TAU2 = _real(0.05, 4.0)
K_TYPICAL = st.integers(5, 30)


def _marginal_cases(
    x: st.SearchStrategy[Any],
    tau2: st.SearchStrategy[float] = TAU2,
    K: st.SearchStrategy[int] = K_TYPICAL,
) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"x": x, "beta0": BETA0, "beta1": BETA1, "tau2": tau2, "K": K})


def _attenuation_cases(
    eta: st.SearchStrategy[Any], tau2: st.SearchStrategy[float] = TAU2, K: st.SearchStrategy[int] = K_TYPICAL
) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"eta": eta, "tau2": tau2, "K": K})


ETA_SCALAR = _real(-4.0, 4.0)
ETA_VECTOR = hnp.arrays(np.float64, st.integers(1, 15), elements=_real(-4.0, 4.0))

#: the reference's nodes and numpy's hermgauss agree to ~1e-14; 1e-9 leaves room for summation order.
TOL = Comparison(rtol=1e-9, atol=1e-14)
#: a careful central difference (step ~1e-5) reaches ~1e-9; an analytic derivative ~1e-13.
ATT_TOL = Comparison(rtol=1e-6, atol=0.0)

FUNCTIONS = (
    FunctionSpec(
        "not_mean_curve",
        "(x, beta0, beta1)",
        """The 'not mean' curve expit(beta0 + beta1 * x): the conditional probability at γ = 0.

    Args:
        x: covariate value, a float or a 1-D numpy array.
        beta0, beta1: fixed intercept and slope.

    Returns:
        A float for float x, else an array with the shape of x.""",
    ),
    FunctionSpec(
        "marginal_probability",
        "(x, beta0, beta1, tau2, K)",
        """Population-averaged P(Y = 1 | x) of the logit random-intercept model, by K-node Gauss–Hermite.

    Y | γ ~ Bin(1, π), logit π = beta0 + beta1 * x + γ, γ ~ N(0, tau2).
    P(Y = 1 | x) = ∫ expit(beta0 + beta1 x + γ) φ(γ; 0, tau2) dγ, approximated with the K-node
    Gauss–Hermite rule (non-adaptive, centred at γ = 0).

    Args:
        x: covariate value, a float or a 1-D numpy array.
        beta0, beta1: fixed intercept and slope.
        tau2: variance τ² > 0 of the random intercept.
        K: number of quadrature nodes (an int ≥ 1).

    Returns:
        A float for float x, else an array with the shape of x.""",
    ),
    FunctionSpec(
        "attenuation",
        "(eta, tau2, K)",
        """Attenuation of the population curve: d logit P(η) / dη.

    P(η) = ∫ expit(η + γ) φ(γ; 0, tau2) dγ by the K-node Gauss–Hermite rule (as in
    marginal_probability, with η = beta0 + beta1 x). The population log-odds logit P(η) has
    slope beta1 * attenuation(η) in x, so this is the ratio of the population slope to the
    conditional slope beta1.

    Args:
        eta: conditional log-odds η, a float or a 1-D numpy array.
        tau2: variance τ² > 0 of the random intercept.
        K: number of quadrature nodes.

    Returns:
        A float for float eta, else an array with the shape of eta.""",
    ),
)


def _check(
    name: str,
    function: str,
    description: str,
    points: float,
    visibility: str,
    cases: st.SearchStrategy[dict[str, Any]],
) -> PropertyCheck:
    oracle, comparison, hint, diagnoses = {
        "not_mean_curve": (not_mean_oracle, TOL, NOT_MEAN_HINT, ()),
        "marginal_probability": (marginal_oracle, TOL, MARGINAL_HINT, MARGINAL_DIAGNOSES),
        "attenuation": (attenuation_oracle, ATT_TOL, ATTENUATION_HINT, ATTENUATION_DIAGNOSES),
    }[function]
    return PropertyCheck(
        name=name,
        function=function,
        description=description,
        points=points,
        visibility=visibility,  # type: ignore[arg-type]
        cases=cases,
        oracle=oracle,
        comparison=comparison,
        hint=hint,
        diagnoses=diagnoses,
    )


def build(params: dict[str, Any]) -> Exercise:
    """The exercise for one variant: generic checks plus the variant's own model on its x grid."""
    own = st.just(
        {
            "x": np.asarray(params["x_grid"], dtype=np.float64),
            "beta0": float(params["beta0"]),
            "beta1": float(params["beta1"]),
            "tau2": float(params["tau2"]),
            "K": int(params["K"]),
        }
    )
    own_eta = st.just(
        {
            "eta": float(params["beta0"]) + float(params["beta1"]) * np.asarray(params["x_grid"], dtype=np.float64),
            "tau2": float(params["tau2"]),
            "K": int(params["K"]),
        }
    )
    checks = (
        _check(
            "not_mean",
            "not_mean_curve",
            "expit(β0 + β1 x), float and array x",
            1,
            "public",
            st.fixed_dictionaries({"x": st.one_of(SCALAR_X, VECTOR_X), "beta0": BETA0, "beta1": BETA1}),
        ),
        _check("marginal_scalar", "marginal_probability", "float x, typical parameters", 2, "public", _marginal_cases(SCALAR_X)),
        _check("marginal_vector", "marginal_probability", "1-D array x, elementwise", 1, "public", _marginal_cases(VECTOR_X)),
        _check("marginal_own_variant", "marginal_probability", "your variant's model on its x grid", 1, "public", own),
        _check(
            "marginal_many_nodes",
            "marginal_probability",
            "K from 1 to 80 and τ² up to 9",
            1,
            "hidden",
            _marginal_cases(st.one_of(SCALAR_X, VECTOR_X), tau2=_real(0.01, 9.0), K=st.integers(1, 80)),
        ),
        _check("attenuation_scalar", "attenuation", "float η, typical τ² and K", 2, "public", _attenuation_cases(ETA_SCALAR)),
        _check("attenuation_own_variant", "attenuation", "your variant's η = β0 + β1 x on its grid", 1, "public", own_eta),
        _check(
            "attenuation_hidden",
            "attenuation",
            "array η, τ² up to 9, K up to 60",
            1,
            "hidden",
            _attenuation_cases(st.one_of(ETA_SCALAR, ETA_VECTOR), tau2=_real(0.01, 9.0), K=st.integers(2, 60)),
        ),
    )
    return Exercise(
        id=ID,
        version=VERSION,
        title=TITLE,
        functions=FUNCTIONS,
        checks=checks,
        public_seed=20241117,
    )


EXERCISE = build(DEFAULT_PARAMS)

_MARG = frozenset({"marginal_scalar", "marginal_vector", "marginal_own_variant", "marginal_many_nodes"})
_ATT = frozenset({"attenuation_scalar", "attenuation_own_variant", "attenuation_hidden"})

#: mutant name -> the checks it fails when all checks run.
MUTANTS: dict[str, frozenset[str]] = {
    "not_mean": _MARG | _ATT,
    "tau2_as_sd": _MARG | _ATT,
    "hermgauss_no_sqrt2": _MARG | _ATT,
    "hermgauss_no_sqrtpi": _MARG,
    "over_z": _MARG,
    "approximate_attenuation": _ATT,
}

#: mutant name -> the mistakes its failing checks may name (the mutant's own; at least one is named).
MUTANT_DIAGNOSES: dict[str, frozenset[str]] = {
    "hermgauss_no_sqrt2": frozenset({"no_sqrt2"}),
    "hermgauss_no_sqrtpi": frozenset({"no_sqrtpi"}),
    "not_mean": frozenset({"not_mean", "no_attenuation"}),
    "over_z": frozenset({"over_z"}),
    "tau2_as_sd": frozenset({"tau2_as_sd"}),
}
