"""Exercise ``glmm-fit``: fit a random-intercept GLMM by maximising the Laplace-approximated likelihood.

Model: ``y_ij | γ_i ~ f(y | μ_ij)`` with ``g(μ_ij) = x_ijᵀβ + γ_i``, ``γ_i ~ N(0, τ²)``; Poisson with log
link or binary with logit link (the variant picks the family of the student's data set). Students
write ``fit_glmm(X, y, cluster, family)`` themselves (statsmodels is forbidden) and return
``{"beta", "tau", "loglik", "aic"}``.

Oracle: :func:`reference.glmer` (lme4's Laplace fit, ``nAGQ = 1``) on the same data. Each returned
entry is its own check (``Check.extract`` picks it out of the dict), on the student's data set and on
small data sets simulated by :func:`reference.simulate_glmm` from hypothesis-drawn parameters, kept only
when the reference fit is well posed (τ̂ > 0.05, no convergence warning) — there the Laplace optimum
is unique, so tolerances can be tight. Diagnoses express the classic mistakes through the reference:
a GLM fit (:func:`reference.glm`), the Poisson ``log y!`` constant (:mod:`reference.families`), τ²
for τ, and an AIC that counts only β.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from graders.checks import Diagnosis, Exercise, FunctionSpec, PropertyCheck
from graders.compare import Comparison
from reference import glm, glmer
from reference.errors import ModelInputError
from reference.families import get_family
from reference.glmm import GLMMResult
from reference.simulate import simulate_glmm

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
    "fit_problems",
    "make_data",
    "problems",
    "reference_fit",
]

ID = "glmm-fit"
TITLE = "Fitting a random-intercept GLMM: maximise the Laplace approximation yourself"
VERSION = "1"
SHEET = "exercises/glmm_fit.md.j2"

FAMILIES = ("poisson", "binomial")

DEFAULT_PARAMS: dict[str, Any] = {
    "family": "poisson",
    "beta": [0.5, 0.8],
    "tau": 0.9,
    "n_clusters": 12,
    "cluster_size": 8,
    "data_seed": 4242,
}

#: the smallest reference τ̂ a data set may have: away from the boundary τ = 0 the optimum is interior.
MIN_TAU = 0.05


def draw_params(rng: np.random.Generator) -> dict[str, Any]:
    """One variant: family, true (β, τ), clusters and a data seed; re-drawn until the fit is well posed."""
    while True:
        family = str(rng.choice(FAMILIES))
        if family == "poisson":
            beta = [round(float(rng.uniform(0.0, 1.2)), 2), round(float(rng.uniform(-0.8, 0.8)), 2)]
        else:
            beta = [round(float(rng.uniform(-0.8, 0.8)), 2), round(float(rng.uniform(-1.2, 1.2)), 2)]
        params = {
            "family": family,
            "beta": beta,
            "tau": round(float(rng.uniform(0.6, 1.4)), 2),
            "n_clusters": int(rng.integers(10, 16)),
            "cluster_size": int(rng.integers(6, 11)),
            "data_seed": int(rng.integers(0, 2**31 - 1)),
        }
        if not problems(params):
            return params


def make_data(params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """``clusters.csv``: columns ``cluster`` (1..m), ``x``, ``y`` simulated from the variant's model."""
    df = simulate_glmm(
        params["beta"], float(params["tau"]) ** 2, n_clusters=int(params["n_clusters"]),
        cluster_size=int(params["cluster_size"]), family=params["family"], seed=int(params["data_seed"]),
    )
    out = pd.DataFrame({"cluster": df["cluster"], "x": np.round(df["x1"].to_numpy(), 4), "y": df["y"]})
    return {"clusters": out}


def _own_case(params: dict[str, Any]) -> dict[str, Any]:
    data = make_data(params)["clusters"]
    X = np.column_stack([np.ones(len(data)), data["x"].to_numpy(dtype=np.float64)])
    return {"X": X, "y": data["y"].to_numpy(dtype=np.float64), "cluster": data["cluster"].to_numpy(), "family": params["family"]}


def problems(params: dict[str, Any]) -> list[str]:
    """Well-posedness: known family, and the reference fit of the variant's data is interior and converged."""
    if params.get("family") not in FAMILIES:
        return [f"family must be one of {FAMILIES}"]
    try:
        fit = reference_fit(**_own_case(params))
    except (ModelInputError, ArithmeticError, ValueError) as exc:
        return [f"the reference fit of the variant's data failed: {exc}"]
    return fit_problems(fit)


