"""Exercise ``expfam``: write a distribution in exponential-family form.

Form of the lecture notes: ``f(y | θ) = exp((yθ − b(θ))/φ · w + c(y, φ, w))``. The variant picks
one distribution (Bernoulli, binomial proportion Y/n, Poisson, gamma with known shape, normal with
known variance, exponential, geometric on {0, 1, …}, negative binomial with known k, inverse
Gaussian with known λ). Students implement the parts θ(μ), b(θ), φ, w, c(y, φ, w), b'(θ), V(μ)
and the canonical link g(μ), plus four short functions that combine the parts in a fixed way
(given verbatim on the sheet). Because (θ, b, c, φ, w) are not unique, the parts are graded only
through invariants: the rebuilt density, b'(θ(μ)) = μ, a numerical b' from b, and φ V(μ)/w =
Var(Y). The canonical link and the variance function are graded against the usual conventions
(stated on the sheet).

Oracles: the reference families' ``logpdf``/``variance``/``theta`` and links
(:mod:`reference.families`, :mod:`reference.links`); scipy.stats for the exponential and the
geometric density, which the reference families cover only as special cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from graders.checks import Diagnosis, Exercise, FunctionSpec, PropertyCheck
from graders.compare import Comparison
from reference.families import (
    Binomial,
    Family,
    Gamma,
    Gaussian,
    InverseGaussian,
    NegativeBinomial,
    Poisson,
)
from reference.links import get_link

__all__ = [
    "DEFAULT_PARAMS",
    "DISTRIBUTIONS",
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

ID = "expfam"
TITLE = "Members of the exponential family"
VERSION = "1"
SHEET = "exercises/expfam.md.j2"


@dataclass(frozen=True)
class Distribution:
    """How one variant's distribution maps onto the reference: family, φ, w, canonical link, truth."""

    label: str
    known: str | None  # name of the known parameter in params, or None
    family: Callable[[dict[str, Any]], Family]
    phi: Callable[[dict[str, Any]], float]
    w: Callable[[dict[str, Any]], float]
    #: conventional canonical link: a reference link name, or None for "θ(μ) of the reference family"
    link: str | None
    support: str  # "binary", "proportion", "count", "positive", "real"


def _one(_p: dict[str, Any]) -> float:
    return 1.0


DISTRIBUTIONS: dict[str, Distribution] = {
    "bernoulli": Distribution("Bernoulli(μ)", None, lambda p: Binomial(), _one, _one, "logit", "binary"),
    "binomial_proportion": Distribution(
        "binomial proportion Y = S/n, S ~ Bin(n, μ)", "n", lambda p: Binomial(), _one, lambda p: float(p["n"]),
        "logit", "proportion",
    ),
    "poisson": Distribution("Poisson(μ)", None, lambda p: Poisson(), _one, _one, "log", "count"),
    "gamma": Distribution(
        "gamma with known shape ν and mean μ", "shape", lambda p: Gamma(), lambda p: 1.0 / p["shape"], _one,
        "inverse", "positive",
    ),
    "normal": Distribution(
        "normal N(μ, σ²) with known σ²", "sigma2", lambda p: Gaussian(), lambda p: float(p["sigma2"]), _one,
        "identity", "real",
    ),
    "exponential": Distribution("exponential with mean μ", None, lambda p: Gamma(), _one, _one, "inverse", "positive"),
    "geometric": Distribution(
        "geometric on {0, 1, 2, …} with mean μ", None, lambda p: NegativeBinomial(1.0), _one, _one, None, "count",
    ),
    "negative_binomial": Distribution(
        "negative binomial with known k and mean μ", "k", lambda p: NegativeBinomial(float(p["k"])), _one, _one,
        None, "count",
    ),
    "inverse_gaussian": Distribution(
        "inverse Gaussian with mean μ and known shape λ", "lam", lambda p: InverseGaussian(),
        lambda p: 1.0 / p["lam"], _one, "inverse_squared", "positive",
    ),
}

