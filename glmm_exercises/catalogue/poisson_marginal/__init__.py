"""Exercise ``poisson-marginal``: marginal mean and variance of the Poisson log random-intercept model.

Model (lecture notes, "Conditional and marginal model"): ``Y | γ ~ Poisson(μ)`` with
``log μ = β0 + β1 x + γ`` and ``γ ~ N(0, τ²)``. Students implement the marginal (population
averaged) mean ``E(Y)`` and variance ``Var(Y)``, vectorised over ``x``.

The oracle is :mod:`reference.marginal` (its ``tau`` is the standard deviation, so ``tau2`` is
passed as ``√tau2``). The diagnoses express each classic mistake through the same reference
functions with altered arguments, so no formula is written here a second time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from graders.checks import Diagnosis, Exercise, FunctionSpec, PropertyCheck, WrittenItem
from graders.compare import Comparison
from reference.marginal import poisson_marginal_mean, poisson_marginal_variance

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

ID = "poisson-marginal"
TITLE = "Marginal mean and variance of the Poisson random-intercept model"
VERSION = "1"

PARAMS = ("x", "beta0", "beta1", "tau2")


def _eta(x: Any, beta0: float, beta1: float) -> np.ndarray:
    """The linear predictor β0 + β1 x without the random intercept."""
    return beta0 + beta1 * np.asarray(x, dtype=np.float64)


def _sd(tau2: float) -> float:
    return float(np.sqrt(tau2))


# Oracles -----------------------------------------------------------------------------------


def mean_oracle(x: Any, beta0: float, beta1: float, tau2: float) -> np.ndarray:
    """E(Y) from the reference."""
    return poisson_marginal_mean(_eta(x, beta0, beta1), _sd(tau2))


def variance_oracle(x: Any, beta0: float, beta1: float, tau2: float) -> np.ndarray:
    """Var(Y) from the reference."""
    return poisson_marginal_variance(_eta(x, beta0, beta1), _sd(tau2))


# Classic mistakes, each through the reference with altered arguments ---------------------------


def _not_mean(x: Any, beta0: float, beta1: float, tau2: float) -> np.ndarray:
    # the conditional mean at γ = 0, i.e. the marginal mean of a model with τ = 0
    return poisson_marginal_mean(_eta(x, beta0, beta1), 0.0)


def _mean_tau_for_tau2(x: Any, beta0: float, beta1: float, tau2: float) -> np.ndarray:
    # τ = √tau2 used where τ² belongs: the reference with sd τ' such that τ'² = √tau2
    return poisson_marginal_mean(_eta(x, beta0, beta1), _sd(_sd(tau2)))


def _mean_tau2_as_sd(x: Any, beta0: float, beta1: float, tau2: float) -> np.ndarray:
    # tau2 squared (treated as the standard deviation)
    return poisson_marginal_mean(_eta(x, beta0, beta1), tau2)


def _var_without_poisson(x: Any, beta0: float, beta1: float, tau2: float) -> np.ndarray:
    return variance_oracle(x, beta0, beta1, tau2) - mean_oracle(x, beta0, beta1, tau2)


def _var_poisson_only(x: Any, beta0: float, beta1: float, tau2: float) -> np.ndarray:
    return mean_oracle(x, beta0, beta1, tau2)


def _var_from_not_mean(x: Any, beta0: float, beta1: float, tau2: float) -> np.ndarray:
    # Var built on exp(β0 + β1 x) instead of E(Y): shift η so the reference mean equals exp(η)
    return poisson_marginal_variance(_eta(x, beta0, beta1) - tau2 / 2, _sd(tau2))


def _var_tau_for_tau2(x: Any, beta0: float, beta1: float, tau2: float) -> np.ndarray:
    return poisson_marginal_variance(_eta(x, beta0, beta1), _sd(_sd(tau2)))


def _var_tau2_as_sd(x: Any, beta0: float, beta1: float, tau2: float) -> np.ndarray:
    return poisson_marginal_variance(_eta(x, beta0, beta1), tau2)


MEAN_HINT = (
    "E(Y) = E[E(Y | γ)] averages the conditional mean exp(β0 + β1 x + γ) over γ ~ N(0, τ²); "
    "check how tau2 (the variance τ²) enters."
)
VARIANCE_HINT = (
    "Use the law of total variance: Var(Y) = E[Var(Y | γ)] + Var[E(Y | γ)], with the Poisson "
    "conditional variance Var(Y | γ) = E(Y | γ)."
)
TAU_FOR_TAU2 = Diagnosis(
    "tau_for_tau2",
    _mean_tau_for_tau2,
    "Your value matches using τ = √tau2 where τ² belongs: tau2 already is the variance τ² of the "
    "random intercept, so do not take its square root.",
)
TAU2_AS_SD = Diagnosis(
    "tau2_as_sd",
    _mean_tau2_as_sd,
    "Your value matches squaring tau2: tau2 already is the variance τ², not the standard deviation.",
)
MEAN_DIAGNOSES = (
    Diagnosis(
        "not_mean",
        _not_mean,
        "You returned exp(β0 + β1 x): the conditional mean at γ = 0 (the 'not mean' curve). "
        "Average over the random intercept instead: E(Y) = E[exp(β0 + β1 x + γ)] with "
        "γ ~ N(0, τ²), and E[exp(γ)] is the normal moment generating function at 1.",
    ),
    TAU_FOR_TAU2,
    TAU2_AS_SD,
)
VARIANCE_DIAGNOSES = (
    Diagnosis(
        "without_poisson_part",
        _var_without_poisson,
        "You left out the Poisson part of the variance: E[Var(Y | γ)] = E[E(Y | γ)] = E(Y) must be "
        "added to Var[E(Y | γ)].",
    ),
    Diagnosis(
        "poisson_only",
        _var_poisson_only,
        "You returned E(Y), the variance of a plain Poisson model; the random intercept adds the "
        "extra-Poisson part Var[E(Y | γ)] = E(Y)² (exp(τ²) − 1).",
    ),
    Diagnosis(
        "from_not_mean",
        _var_from_not_mean,
        "Your variance is built on exp(β0 + β1 x), the conditional mean at γ = 0; use the marginal "
        "mean E(Y) (which includes the τ²/2 term).",
    ),
    Diagnosis("tau_for_tau2", _var_tau_for_tau2, TAU_FOR_TAU2.hint),
    Diagnosis("tau2_as_sd", _var_tau2_as_sd, TAU2_AS_SD.hint),
)

# Strategies ------------------------------------------------------------------------------------


def _real(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


TAU2 = _real(0.0, 4.0)
#: tiny but not below 1e-6: below that, the cancellation in exp(τ²) − 1 (which students will
#: write) costs more than the tolerance, and that is not the skill this exercise grades.
TAU2_WIDE = st.one_of(st.just(0.0), _real(1e-6, 9.0))


def _cases(
    x: st.SearchStrategy[Any],
    beta0: st.SearchStrategy[float] = _real(-3.0, 3.0),  # noqa: B008 - strategies are immutable
    beta1: st.SearchStrategy[float] = _real(-2.0, 2.0),  # noqa: B008
    tau2: st.SearchStrategy[float] = TAU2,
) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"x": x, "beta0": beta0, "beta1": beta1, "tau2": tau2})


TOL = Comparison(rtol=1e-8, atol=0.0)

FUNCTIONS = (
    FunctionSpec(
        "marginal_mean",
        "(x, beta0, beta1, tau2)",
        """Marginal mean E(Y) of the Poisson log random-intercept model.

    Y | γ ~ Poisson(μ), log μ = beta0 + beta1 * x + γ, γ ~ N(0, tau2).

    Args:
        x: covariate value, a float or a numpy array of any shape.
        beta0, beta1: fixed intercept and slope.
        tau2: variance τ² ≥ 0 of the random intercept.

    Returns:
        E(Y): a float for float x, else an array with the shape of x.""",
    ),
    FunctionSpec(
        "marginal_variance",
        "(x, beta0, beta1, tau2)",
        """Marginal variance Var(Y) of the Poisson log random-intercept model.

    Same model and arguments as marginal_mean.

    Returns:
        Var(Y): a float for float x, else an array with the shape of x.""",
    ),
)


def _pair(
    stem: str,
    description: str,
    points: float,
    visibility: str,
    cases: st.SearchStrategy[dict[str, Any]],
) -> tuple[PropertyCheck, PropertyCheck]:
    return (
        PropertyCheck(
            name=f"mean_{stem}",
            function="marginal_mean",
            description=f"E(Y): {description}",
            points=points,
            visibility=visibility,  # type: ignore[arg-type]
            cases=cases,
            oracle=mean_oracle,
            comparison=TOL,
            hint=MEAN_HINT,
            diagnoses=MEAN_DIAGNOSES,
        ),
        PropertyCheck(
            name=f"variance_{stem}",
            function="marginal_variance",
            description=f"Var(Y): {description}",
            points=points,
            visibility=visibility,  # type: ignore[arg-type]
            cases=cases,
            oracle=variance_oracle,
            comparison=TOL,
            hint=VARIANCE_HINT,
            diagnoses=VARIANCE_DIAGNOSES,
        ),
    )


def _x_strategies(
    x_min: float, x_max: float
) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """Scalar, 1-D and any-shape strategies of x on the variant's covariate range."""
    elements = _real(x_min, x_max)
    vector = hnp.arrays(np.float64, st.integers(1, 20), elements=elements)
    any_shape = hnp.arrays(
        np.float64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4), elements=elements
    )
    return elements, vector, any_shape