def fit_problems(fit: GLMMResult) -> list[str]:
    """Why a :func:`reference_fit` is not a trustworthy oracle: τ̂ near 0, a warning, huge or infinite β̂."""
    out = []
    tau = float(fit.re_sd["cluster"].iloc[0])
    if not tau > MIN_TAU:
        out.append(f"reference τ̂ = {tau:.3g} is at or near the boundary 0 (need > {MIN_TAU})")
    messages = [*fit.optinfo.get("warnings", []), *_WARNINGS.get(id(fit), [])]
    if messages:
        out.append(f"reference fit warns: {'; '.join(map(str, messages))}")
    if not np.all(np.isfinite(fit.fixef.to_numpy())) or np.max(np.abs(fit.fixef.to_numpy())) > 8:
        out.append("reference β̂ is not finite or very large (separation?)")
    return out


# Oracles --------------------------------------------------------------------------------------

_FITS: dict[tuple[Any, ...], GLMMResult] = {}
#: warnings the reference raised while fitting, by fit (a boundary fit warns; such data are rejected)
_WARNINGS: dict[int, list[str]] = {}


def _frame(X: np.ndarray, y: np.ndarray, cluster: np.ndarray) -> tuple[pd.DataFrame, str]:
    X = np.asarray(X, dtype=np.float64)
    cols = {f"x{j}": X[:, j] for j in range(1, X.shape[1])}
    df = pd.DataFrame({"y": np.asarray(y, dtype=np.float64), **cols, "cluster": np.asarray(cluster)})
    rhs = " + ".join(cols) if cols else "1"
    return df, f"y ~ {rhs} + (1 | cluster)"


def reference_fit(X: Any, y: Any, cluster: Any, family: str) -> GLMMResult:
    """lme4-style Laplace fit from the reference (cached per data set; X's first column is the intercept)."""
    X, y, cluster = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64), np.asarray(cluster)
    key = (family, X.shape, X.tobytes(), y.tobytes(), cluster.tobytes())
    if key not in _FITS:
        if len(_FITS) > 256:
            _FITS.clear()
            _WARNINGS.clear()
        df, formula = _frame(X, y, cluster)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = glmer(formula, df, family)
        _FITS[key] = fit
        _WARNINGS[id(fit)] = [str(w.message) for w in caught]
    return _FITS[key]


def beta_oracle(X: Any, y: Any, cluster: Any, family: str) -> np.ndarray:
    return reference_fit(X, y, cluster, family).fixef.to_numpy()


def tau_oracle(X: Any, y: Any, cluster: Any, family: str) -> float:
    return float(reference_fit(X, y, cluster, family).re_sd["cluster"].iloc[0])


def loglik_oracle(X: Any, y: Any, cluster: Any, family: str) -> float:
    return float(reference_fit(X, y, cluster, family).loglik)


def aic_oracle(X: Any, y: Any, cluster: Any, family: str) -> float:
    return float(reference_fit(X, y, cluster, family).aic)


# Classic mistakes, through the reference -------------------------------------------------------


def _glm(X: Any, y: Any, cluster: Any, family: str) -> Any:
    df, formula = _frame(X, y, cluster)
    return glm(formula.replace(" + (1 | cluster)", ""), df, family)


def _log_factorial_sum(y: Any, family: str) -> float:
    # log f(y | μ = 1) = −1 − log y! for the Poisson family (through the reference, not a new formula)
    if family != "poisson":
        return 0.0
    y = np.asarray(y, dtype=np.float64)
    return -float(np.sum(get_family("poisson").logpdf(y, np.ones_like(y)))) - float(y.size)


GLM_HINT = (
    "Your estimates match a Poisson/logistic GLM that ignores the clusters (τ = 0): the random intercept "
    "must be integrated out — maximise the Laplace approximation over β and τ together."
)
BETA_DIAGNOSES = (Diagnosis("glm", lambda **c: _glm(**c).coef.to_numpy(), GLM_HINT),)
TAU_DIAGNOSES = (
    Diagnosis("tau2", lambda **c: tau_oracle(**c) ** 2,
              "Your value matches τ̂²: report the standard deviation τ, not the variance."),
    Diagnosis("zero", lambda **c: 0.0, GLM_HINT),
)
LOGLIK_DIAGNOSES = (
    Diagnosis("no_log_factorial", lambda **c: loglik_oracle(**c) + _log_factorial_sum(c["y"], c["family"]),
              "Your log-likelihood misses −Σ log y_ij!: report the full log-likelihood with every constant "
              "(scipy.special.gammaln(y + 1)), as lme4's logLik does."),
    Diagnosis("glm", lambda **c: float(_glm(**c).loglik), GLM_HINT),
)
AIC_DIAGNOSES = (
    Diagnosis("beta_only", lambda **c: aic_oracle(**c) - 2.0,
              "Your AIC counts only the fixed effects: τ is a parameter too, so AIC = −2 log L + 2 (p + 1)."),
    Diagnosis("no_log_factorial",
              lambda **c: aic_oracle(**c) - 2 * _log_factorial_sum(c["y"], c["family"]),
              "Your AIC is built on a log-likelihood without −Σ log y_ij!; include every constant."),
)

