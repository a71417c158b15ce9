"""Exercise ``link-aic``: choosing the link of a binary GLM by AIC, then a random-intercept GLMM.

Lecture notes, interactive session problem 1b: ``y_ij ~ Bin(1, π_ij)``,
``g(π_ij) = β0 + β1 x1_ij + β2 x2_i`` with clusters ``i`` and a cluster-level covariate ``x2``.
Each student gets a data set simulated with a random intercept per cluster and a true link that
varies between variants. Students write the AIC of the maximum-likelihood binary GLM for the
logit, probit and cloglog links, name the link with the smallest AIC, then compute the AIC of the
logit GLMM with a random intercept per cluster (Laplace, as ``lme4::glmer``) and say whether the
GLMM beats the logit GLM by AIC (a bool).

Oracles: :func:`reference.glm_fit` (``.aic``) and :func:`reference.glmer` (``.aic``). Checks
run on the student's own data set and on generated data sets that are free of separation
(tested exactly by a linear programme), so every ML fit exists. The link name is compared as an
exact string and the GLMM-vs-GLM verdict as an exact bool (``graders.compare`` kinds).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st
from scipy.optimize import linprog

from glmm_exercises.catalogue.memo import by_data
from graders.checks import Diagnosis, Exercise, FunctionSpec, PropertyCheck
from graders.compare import Comparison
from reference.glm import glm_fit
from reference.glmm import glmer
from reference.links import get_link

__all__ = [
    "DEFAULT_PARAMS",
    "EXERCISE",
    "ID",
    "LINKS",
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

ID = "link-aic"
TITLE = "Choosing a link for binary data by AIC, and the random-intercept GLMM"
VERSION = "2"
SHEET = "exercises/link_aic.md.j2"

#: the links compared (best_link returns one of these names).
LINKS = ("logit", "probit", "cloglog")

DEFAULT_PARAMS: dict[str, Any] = {
    "link": "cloglog",
    "beta": [-0.6, 1.0, -0.8],
    "tau": 0.8,
    "n_clusters": 25,
    "cluster_size": 12,
    "data_seed": 20240,
}


def draw_params(rng: np.random.Generator) -> dict[str, Any]:
    """One variant: true link, coefficients, random-intercept sd and sizes; re-drawn until sound."""
    while True:
        params = {
            "link": str(rng.choice(LINKS)),
            "beta": [
                round(float(rng.uniform(-0.8, 0.4)), 2),
                round(float(rng.choice([-1.0, 1.0]) * rng.uniform(0.6, 1.4)), 2),
                round(float(rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.0)), 2),
            ],
            "tau": round(float(rng.uniform(0.5, 1.2)), 2),
            "n_clusters": int(rng.integers(20, 31)),
            "cluster_size": int(rng.integers(8, 15)),
            "data_seed": int(rng.integers(0, 2**31 - 1)),
        }
        if not problems(params):
            return params


def _simulate(rng: np.random.Generator, link: str, beta: Any, tau: float, n_clusters: int,
              sizes: np.ndarray) -> pd.DataFrame:
    cluster = np.repeat(np.arange(1, n_clusters + 1), sizes)
    x1 = np.round(rng.normal(0.0, 1.0, cluster.size), 3)
    x2_c = np.round(rng.normal(0.0, 1.0, n_clusters), 3)
    gamma = rng.normal(0.0, tau, n_clusters)
    eta = beta[0] + beta[1] * x1 + beta[2] * x2_c[cluster - 1] + gamma[cluster - 1]
    prob = get_link(link).inverse(eta)
    y = (rng.uniform(size=cluster.size) < prob).astype(int)
    return pd.DataFrame({"cluster": cluster, "x1": x1, "x2": x2_c[cluster - 1], "y": y})


def make_data(params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """``binary.csv``: columns ``cluster``, ``x1``, ``x2`` (cluster level), ``y`` (0/1)."""
    rng = np.random.default_rng(params["data_seed"])
    sizes = np.full(params["n_clusters"], params["cluster_size"])
    return {"binary": _simulate(rng, params["link"], params["beta"], params["tau"], params["n_clusters"], sizes)}


def _design(frame: pd.DataFrame) -> np.ndarray:
    return np.column_stack([np.ones(len(frame)), frame["x1"].to_numpy(float), frame["x2"].to_numpy(float)])


def separated(X: np.ndarray, y: np.ndarray) -> bool:
    """Whether (X, y) shows complete or quasi-complete separation (an ML estimate would not exist).

    Separation means some b ≠ 0 has s_j x_jᵀb ≥ 0 for all j (s_j = ±1 from y_j); the linear
    programme maximises Σ_j s_j x_jᵀb under those constraints in the box |b| ≤ 1.
    """
    s = np.where(np.asarray(y) > 0.5, 1.0, -1.0)
    A = s[:, None] * np.asarray(X, dtype=np.float64)
    res = linprog(-A.sum(axis=0), A_ub=-A, b_ub=np.zeros(len(s)), bounds=[(-1.0, 1.0)] * A.shape[1], method="highs")
    return bool(res.status == 0 and -res.fun > 1e-7)


def _aics(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.array([glm_aic_oracle(X, y, link) for link in LINKS])


def _frame(X: Any, y: Any, cluster: Any) -> pd.DataFrame:
    X_arr = np.asarray(X, dtype=np.float64)
    frame = pd.DataFrame({f"x{j}": X_arr[:, j] for j in range(1, X_arr.shape[1])})
    frame["y"] = np.asarray(y, dtype=np.float64)
    frame["g"] = np.asarray(cluster).astype(str)
    return frame


def _formula(X: Any) -> str:
    p = np.asarray(X).shape[1]
    terms = " + ".join(f"x{j}" for j in range(1, p)) or "1"
    return f"y ~ {terms} + (1 | g)"


def _quiet_aics(X: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """The three GLM AICs, or None when a fit is extreme.

    Extreme: the fit warns (no convergence) or a fitted probability is within 1e-6 of 0 or 1
    (near separation, where the maximum is so flat that optimisers stop at different points).
    """
    aics = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for link in LINKS:
            try:
                fit = glm_fit(X, y, "binomial", link)
            except (Warning, ValueError, ArithmeticError):
                return None
            if not (fit.converged and np.all((fit.fitted > 1e-6) & (fit.fitted < 1 - 1e-6))):
                return None
            aics.append(fit.aic)
    return np.asarray(aics)


@by_data(32)
def _glmm_fit(X: Any, y: Any, cluster: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a singular fit warns; callers decide what to do with it
        return glmer(_formula(X), _frame(X, y, cluster), "binomial")


def _interior(fit: Any) -> bool:
    """The GLMM estimate of τ is away from the boundary 0.

    Boundary fits are left out of the checks: on some data sets reference.glmer stops at τ = 0
    although the Laplace deviance is lower inside (reported to the reference's owner), so the
    oracle is only trusted for interior estimates.
    """
    return bool(np.all(np.asarray(fit.theta, dtype=np.float64) > 1e-3)) and bool(np.isfinite(fit.aic))


def problems(params: dict[str, Any]) -> list[str]:
    """The variant's data set: no separation, the fits converge, the best link is not a near tie."""
    out: list[str] = []
    if params.get("link") not in LINKS:
        return [f"link must be one of {LINKS}"]
    frame = make_data(params)["binary"]
    X, y = _design(frame), frame["y"].to_numpy(float)
    if separated(X, y):
        return ["the data set is separated: the ML estimate does not exist"]
    aics = _quiet_aics(X, y)
    if aics is None:
        return ["a binary GLM fit warns (fitted probabilities 0 or 1, or no convergence)"]
    aics = np.sort(aics)
    if aics[1] - aics[0] < 0.05:
        out.append("the two best links have nearly equal AIC (< 0.05 apart); the best link is ambiguous")
    try:
        fit = _glmm_fit(X, y, frame["cluster"])
    except (ValueError, ArithmeticError) as exc:
        return [*out, f"the GLMM fit failed: {exc}"]
    if not _interior(fit):
        out.append("the GLMM estimate of τ is on the boundary 0 (or its AIC is not finite)")
    elif abs(glm_aic_oracle(X, y, "logit") - fit.aic) < 0.05:
        out.append("the GLM and GLMM AICs are nearly equal (< 0.05 apart); which model wins is ambiguous")
    return out


# Oracles -----------------------------------------------------------------------------------


@by_data(512)
def glm_aic_oracle(X: Any, y: Any, link: str) -> float:
    """AIC of the ML binary GLM with the given link (reference.glm_fit)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(glm_fit(np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64), "binomial", link).aic)


def best_link_oracle(X: Any, y: Any) -> str:
    """Name (in LINKS) of the link with the smallest AIC."""
    return LINKS[int(np.argmin(_aics(np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64))))]


def glmm_aic_oracle(X: Any, y: Any, cluster: Any) -> float:
    """AIC of the logit random-intercept GLMM by Laplace (reference.glmer, as lme4)."""
    return float(_glmm_fit(X, y, cluster).aic)


def gain_oracle(X: Any, y: Any, cluster: Any) -> float:
    """AIC(logit GLM) − AIC(GLMM): positive when the random intercept pays for itself."""
    return glm_aic_oracle(X, y, "logit") - glmm_aic_oracle(X, y, cluster)


def beats_oracle(X: Any, y: Any, cluster: Any) -> bool:
    """Whether the GLMM has the smaller AIC than the logit GLM."""
    return bool(gain_oracle(X, y, cluster) > 0)


# Classic mistakes, as arithmetic on the reference values ------------------------------------------


def _p(X: Any) -> int:
    return int(np.asarray(X).shape[1])


def _deviance(X: Any, y: Any, link: str) -> float:
    # binary data: saturated log-likelihood 0, so the deviance is −2ℓ = AIC − 2p
    return glm_aic_oracle(X, y, link) - 2 * _p(X)


def _penalty_p(X: Any, y: Any, link: str) -> float:
    return glm_aic_oracle(X, y, link) - _p(X)


def _loglik(X: Any, y: Any, link: str) -> float:
    return -0.5 * _deviance(X, y, link)


def _not_doubled(X: Any, y: Any, link: str) -> float:
    return _p(X) - _loglik(X, y, link)


def _probit_as_logit(X: Any, y: Any, link: str) -> float:
    return glm_aic_oracle(X, y, "logit" if link == "probit" else link)


def _worst_link(X: Any, y: Any) -> str:
    return LINKS[int(np.argmax(_aics(np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64))))]


def _glmm_fixed_only(X: Any, y: Any, cluster: Any) -> float:
    return glmm_aic_oracle(X, y, cluster) - 2.0


def _glmm_deviance(X: Any, y: Any, cluster: Any) -> float:
    return glmm_aic_oracle(X, y, cluster) - 2.0 * (_p(X) + 1)



GLM_DIAGNOSES = (
    Diagnosis("deviance", _deviance,
              "You returned the deviance −2ℓ (for 0/1 data the saturated log-likelihood is 0); AIC adds 2p, "
              "p = number of estimated coefficients."),
    Diagnosis("penalty_p", _penalty_p, "Your value has +p where AIC has +2p: AIC = −2ℓ + 2p."),
    Diagnosis("not_doubled", _not_doubled, "Your value matches p − ℓ; AIC = −2ℓ + 2p (both terms doubled)."),
    Diagnosis("probit_as_logit", _probit_as_logit,
              "Your probit AIC equals the logit AIC: the probit inverse link is the standard normal cdf Φ, "
              "not the logistic cdf."),
)
BEST_DIAGNOSES = (
    Diagnosis("largest", _worst_link, "You picked the link with the largest AIC; smaller AIC is better."),
)
GLMM_DIAGNOSES = (
    Diagnosis("fixed_only", _glmm_fixed_only,
              "Your AIC counts only the fixed effects: the random-intercept variance τ² is a parameter too, "
              "so the GLMM has p + 1 parameters."),
    Diagnosis("deviance", _glmm_deviance, "You returned −2ℓ without the penalty 2(p + 1)."),
)

GLM_HINT = (
    "AIC = −2ℓ(β̂) + 2p with ℓ the maximised binary log-likelihood Σ y log π + (1 − y) log(1 − π) and "
    "p = X.shape[1]; check the inverse link (logit: logistic cdf, probit: Φ, cloglog: 1 − exp(−exp η)) "
    "and that the fit converged."
)
BEST_HINT = 'Return the name ("logit", "probit" or "cloglog", lower case) of the link with the smallest AIC.'
GLMM_HINT = (
    "AIC = −2ℓ_Laplace + 2(p + 1) with the Laplace log-likelihood maximised over β and τ (τ = 0 allowed); "
    "each cluster contributes log ∫ Π_j f(y_ij | γ) φ(γ; 0, τ²) dγ."
)
BEATS_HINT = (
    "Return True exactly when AIC(GLMM) < AIC(logit GLM) for the same X and y (smaller AIC wins), as a bool; "
    "both AICs must be right, the GLMM with p + 1 parameters (τ² included)."
)

# Strategies ------------------------------------------------------------------------------------


def _generated(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """Simulated clustered data sets (x2 at cluster level) on which every fit is well posed.

    ``kind``: ``"glm"`` (adds a ``link``), ``"best"`` (the two best AICs at least 0.01 apart) or
    ``"glmm"`` (adds ``cluster``; the GLMM estimate of τ must be interior). Separation is ruled out
    exactly (:func:`separated`) and every GLM fit must run without warnings.
    """
    tau = st.floats(0.7, 1.5) if kind == "glmm" else st.floats(0.0, 1.5)
    n_clusters = st.integers(10, 16) if kind == "glmm" else st.integers(6, 15)

    def make(seed: int, n_cl: int, size: int, link: str, tau_: float, b1: float) -> dict[str, Any] | None:
        rng = np.random.default_rng(seed)
        sizes = rng.integers(max(2, size - 3), size + 4, n_cl)
        frame = _simulate(rng, link, [-0.3, b1, 0.6], tau_, n_cl, sizes)
        X, y = _design(frame), frame["y"].to_numpy(float)
        if separated(X, y):
            return None
        aics = _quiet_aics(X, y)
        if aics is None or (kind == "best" and np.diff(np.sort(aics))[0] < 0.01):
            return None
        case: dict[str, Any] = {"X": X, "y": y}
        if kind == "glm":
            case["link"] = LINKS[seed % 3]
        if kind == "glmm":
            case["cluster"] = frame["cluster"].to_numpy()
            if not _interior(_glmm_fit(X, y, case["cluster"])):
                return None
        return case

    return st.builds(
        make,
        st.integers(0, 2**32 - 1),
        n_clusters,
        st.integers(4, 10),
        st.sampled_from(LINKS),
        tau,
        st.floats(-1.5, 1.5),
    ).filter(lambda c: c is not None)


#: Seeds of the fixed data sets of glmm_beats_generated (12 clusters, logit link; see _beats_case):
#: AIC(GLM) − AIC(GLMM) is about −0.34, −1.75 (the GLMM loses: the τ² it adds does not pay for its
#: penalty 2) and 13.9, 11.8 (the GLMM wins clearly).
BEATS_SEEDS = (4, 6, 15, 41)


def _beats_case(seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 11, 12)
    frame = _simulate(rng, "logit", [-0.3, 0.8, 0.6], [0.3, 1.2][seed % 2], 12, sizes)
    return {"X": _design(frame), "y": frame["y"].to_numpy(float), "cluster": frame["cluster"].to_numpy()}


#: AIC of a few hundred: 1e-6 relative is ~1e-4 absolute, loose enough for any converged optimiser.
TOL = Comparison(rtol=1e-6, atol=1e-6)
LINK_NAME = Comparison(kind="string")
VERDICT = Comparison(kind="bool")

_XY_DOC = """X: n×p design matrix (numpy array) whose first column is the intercept (ones).
        y: 0/1 responses (float array of length n)."""

FUNCTIONS = (
    FunctionSpec(
        "binary_glm_aic",
        "(X, y, link)",
        f"""AIC of the maximum-likelihood binary GLM y ~ Bin(1, π), g(π) = X @ beta.

    Args:
        {_XY_DOC}
        link: "logit", "probit" or "cloglog".

    Returns:
        −2 × maximised log-likelihood + 2 × (number of coefficients), a float.""",
    ),
    FunctionSpec(
        "best_link",
        "(X, y)",
        f"""Which of the links ("logit", "probit", "cloglog") gives the smallest AIC.

    Args:
        {_XY_DOC}

    Returns:
        The name of that link: "logit", "probit" or "cloglog" (a str).""",
    ),
    FunctionSpec(
        "glmm_aic",
        "(X, y, cluster)",
        f"""AIC of the logit GLMM with a random intercept per cluster, fitted by Laplace (as lme4::glmer).

    logit π_ij = x_ijᵀ beta + γ_i, γ_i ~ N(0, τ²); AIC = −2 ℓ_Laplace + 2 (p + 1).

    Args:
        {_XY_DOC}
        cluster: cluster label of each row (int array of length n).

    Returns:
        The AIC, a float.""",
    ),
    FunctionSpec(
        "glmm_beats_glm",
        "(X, y, cluster)",
        """Whether the logit random-intercept GLMM has a smaller AIC than the logit GLM.

    Arguments as glmm_aic.

    Returns:
        True if AIC(GLMM) < AIC(logit GLM), else False (a bool).""",
    ),
)


def build(params: dict[str, Any]) -> Exercise:
    """The exercise for one variant: the student's data set and generated data sets."""
    frame = make_data(params)["binary"]
    X, y, cluster = _design(frame), frame["y"].to_numpy(float), frame["cluster"].to_numpy()
    own = {"X": X, "y": y}
    own_c = {**own, "cluster": cluster}

    def check(name: str, function: str, desc: str, points: float, vis: str, cases: Any, oracle: Any,
              comparison: Comparison, hint: str, diagnoses: tuple[Diagnosis, ...], max_examples: int | None = None,
              time_limit: float = 10.0) -> PropertyCheck:
        return PropertyCheck(
            name=name, function=function, description=desc, points=points,
            visibility=vis,  # type: ignore[arg-type]
            cases=cases, oracle=oracle, comparison=comparison, hint=hint, diagnoses=diagnoses,
            max_examples=max_examples, time_limit=time_limit,
        )

    checks = (
        check("glm_aic_own_data", "binary_glm_aic", "your data set, each of the three links", 2, "public",
              st.sampled_from([{**own, "link": link} for link in LINKS]), glm_aic_oracle, TOL, GLM_HINT,
              GLM_DIAGNOSES, max_examples=3),
        check("glm_aic_generated", "binary_glm_aic", "simulated clustered data sets, any link", 2, "public",
              _generated("glm"), glm_aic_oracle, TOL, GLM_HINT, GLM_DIAGNOSES,
              max_examples=20),
        check("best_link_own_data", "best_link", "your data set", 1, "public", st.just(own), best_link_oracle,
              LINK_NAME, BEST_HINT, BEST_DIAGNOSES, max_examples=1),
        check("best_link_generated", "best_link", "simulated data sets without near ties", 1, "hidden",
              _generated("best"), best_link_oracle, LINK_NAME, BEST_HINT, BEST_DIAGNOSES, max_examples=15),
        check("glmm_aic_own_data", "glmm_aic", "your data set", 2, "public", st.just(own_c), glmm_aic_oracle, TOL,
              GLMM_HINT, GLMM_DIAGNOSES, max_examples=1, time_limit=30.0),
        check("glmm_aic_generated", "glmm_aic", "simulated clustered data sets with an interior estimate of τ", 2, "hidden",
              _generated("glmm"), glmm_aic_oracle, TOL, GLMM_HINT, GLMM_DIAGNOSES, max_examples=5,
              time_limit=30.0),
        check("glmm_beats_own_data", "glmm_beats_glm", "your data set", 1, "public", st.just(own_c), beats_oracle,
              VERDICT, BEATS_HINT, (), max_examples=1, time_limit=30.0),
        check("glmm_beats_generated", "glmm_beats_glm",
              "four simulated data sets: in two the GLMM wins clearly, in two it loses by less than 2", 1, "hidden",
              st.sampled_from(BEATS_SEEDS).map(_beats_case), beats_oracle, VERDICT, BEATS_HINT, (),
              max_examples=2 * len(BEATS_SEEDS), time_limit=30.0),
    )
    return Exercise(id=ID, version=VERSION, title=TITLE, functions=FUNCTIONS, checks=checks, public_seed=20241120,
                    call_seconds=30.0)


EXERCISE = build(DEFAULT_PARAMS)

_GLM = frozenset({"glm_aic_own_data", "glm_aic_generated"})

#: mutant name -> the checks it fails on the default variant when all checks run. The verdict
#: glmm_beats_glm compares the student's own two AICs, so a wrong AIC flips it where the error
#: exceeds the margin: on the default data AIC(GLM) − AIC(GLMM) ≈ 2.59, so a GLM AIC 2p = 6 or
#: p = 3 too small flips it there, and halving ℓ flips it everywhere the GLMM wins; a GLMM AIC 2
#: too small flips the two BEATS_SEEDS data sets where the GLMM loses by less than 2.
MUTANTS: dict[str, frozenset[str]] = {
    "returns_deviance": _GLM | {"glmm_beats_own_data"},
    "penalty_p": _GLM | {"glmm_beats_own_data"},
    "loglik_not_doubled": _GLM | {"glmm_beats_own_data", "glmm_beats_generated"},
    "best_link_largest_aic": frozenset({"best_link_own_data", "best_link_generated"}),
    "probit_logistic_cdf": _GLM | {"best_link_generated"},
    "glmm_fixed_effects_only": frozenset({"glmm_aic_own_data", "glmm_aic_generated", "glmm_beats_generated"}),
    "glmm_beats_reversed": frozenset({"glmm_beats_own_data", "glmm_beats_generated"}),
}


#: How each AIC mistake moves the student's (GLM AIC, GLMM AIC) pair, given the true pair and p.
_AIC_ERRORS: dict[str, Any] = {
    "returns_deviance": lambda glm, glmm, p: (glm - 2 * p, glmm),
    "penalty_p": lambda glm, glmm, p: (glm - p, glmm),
    "loglik_not_doubled": lambda glm, glmm, p: (glm / 2, glmm),
    "glmm_fixed_effects_only": lambda glm, glmm, p: (glm, glmm - 2),
}


def mutants_for(params: dict[str, Any]) -> dict[str, frozenset[str]]:
    """The mutants' failing checks in one variant (``MUTANTS`` is exact for the default variant).

    Whether a wrong AIC flips the verdict ``glmm_beats_own_data`` depends on the variant's margin
    AIC(GLM) − AIC(GLMM): the verdict is recomputed here from the reference AICs with each
    mutant's error applied, and the check is expected to fail exactly when the verdict flips.
    """
    frame = make_data(params)["binary"]
    X, y, cluster = _design(frame), frame["y"].to_numpy(float), frame["cluster"].to_numpy()
    glm, glmm = glm_aic_oracle(X, y, "logit"), glmm_aic_oracle(X, y, cluster)
    truth = glmm < glm
    out = dict(MUTANTS)
    for name, wrong in _AIC_ERRORS.items():
        wrong_glm, wrong_glmm = wrong(glm, glmm, X.shape[1])
        flips = (wrong_glmm < wrong_glm) != truth
        base = MUTANTS[name] - {"glmm_beats_own_data"}
        out[name] = base | {"glmm_beats_own_data"} if flips else base
    return out

#: mutant name -> the mistakes its failing checks may name (the mutant's own; at least one is named).
MUTANT_DIAGNOSES: dict[str, frozenset[str]] = {
    "best_link_largest_aic": frozenset({"largest"}),
    "glmm_fixed_effects_only": frozenset({"fixed_only"}),
    "loglik_not_doubled": frozenset({"not_doubled"}),
    "penalty_p": frozenset({"penalty_p"}),
    "probit_logistic_cdf": frozenset({"probit_as_logit"}),
    "returns_deviance": frozenset({"deviance"}),
}