#: Written answers (graded by hand in the instructor's review).
WRITTEN = (
    WrittenItem(
        "above_not_mean", "explain_above_not_mean",
        'Explain in two sentences why the marginal mean lies above the "not mean" curve '
        "exp(beta0 + beta1 x) for every x.",
    ),
)


def build(params: dict[str, Any]) -> Exercise:
    """The exercise for one variant: x is drawn from the variant's range [x_min, x_max]."""
    scalar_x, vector_x, any_shape_x = _x_strategies(float(params["x_min"]), float(params["x_max"]))
    checks = (
        *_pair("scalar", "float x, typical parameters", 2, "public", _cases(scalar_x)),
        *_pair("vector", "1-D array x, elementwise", 1, "public", _cases(vector_x)),
        *_pair(
            "tau2_zero",
            "tau2 = 0 reduces to the Poisson GLM",
            1,
            "public",
            _cases(st.one_of(scalar_x, vector_x), tau2=st.just(0.0)),
        ),
        *_pair("shape", "x of any shape (0-d to 3-d), shape preserved", 1, "hidden", _cases(any_shape_x)),
        *_pair(
            "extreme",
            "large and small parameters (|β0| ≤ 15, τ² from 1e-6 to 9)",
            1,
            "hidden",
            _cases(
                st.one_of(scalar_x, vector_x),
                beta0=_real(-15.0, 15.0),
                beta1=_real(-3.0, 3.0),
                tau2=TAU2_WIDE,
            ),
        ),
    )
    return Exercise(
        id=ID,
        version=VERSION,
        title=TITLE,
        functions=FUNCTIONS,
        checks=checks,
        public_seed=20240901,
        written=WRITTEN,
    )