BETA_HINT = (
    "β̂ differs from the Laplace maximum-likelihood estimate: check the conditional modes (Newton's method "
    "per cluster), the Laplace formula g(γ̂) + ½ log 2π − ½ log(−g''(γ̂)) including the determinant "
    "term, and that the optimiser converged (tight tolerances, start from the GLM fit or zeros)."
)
TAU_HINT = "τ̂ differs from the Laplace estimate; τ is the standard deviation of the random intercept."
LOGLIK_HINT = "log L at the optimum differs: include every constant of the density and the Laplace determinant term."
AIC_HINT = "AIC = −2 log L + 2 × (number of parameters), and the parameters are β and τ."


def _entry(name: str, scalar: bool) -> Callable[[Any], Any]:
    def extract(value: Any) -> Any:
        if not isinstance(value, dict):
            raise TypeError(f"fit_glmm must return a dict with keys beta, tau, loglik, aic; got {type(value).__name__}")
        if name not in value:
            raise KeyError(f"the returned dict has no key {name!r} (keys: {', '.join(map(str, value))})")
        v = value[name]
        if scalar:
            return v
        return np.asarray(v, dtype=np.float64) if isinstance(v, list | tuple | np.ndarray) else v

    return extract


# Strategies -----------------------------------------------------------------------------------


def _generated(family: str) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def cases(draw: st.DrawFn) -> dict[str, Any]:
        m = draw(st.integers(10, 16))
        size = draw(st.integers(5, 10))
        p = draw(st.integers(2, 3))
        if family == "poisson":
            beta = [draw(st.sampled_from([0.0, 0.4, 0.8, 1.2]))] + [draw(st.sampled_from([-0.5, -0.2, 0.3, 0.6])) for _ in range(p - 1)]
        else:
            beta = [draw(st.sampled_from([-0.6, 0.0, 0.5]))] + [draw(st.sampled_from([-1.0, -0.5, 0.6, 1.0])) for _ in range(p - 1)]
        tau = draw(st.sampled_from([0.7, 1.0, 1.3]))
        seed = draw(st.integers(0, 2**31 - 1))
        df = simulate_glmm(beta, tau**2, n_clusters=m, cluster_size=size, family=family, seed=seed)
        X = np.column_stack([np.ones(len(df)), *(np.round(df[f"x{j}"].to_numpy(), 4) for j in range(1, p))])
        return {"X": X, "y": df["y"].to_numpy(dtype=np.float64), "cluster": df["cluster"].to_numpy(), "family": family}

    def well_posed(case: dict[str, Any]) -> bool:
        try:
            return not fit_problems(reference_fit(**case))
        except (ModelInputError, ArithmeticError, ValueError):
            return False

    return cases().filter(well_posed)


FUNCTIONS = (
    FunctionSpec(
        "fit_glmm",
        "(X, y, cluster, family)",
        """Maximum-likelihood fit of a random-intercept GLMM by the Laplace approximation.

    y_ij | γ_i ~ Poisson (log link) or Bernoulli (logit link), g(μ_ij) = X[ij] @ beta + γ_i,
    γ_i ~ N(0, tau²) independently per cluster.

    Args:
        X: fixed-effects design, shape (n, p); the first column is the intercept (all ones).
        y: responses, shape (n,): counts (Poisson) or 0/1 (binomial).
        cluster: cluster label of each observation, shape (n,) (integers).
        family: "poisson" or "binomial".

    Returns:
        dict with keys
          "beta": numpy array of the p estimated fixed effects (in the order of X's columns),
          "tau": estimated standard deviation τ̂ of the random intercept (float),
          "loglik": the maximised Laplace log-likelihood, every constant included (float),
          "aic": -2 loglik + 2 (p + 1) (float).""",
    ),
)

BETA_TOL = Comparison(rtol=1e-3, atol=1e-3)
LOGLIK_TOL = Comparison(rtol=0.0, atol=1e-4)