DEFAULT_PARAMS: dict[str, Any] = {"distribution": "gamma", "shape": 2.5}


def draw_params(rng: np.random.Generator) -> dict[str, Any]:
    """One variant: a distribution and, where it has one, its known parameter (re-drawn until sound)."""
    while True:
        params = _draw_once(rng)
        if not problems(params):
            return params


def _draw_once(rng: np.random.Generator) -> dict[str, Any]:
    name = str(rng.choice(sorted(DISTRIBUTIONS)))
    params: dict[str, Any] = {"distribution": name}
    known = DISTRIBUTIONS[name].known
    if known == "n":
        params["n"] = int(rng.integers(2, 21))
    elif known == "shape":
        params["shape"] = round(float(rng.uniform(1.5, 6.0)), 1)
    elif known == "sigma2":
        params["sigma2"] = round(float(rng.uniform(0.3, 4.0)), 1)
    elif known == "k":
        params["k"] = round(float(rng.uniform(0.5, 5.0)), 1)
    elif known == "lam":
        params["lam"] = round(float(rng.uniform(0.5, 5.0)), 1)
    return params


def make_data(params: dict[str, Any]) -> dict[str, Any]:
    """No data files."""
    return {}


def problems(params: dict[str, Any]) -> list[str]:
    """A known distribution with a valid known parameter; shape/σ²/λ ≠ 1 so that φ-mistakes show."""
    name = params.get("distribution")
    if name not in DISTRIBUTIONS:
        return [f"distribution must be one of {sorted(DISTRIBUTIONS)}"]
    known = DISTRIBUTIONS[name].known
    if known is None:
        return []
    value = params.get(known)
    if value is None or not np.isfinite(value) or value <= 0:
        return [f"{name} needs a positive known parameter {known!r}"]
    if known == "n" and (int(value) != value or value < 2):
        return ["n must be an integer ≥ 2 (n = 1 is the Bernoulli variant)"]
    if known in ("shape", "sigma2", "lam") and abs(value - 1.0) < 0.2:
        return [f"{known} = {value} is too close to 1: φ = 1 and φ = 1/{known} would be indistinguishable"]
    return []


# Oracles -----------------------------------------------------------------------------------


def _dist(params: dict[str, Any]) -> Distribution:
    return DISTRIBUTIONS[params["distribution"]]


def true_logpdf(y: Any, mu: Any, params: dict[str, Any]) -> np.ndarray:
    """log f(y | μ) of the variant's distribution."""
    name = params["distribution"]
    y_arr, mu_arr = np.asarray(y, dtype=np.float64), np.asarray(mu, dtype=np.float64)
    if name == "exponential":
        return stats.expon.logpdf(y_arr, scale=mu_arr)
    if name == "geometric":
        # scipy's geom counts trials up to the first success (support 1, 2, …): shift by one
        return stats.geom.logpmf(y_arr + 1.0, 1.0 / (1.0 + mu_arr))
    d = _dist(params)
    return d.family(params).logpdf(y_arr, mu_arr, d.phi(params), d.w(params))


def true_variance(mu: Any, params: dict[str, Any]) -> np.ndarray:
    """Var(Y) = φ V(μ) / w."""
    d = _dist(params)
    return d.phi(params) * d.family(params).variance(np.asarray(mu, dtype=np.float64)) / d.w(params)


def variance_function(mu: Any, params: dict[str, Any]) -> np.ndarray:
    """The conventional variance function V(μ)."""
    return _dist(params).family(params).variance(np.asarray(mu, dtype=np.float64))


def canonical_link_oracle(mu: Any, params: dict[str, Any]) -> np.ndarray:
    """The canonical link in the convention of the sheet (R's for gamma and inverse Gaussian)."""
    d = _dist(params)
    mu_arr = np.asarray(mu, dtype=np.float64)
    if d.link is None:
        return d.family(params).theta(mu_arr)
    return get_link(d.link).link(mu_arr)