# Variants (docs/catalogue-protocol.md) ----------------------------------------------------------

#: The covariate range the checks draw x from, and a worked example the sheet asks about.
DEFAULT_PARAMS: dict[str, Any] = {
    "x_min": -3.0,
    "x_max": 3.0,
    "beta0": 0.5,
    "beta1": 0.3,
    "tau2": 1.0,
    "x_grid": [-3.0, -1.5, 0.0, 1.5, 3.0],
}

#: Largest |x| any variant uses: keeps exp(|β0| + |β1| |x| + τ²) of the extreme check finite.
_X_LIMIT = 6.0


def draw_params(rng: np.random.Generator) -> dict[str, Any]:
    """One variant: a covariate range of width 4-8 inside [-6, 6] and a worked example on it."""
    x_min = float(rng.choice([-6.0, -5.0, -4.0, -3.0, -2.0]))
    width = float(rng.choice([4.0, 5.0, 6.0, 7.0, 8.0]))
    x_max = min(x_min + width, _X_LIMIT)
    grid = np.linspace(x_min, x_max, 5)
    return {
        "x_min": x_min,
        "x_max": x_max,
        "beta0": round(float(rng.uniform(-1.0, 1.5)), 1),
        "beta1": round(float(rng.uniform(0.1, 0.6)) * float(rng.choice([-1.0, 1.0])), 2),
        "tau2": round(float(rng.uniform(0.2, 1.5)), 2),
        "x_grid": [round(float(v), 2) for v in grid],
    }


def make_data(params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """No data files: every input reaches the functions as arguments."""
    return {}


def problems(params: dict[str, Any]) -> list[str]:
    """Why a variant is not well posed (``[]`` when it is)."""
    out: list[str] = []
    x_min, x_max = float(params["x_min"]), float(params["x_max"])
    if not -_X_LIMIT <= x_min < x_max <= _X_LIMIT:
        out.append(f"x range [{x_min:g}, {x_max:g}] must be increasing and inside [-6, 6]")
    if not params["tau2"] > 0:
        out.append(f"worked example tau2 = {params['tau2']} must be positive")
    if any(not x_min <= x <= x_max for x in params["x_grid"]):
        out.append("the worked example's x grid leaves the covariate range")
    # The extreme check's largest mean and variance must stay finite (no overflow in the oracle).
    eta_max = 15.0 + 3.0 * max(abs(x_min), abs(x_max))
    top = variance_oracle(np.array([eta_max]), 0.0, 1.0, 9.0)
    if not np.all(np.isfinite(top)):
        out.append("the extreme check's largest variance overflows")
    return out


EXERCISE = build(DEFAULT_PARAMS)
SHEET = "exercises/poisson_marginal.md.j2"

_MEAN_CORE = frozenset({"mean_scalar", "mean_vector", "mean_shape", "mean_extreme"})
_VAR_CORE = frozenset({"variance_scalar", "variance_vector", "variance_shape", "variance_extreme"})

#: mutant name -> the checks it fails when all checks run.
MUTANTS: dict[str, frozenset[str]] = {
    "not_mean": _MEAN_CORE,
    "variance_without_poisson_part": _VAR_CORE | {"variance_tau2_zero"},
    "variance_poisson_only": _VAR_CORE,
    "tau_instead_of_tau2": _MEAN_CORE | _VAR_CORE,
    "not_vectorised": frozenset(
        f"{f}_{s}" for f in ("mean", "variance") for s in ("vector", "shape", "tau2_zero", "extreme")
    ),
    "flattens_output": frozenset({"mean_shape", "variance_shape"}),
}

#: mutant name -> the mistakes its failing checks may name (the mutant's own; at least one is named).
MUTANT_DIAGNOSES: dict[str, frozenset[str]] = {
    "not_mean": frozenset({"not_mean"}),
    "tau_instead_of_tau2": frozenset({"tau_for_tau2"}),
    "variance_poisson_only": frozenset({"poisson_only"}),
    "variance_without_poisson_part": frozenset({"without_poisson_part"}),
}