def build(params: dict[str, Any]) -> Exercise:
    """The exercise for one variant: the student's data set plus generated data sets of the variant's family."""
    family = params["family"]
    own = st.just(_own_case(params))
    gen = _generated(family)

    def check(name: str, key: str, desc: str, points: float, vis: str, cases: Any, oracle: Any,
              tol: Comparison, hint: str, diagnoses: tuple[Diagnosis, ...], examples: int) -> PropertyCheck:
        return PropertyCheck(
            name=name, function="fit_glmm", description=desc, points=points,
            visibility=vis,  # type: ignore[arg-type]
            cases=cases, oracle=oracle, comparison=tol, hint=hint, diagnoses=diagnoses,
            extract=_entry(key, key != "beta"), time_limit=20.0, max_examples=examples,
        )

    own_desc = f"your data set ({params['n_clusters']} clusters, {family})"
    gen_desc = f"simulated {family} data sets, 10-16 clusters of 5-10, 1-2 covariates"
    checks = (
        check("beta_own", "beta", f"β̂ on {own_desc}", 2, "public", own, beta_oracle, BETA_TOL, BETA_HINT, BETA_DIAGNOSES, 1),
        check("tau_own", "tau", f"τ̂ on {own_desc}", 2, "public", own, tau_oracle, BETA_TOL, TAU_HINT, TAU_DIAGNOSES, 1),
        check("loglik_own", "loglik", f"log L on {own_desc}", 1, "public", own, loglik_oracle, LOGLIK_TOL, LOGLIK_HINT,
              LOGLIK_DIAGNOSES, 1),
        check("aic_own", "aic", f"AIC on {own_desc}", 1, "public", own, aic_oracle, LOGLIK_TOL, AIC_HINT, AIC_DIAGNOSES, 1),
        check("beta_generated", "beta", f"β̂ on {gen_desc}", 2, "hidden", gen, beta_oracle, BETA_TOL, BETA_HINT,
              BETA_DIAGNOSES, 4),
        check("tau_generated", "tau", f"τ̂ on {gen_desc}", 1, "hidden", gen, tau_oracle, BETA_TOL, TAU_HINT,
              TAU_DIAGNOSES, 4),
        check("loglik_generated", "loglik", f"log L on {gen_desc}", 1, "hidden", gen, loglik_oracle, LOGLIK_TOL,
              LOGLIK_HINT, LOGLIK_DIAGNOSES, 4),
    )
    return Exercise(id=ID, version=VERSION, title=TITLE, functions=FUNCTIONS, checks=checks, public_seed=20241127,
                    forbidden_imports=("reference", "graders", "glmm_exercises", "statsmodels"), call_seconds=20.0)


EXERCISE = build(DEFAULT_PARAMS)

_ALL = frozenset({c.name for c in EXERCISE.checks})

#: mutant name -> the checks it fails on the default (Poisson) variant when all checks run.
MUTANTS: dict[str, frozenset[str]] = {
    "glm_ignores_clusters": _ALL,
    "no_log_factorial": frozenset({"loglik_own", "aic_own", "loglik_generated"}),
    "aic_beta_only": frozenset({"aic_own"}),
    "tau2_as_tau": frozenset({"tau_own", "tau_generated"}),
    "laplace_no_determinant": _ALL,
}


def mutants_for(params: dict[str, Any]) -> dict[str, frozenset[str]]:
    """Checks each mutant fails in this variant (used by selftest; ``MUTANTS`` is exact for the Poisson default).

    Binary responses have no ``log y!`` constant, so that mutant is right for binomial variants.
    """
    out = {
        "glm_ignores_clusters": _ALL,
        "no_log_factorial": MUTANTS["no_log_factorial"],
        "aic_beta_only": MUTANTS["aic_beta_only"],
        "tau2_as_tau": MUTANTS["tau2_as_tau"],
        "laplace_no_determinant": frozenset({"tau_own", "loglik_own", "tau_generated", "loglik_generated"}),
    }
    if params["family"] != "poisson":
        out["no_log_factorial"] = frozenset()
    return out

#: mutant name -> the mistakes its failing checks may name (the mutant's own; at least one is named).
MUTANT_DIAGNOSES: dict[str, frozenset[str]] = {
    "aic_beta_only": frozenset({"beta_only"}),
    "glm_ignores_clusters": frozenset({"glm", "zero"}),
    "no_log_factorial": frozenset({"no_log_factorial"}),
    "tau2_as_tau": frozenset({"tau2"}),
}