def mean_oracle(mu: Any, params: dict[str, Any]) -> np.ndarray:
    """b'(θ(μ)) = μ in any valid parametrisation."""
    return np.asarray(mu, dtype=np.float64) + 0.0


# Classic mistakes ------------------------------------------------------------------------------


def _logpdf_phi_inverted(y: Any, mu: Any, params: dict[str, Any]) -> np.ndarray:
    # the dispersion taken as the known parameter itself (φ = ν instead of 1/ν, λ instead of 1/λ)
    d = _dist(params)
    return d.family(params).logpdf(np.asarray(y, dtype=np.float64), np.asarray(mu, dtype=np.float64),
                                   1.0 / d.phi(params), d.w(params))


def _var_phi_inverted(mu: Any, params: dict[str, Any]) -> np.ndarray:
    d = _dist(params)
    return d.family(params).variance(np.asarray(mu, dtype=np.float64)) / (d.phi(params) * d.w(params))


def _var_double_counted(mu: Any, params: dict[str, Any]) -> np.ndarray:
    # V(μ) returned as Var(Y), then multiplied by φ/w again
    d = _dist(params)
    return true_variance(mu, params) * d.phi(params) / d.w(params)


def _link_is_theta(mu: Any, params: dict[str, Any]) -> np.ndarray:
    return _dist(params).family(params).theta(np.asarray(mu, dtype=np.float64))


PHI_HINT = (
    "Your value matches the dispersion φ taken as the known parameter itself; for the gamma "
    "(inverse Gaussian) family φ = 1/ν (1/λ): Var(Y) = φ V(μ)/w must equal the variance of Y."
)
DENSITY_DIAGNOSES = (Diagnosis("phi_inverted", _logpdf_phi_inverted, PHI_HINT),)
VAR_DIAGNOSES = (
    Diagnosis("phi_inverted", _var_phi_inverted, PHI_HINT),
    Diagnosis(
        "double_counted",
        _var_double_counted,
        "Your value has φ/w twice: variance(mu) is the variance *function* V(μ) = b''(θ(μ)), "
        "without φ and w; Var(Y) = φ V(μ)/w.",
    ),
)
V_DIAGNOSES = (
    Diagnosis(
        "var_y",
        true_variance,
        "You returned Var(Y); the variance function V(μ) = b''(θ(μ)) leaves out φ/w.",
    ),
)
LINK_DIAGNOSES = (
    Diagnosis(
        "theta_with_sign",
        _link_is_theta,
        "You returned θ(μ) itself; by the convention of the sheet the canonical link drops the "
        "constant factor (gamma/exponential: 1/μ, inverse Gaussian: 1/μ²).",
    ),
)

DENSITY_HINT = (
    "Check each part: (y θ − b(θ)) w/φ + c(y, φ, w) must equal log f(y | μ) for every y in the support; "
    "collect all terms without θ in c (log-factorials, log Γ, normalising constants)."
)
MEAN_HINT = "b'(θ) is the mean: mean(theta(mu)) must give mu back; differentiate your b."
B_PRIME_HINT = "A central difference of your b around θ(μ) must give μ: b and θ do not fit together."
VAR_HINT = "Var(Y) = φ V(μ)/w with V(μ) = b''(θ(μ)); compare with the known variance of your distribution."
V_HINT = "The variance function is V(μ) = b''(θ) written in μ (e.g. μ for Poisson, μ² for gamma)."
LINK_HINT = "The canonical link maps μ to the canonical parameter θ (up to the convention on the sheet)."

# Strategies ------------------------------------------------------------------------------------


def _real(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _mu(params: dict[str, Any]) -> st.SearchStrategy[float]:
    support = _dist(params).support
    if support in ("binary", "proportion"):
        return _real(0.02, 0.98)
    if support == "real":
        return _real(-10.0, 10.0)
    return _real(0.1, 20.0)


def _y(params: dict[str, Any]) -> st.SearchStrategy[float]:
    support = _dist(params).support
    if support == "binary":
        return st.sampled_from([0.0, 1.0])
    if support == "proportion":
        n = int(params["n"])
        return st.integers(0, n).map(lambda s: s / n)
    if support == "count":
        return st.integers(0, 60).map(float)
    if support == "real":
        return _real(-20.0, 20.0)
    return _real(0.01, 50.0)


def _vector(elements: st.SearchStrategy[float]) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, st.integers(1, 10), elements=elements)


FUNCTIONS = (
    FunctionSpec("canonical_parameter", "(mu, params)", "Canonical parameter θ as a function of the mean μ (float or array)."),
    FunctionSpec("cumulant", "(theta, params)", "The cumulant function b(θ) (float or array)."),
    FunctionSpec("dispersion", "(params)", "The dispersion parameter φ (a float)."),
    FunctionSpec("prior_weight", "(params)", "The weight w (a float)."),
    FunctionSpec("c_term", "(y, phi, w, params)", "The term c(y, φ, w) that does not involve θ (float or array y)."),
    FunctionSpec("mean_from_theta", "(theta, params)", "The mean b'(θ) as a function of θ (float or array)."),
    FunctionSpec("variance_function", "(mu, params)", "The variance function V(μ) = b''(θ(μ)) (float or array)."),
    FunctionSpec("canonical_link", "(mu, params)", "The canonical link g(μ), in the convention of the sheet."),
    FunctionSpec(
        "rebuilt_log_density",
        "(y, mu, params)",
        """log f(y | μ) rebuilt from your parts. Use exactly:

    t = canonical_parameter(mu, params)
    w, phi = prior_weight(params), dispersion(params)
    return (y * t - cumulant(t, params)) * w / phi + c_term(y, phi, w, params)""",
    ),
    FunctionSpec(
        "mean_at_mu",
        "(mu, params)",
        """b'(θ(μ)) from your parts. Use exactly:

    return mean_from_theta(canonical_parameter(mu, params), params)""",
    ),
    FunctionSpec(
        "b_prime_numeric",
        "(mu, params)",
        """A central difference of your b at θ(μ). Use exactly:

    t = canonical_parameter(mu, params)
    h = 1e-6 * (1 + abs(t))
    return (cumulant(t + h, params) - cumulant(t - h, params)) / (2 * h)""",
    ),
    FunctionSpec(
        "var_y",
        "(mu, params)",
        """Var(Y) from your parts. Use exactly:

    return dispersion(params) * variance_function(mu, params) / prior_weight(params)""",
    ),
)

#: gammaln and log terms of moderate size: 1e-9 relative plus 1e-9 absolute.
TOL = Comparison(rtol=1e-9, atol=1e-9)
#: a central difference with h ≈ 1e-6 (1 + |θ|) is accurate to ~1e-8 relative here.
NUMERIC_TOL = Comparison(rtol=1e-5, atol=1e-8)


def build(params: dict[str, Any]) -> Exercise:
    """The exercise for one variant: invariants of the parts on generated (y, μ)."""
    p = st.just(dict(params))
    mu, y = _mu(params), _y(params)

    def check(name: str, function: str, desc: str, points: float, vis: str, cases: Any, oracle: Any,
              hint: str, diagnoses: tuple[Diagnosis, ...] = (), comparison: Comparison = TOL) -> PropertyCheck:
        return PropertyCheck(
            name=name, function=function, description=desc, points=points,
            visibility=vis,  # type: ignore[arg-type]
            cases=cases, oracle=oracle, comparison=comparison, hint=hint, diagnoses=diagnoses,
        )

    scalar_mu = st.fixed_dictionaries({"mu": mu, "params": p})
    vector_mu = st.fixed_dictionaries({"mu": _vector(mu), "params": p})
    checks = (
        check("density", "rebuilt_log_density", "rebuilt log-density at float (y, μ)", 3, "public",
              st.fixed_dictionaries({"y": y, "mu": mu, "params": p}), true_logpdf, DENSITY_HINT, DENSITY_DIAGNOSES),
        check("density_vector", "rebuilt_log_density", "rebuilt log-density, arrays y and μ of equal length", 1, "hidden",
              st.integers(1, 10).flatmap(lambda n: st.fixed_dictionaries({
                  "y": hnp.arrays(np.float64, n, elements=y), "mu": hnp.arrays(np.float64, n, elements=mu),
                  "params": p})),
              true_logpdf, DENSITY_HINT, DENSITY_DIAGNOSES),
        check("mean", "mean_at_mu", "b'(θ(μ)) = μ", 1, "public", st.one_of(scalar_mu, vector_mu), mean_oracle, MEAN_HINT),
        check("b_prime", "b_prime_numeric", "numerical derivative of b at θ(μ) equals μ", 1, "public", scalar_mu,
              mean_oracle, B_PRIME_HINT, comparison=NUMERIC_TOL),
        check("var_y", "var_y", "φ V(μ)/w = Var(Y)", 1, "public", st.one_of(scalar_mu, vector_mu), true_variance,
              VAR_HINT, VAR_DIAGNOSES),
        check("canonical_link", "canonical_link", "the canonical link g(μ)", 1, "public", st.one_of(scalar_mu, vector_mu),
              canonical_link_oracle, LINK_HINT, LINK_DIAGNOSES),
        check("variance_function", "variance_function", "the conventional variance function V(μ)", 1, "hidden",
              st.one_of(scalar_mu, vector_mu), variance_function, V_HINT, V_DIAGNOSES),
    )
    return Exercise(id=ID, version=VERSION, title=TITLE, functions=FUNCTIONS, checks=checks, public_seed=20241119)


EXERCISE = build(DEFAULT_PARAMS)

#: mutant name -> the checks it fails on the default (gamma, shape 2.5) variant when all checks run.
MUTANTS: dict[str, frozenset[str]] = {
    "phi_is_shape": frozenset({"density", "density_vector", "var_y"}),
    "c_without_log_gamma": frozenset({"density", "density_vector"}),
    "link_with_sign": frozenset({"canonical_link"}),
    "variance_is_var_y": frozenset({"var_y", "variance_function"}),
    "b_sign_flipped": frozenset({"density", "density_vector", "b_prime"}),
    "link_is_identity": frozenset({"canonical_link"}),
    "no_c_term": frozenset({"density", "density_vector"}),
}

#: gamma-specific mutants (the exponential, a gamma with shape 1, shares two of the mistakes)
_GAMMA_ONLY = ("phi_is_shape", "c_without_log_gamma", "link_with_sign", "variance_is_var_y", "b_sign_flipped")


def mutants_for(params: dict[str, Any]) -> dict[str, frozenset[str]]:
    """The mutants' failing checks in one variant.

    Most mutants are gamma mistakes (two also hit the exponential); ``link_is_identity`` is caught
    unless the canonical link is the identity (normal); ``no_c_term`` unless c = 0 (Bernoulli,
    exponential, geometric).
    """
    name = params["distribution"]
    out = dict(MUTANTS)
    if name != "gamma":
        for mutant in _GAMMA_ONLY:
            out[mutant] = frozenset()
        if name == "exponential":  # the gamma with shape 1 shares θ, b and the link, but not φ or log Γ(ν)
            out["b_sign_flipped"] = MUTANTS["b_sign_flipped"]
            out["link_with_sign"] = MUTANTS["link_with_sign"]
    if name == "normal":
        out["link_is_identity"] = frozenset()
    if name in ("bernoulli", "exponential", "geometric"):
        out["no_c_term"] = frozenset()
    return out

#: mutant name -> the mistakes its failing checks may name (the mutant's own; at least one is named).
MUTANT_DIAGNOSES: dict[str, frozenset[str]] = {
    "variance_is_var_y": frozenset({"var_y", "double_counted"}),
}
