"""Tests for reference.marginal: cluster marginal likelihoods and marginal moments."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from reference.errors import ModelInputError
from reference.families import get_family
from reference.marginal import (
    cluster_loglik,
    conditional_mode,
    linear_predictor_sd,
    marginal_loglik,
    marginal_mean,
    poisson_marginal_mean,
    poisson_marginal_variance,
    population_averaged_curve,
    probit_marginal_probability,
)

RIKZ = Path(__file__).resolve().parents[2] / "shared" / "data" / "rikz.csv"
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None)


@st.composite
def clusters(draw: st.DrawFn, tau_range: tuple[float, float]) -> dict:
    """A random-intercept cluster: binary or Poisson responses drawn from the model itself."""
    family = draw(st.sampled_from(["binomial", "poisson"]))
    n = draw(st.integers(1, 50))
    log_tau = draw(st.floats(math.log(tau_range[0]), math.log(tau_range[1])))
    tau = math.exp(log_tau)
    b0 = draw(st.floats(-3.0, 3.0) if family == "binomial" else st.floats(-2.0, 2.0))
    b1 = draw(st.floats(-1.0, 1.0))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    eta = X @ [b0, b1] + tau * rng.normal()
    if family == "binomial":
        y = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta)))
    else:
        y = rng.poisson(np.exp(eta))
    return {"y": y, "X": X, "beta": [b0, b1], "tau": tau, "family": family}


def log_close(a: float, b: float, tol: float) -> bool:
    """|a − b| ≤ tol·max(1, |b|): for log-likelihoods, a relative tolerance on the likelihood."""
    return abs(a - b) <= tol * max(1.0, abs(b))


@pytest.mark.slow
@SETTINGS
@given(case=clusters((0.01, 1.5)), k=st.integers(25, 40))
def test_aghq_matches_brute_force_for_moderate_tau(case: dict, k: int) -> None:
    exact = cluster_loglik(**case, method="exact")
    aghq = cluster_loglik(**case, method="aghq", k=k)
    assert log_close(aghq, exact, 1e-8), (aghq, exact)


@pytest.mark.slow
@SETTINGS
@given(case=clusters((1.5, 5.0)))
def test_aghq_converges_to_brute_force_for_large_tau(case: dict) -> None:
    # For τ well above 1 and small clusters the integrand is far from normal: 25 nodes can be
    # off by ~1e-3 (lme4's nAGQ = 25 has the same limit); more nodes close the gap.
    exact = cluster_loglik(**case, method="exact")
    assert log_close(cluster_loglik(**case, method="aghq", k=25), exact, 1e-2)
    assert log_close(cluster_loglik(**case, method="aghq", k=400), exact, 1e-8)


@pytest.mark.parametrize(
    ("family", "y", "b0", "tau"),
    [
        ("binomial", [1, 0, 1, 1, 0, 1, 1, 1], 0.5, 0.8),
        ("binomial", [0], -2.0, 0.01),
        ("binomial", [1] * 50, 1.0, 1.2),
        ("poisson", [3, 0, 7, 2, 4], 1.0, 0.5),
        ("poisson", [0], 0.0, 0.3),
        ("poisson", [40, 35, 51], 3.0, 1.0),
    ],
)
def test_aghq_matches_brute_force_examples(family: str, y: list[int], b0: float, tau: float) -> None:
    n = len(y)
    X = np.column_stack([np.ones(n), np.linspace(-1, 1, n)])
    exact = cluster_loglik(y, X, [b0, 0.3], tau, family, method="exact")
    aghq = cluster_loglik(y, X, [b0, 0.3], tau, family, method="aghq", k=25)
    assert log_close(aghq, exact, 1e-8)


def test_brute_force_matches_direct_quad_of_density() -> None:
    # Independent check of method="exact": integrate scipy's Poisson pmf product directly.
    from scipy.integrate import quad

    y = np.array([2, 5, 1])
    x = np.array([0.1, -0.4, 1.2])
    b0, b1, tau = 0.7, -0.3, 0.6

    def integrand(g: float) -> float:
        return float(np.prod(stats.poisson.pmf(y, np.exp(b0 + b1 * x + g))) * stats.norm.pdf(g, 0, tau))

    direct = math.log(quad(integrand, -8, 8, epsabs=0, epsrel=1e-12, points=[0.0])[0])
    X = np.column_stack([np.ones(3), x])
    assert cluster_loglik(y, X, [b0, b1], tau, "poisson", method="exact") == pytest.approx(direct, rel=1e-10)


@SETTINGS
@given(
    n=st.integers(1, 30),
    sigma=st.floats(0.1, 3.0),
    tau=st.floats(0.01, 5.0),
    beta=st.tuples(st.floats(-5, 5), st.floats(-2, 2)),
    seed=st.integers(0, 2**32 - 1),
)
def test_laplace_is_exact_for_gaussian_identity(
    n: int, sigma: float, tau: float, beta: tuple[float, float], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = X @ np.array(beta) + tau * rng.normal() + sigma * rng.normal(size=n)
    cov = sigma**2 * np.eye(n) + tau**2 * np.ones((n, n))
    exact = stats.multivariate_normal(X @ np.array(beta), cov).logpdf(y)
    laplace = cluster_loglik(y, X, beta, tau, "gaussian", method="laplace", phi=sigma**2)
    assert log_close(laplace, float(exact), 1e-9)


def test_methods_ordering_and_tau_zero() -> None:
    y = np.array([0, 0, 1, 0, 0, 0])
    X = np.ones((6, 1))
    # τ = 0: every method is the GLM log-likelihood.
    glm = float(np.sum(stats.bernoulli.logpmf(y, 1 / (1 + math.exp(1.0)))))
    for method in ("laplace", "ghq", "aghq", "exact"):
        assert cluster_loglik(y, X, [-1.0], 0.0, "binomial", method=method) == pytest.approx(glm, rel=1e-12)
    # Laplace is a visible approximation for a small binary cluster with large τ; AGHQ fixes it.
    exact = cluster_loglik(y, X, [-1.0], 2.0, "binomial", method="exact")
    laplace = cluster_loglik(y, X, [-1.0], 2.0, "binomial", method="laplace")
    assert abs(laplace - exact) > 1e-3
    assert abs(cluster_loglik(y, X, [-1.0], 2.0, "binomial", method="aghq", k=40) - exact) < 1e-7


def test_plain_ghq_fails_where_adaptive_succeeds() -> None:
    # 50 Poisson counts pin γ down to a spike of width ~0.02 far from 0 relative to its width;
    # non-adaptive nodes (spread τ = 2 around 0) miss it, adaptive nodes do not.
    rng = np.random.default_rng(7)
    y = rng.poisson(np.exp(2.0 + 1.3), size=50)
    X = np.ones((50, 1))
    exact = cluster_loglik(y, X, [2.0], 2.0, "poisson", method="exact")
    assert abs(cluster_loglik(y, X, [2.0], 2.0, "poisson", method="ghq", k=25) - exact) > 0.1
    assert log_close(cluster_loglik(y, X, [2.0], 2.0, "poisson", method="aghq", k=25), exact, 1e-8)


def test_binomial_with_trials_equals_expanded_bernoulli_up_to_constant() -> None:
    # 3 successes out of 5 trials vs 5 Bernoulli rows: the likelihoods differ by log C(5, 3).
    X1 = np.ones((1, 1))
    with_trials = cluster_loglik([3], X1, [0.2], 0.7, "binomial", method="exact", trials=5)
    bernoulli = cluster_loglik([1, 1, 1, 0, 0], np.ones((5, 1)), [0.2], 0.7, "binomial", method="exact")
    assert with_trials - bernoulli == pytest.approx(math.log(math.comb(5, 3)), rel=1e-10)


def test_other_families_and_links() -> None:
    X = np.column_stack([np.ones(6), np.arange(6) / 5.0])
    y_pos = np.array([1.2, 0.4, 2.5, 0.9, 1.7, 3.1])
    nb = get_family("negative_binomial", k=2.5)
    cases = [
        (np.array([0, 1, 1, 0, 1, 1]), "binomial", "probit", None),
        (np.array([0, 1, 1, 0, 1, 1]), "binomial", "cloglog", None),
        (np.array([2, 0, 5, 3, 8, 1]), nb, "log", None),
        (y_pos, "Gamma", "log", 0.5),
        (y_pos, "gaussian", "log", 0.3),
    ]
    for y, fam, link, phi in cases:
        exact = cluster_loglik(y, X, [0.1, 0.4], 0.6, fam, link, method="exact", phi=phi)
        aghq = cluster_loglik(y, X, [0.1, 0.4], 0.6, fam, link, method="aghq", k=30, phi=phi)
        assert log_close(aghq, exact, 1e-8), (fam, link)


def test_conditional_mode_is_a_maximum() -> None:
    y = np.array([4, 6, 3, 9])
    X = np.column_stack([np.ones(4), [0.0, 0.5, -0.5, 1.0]])
    found = conditional_mode(y, X, [1.0, 0.5], 0.8, "poisson")
    eta = X @ [1.0, 0.5]

    def g(u: float) -> float:
        return float(np.sum(stats.poisson.logpmf(y, np.exp(eta + u))) + stats.norm.logpdf(u, 0, 0.8))

    h = 1e-4
    assert g(found.mode) >= max(g(found.mode - h), g(found.mode + h))
    # The Poisson log-link curvature is Σ μ + 1/τ².
    curvature = float(np.sum(np.exp(eta + found.mode))) + 1 / 0.8**2
    assert found.scale == pytest.approx(curvature**-0.5, rel=1e-7)
    assert found.log_integrand_at_mode == pytest.approx(g(found.mode), rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "mcmc"}, "unknown method"),
        ({"tau": -1.0}, "tau"),
        ({"beta": [1.0, 2.0, 3.0]}, "X has shape"),
        ({"family": "gaussian"}, "needs the dispersion"),
        ({"trials": 2}, "trials only applies"),
        ({"phi": 2.0}, "fixed at 1"),
    ],
)
def test_bad_input_is_rejected(kwargs: dict, match: str) -> None:
    args = {"y": [1, 2], "X": np.ones((2, 2)), "beta": [0.1, 0.2], "tau": 0.5, "family": "poisson"}
    args.update(kwargs)
    with pytest.raises(ModelInputError, match=match):
        cluster_loglik(**args)


def test_binomial_successes_must_fit_in_trials() -> None:
    with pytest.raises(ModelInputError, match="number of successes"):
        cluster_loglik([4], np.ones((1, 1)), [0.0], 0.5, "binomial", trials=3)


# ----------------------------------------------------------------------------- real data


R_RIKZ = {
    # lme4 1.1-31: glmer(Richness ~ NAP + (1 | Beach), family = poisson), Laplace
    "beta": (1.66233105951961, -0.503892172832799),
    "tau": 0.474275596023442,
    "lme4_loglik": -107.392158056857,
    # Independent R computation of the Laplace formula at those estimates (optimize per beach,
    # curvature Σμ + 1/τ²; see the report of this module) — lme4's own value differs by 1.4e-5
    # because its inner PIRLS stops at a looser tolerance.
    "laplace_r": -107.392144429943,
}


def test_rikz_laplace_loglik_matches_r() -> None:
    if not RIKZ.exists():
        pytest.skip(f"real beaches data not found at {RIKZ} (read-only shared data, not in the repo)")
    d = pd.read_csv(RIKZ)
    X = np.column_stack([np.ones(len(d)), d["NAP"]])
    ll = marginal_loglik(d["Richness"], X, d["Beach"], R_RIKZ["beta"], R_RIKZ["tau"], "poisson")
    assert ll == pytest.approx(R_RIKZ["laplace_r"], abs=1e-7)
    assert ll == pytest.approx(R_RIKZ["lme4_loglik"], abs=1e-4)
    exact = marginal_loglik(d["Richness"], X, d["Beach"], R_RIKZ["beta"], R_RIKZ["tau"], "poisson", method="exact")
    assert exact > ll  # Laplace under-estimates these (skewed) Poisson integrals, by about 0.012
    assert exact - ll == pytest.approx(0.012, abs=0.002)


# ----------------------------------------------------------------------------- marginal moments


@pytest.mark.parametrize(("case", "eta", "tau"), [(0, 0.5, 0.3), (1, -1.0, 1.0), (2, 1.2, 0.7)])
def test_poisson_marginal_moments_agree_with_simulation(case: int, eta: float, tau: float) -> None:
    rng = np.random.default_rng(np.random.SeedSequence([20261125, case]))
    n = 400_000
    y = rng.poisson(np.exp(eta + tau * rng.standard_normal(n)))
    mean = float(poisson_marginal_mean(eta, tau))
    var = float(poisson_marginal_variance(eta, tau))
    # CLT: the sample mean has SE sqrt(var/n); the sample variance SE from the 4th central moment.
    assert abs(y.mean() - mean) < 6 * math.sqrt(var / n)
    m4 = float(np.mean((y - y.mean()) ** 4))
    assert abs(y.var(ddof=1) - var) < 6 * math.sqrt((m4 - var**2) / n)
    # The marginal variance exceeds the Poisson variance (overdispersion) unless τ = 0.
    assert var > mean
    assert float(poisson_marginal_variance(eta, 0.0)) == pytest.approx(math.exp(eta))


@SETTINGS
@given(eta=st.floats(-6, 6), tau=st.floats(0.0, 5.0))
def test_quadrature_marginal_mean_matches_closed_forms(eta: float, tau: float) -> None:
    assert float(marginal_mean(eta, tau, "probit")) == pytest.approx(
        float(probit_marginal_probability(eta, tau)), rel=1e-10, abs=1e-13
    )
    assert float(marginal_mean(eta, tau, "log")) == pytest.approx(float(poisson_marginal_mean(eta, tau)), rel=1e-10)


def test_probit_closed_form_matches_monte_carlo() -> None:
    rng = np.random.default_rng(3)
    n = 400_000
    eta, tau = 0.4, 1.5
    hits = (rng.standard_normal(n) <= eta + tau * rng.standard_normal(n)).mean()
    p = float(probit_marginal_probability(eta, tau))
    assert abs(hits - p) < 6 * math.sqrt(p * (1 - p) / n)


def test_logit_marginal_is_attenuated() -> None:
    # Marginal probabilities are pulled towards 1/2 and equal 1/2 at η = 0.
    eta = np.array([-3.0, -1.0, 0.0, 1.0, 3.0])
    p = marginal_mean(eta, 2.0, "logit")
    cond = 1 / (1 + np.exp(-eta))
    assert p[2] == pytest.approx(0.5, abs=1e-14)
    assert np.all(np.abs(p - 0.5)[[0, 1, 3, 4]] < np.abs(cond - 0.5)[[0, 1, 3, 4]])
    # A known approximation: logit marginal ≈ expit(η / sqrt(1 + c² τ²)), c = 16√3/(15π).
    c = 16 * math.sqrt(3) / (15 * math.pi)
    approx = 1 / (1 + np.exp(-eta / math.sqrt(1 + c**2 * 4.0)))
    np.testing.assert_allclose(p, approx, atol=0.01)


def test_population_curve_log_link_full_q_closed_form() -> None:
    x = np.linspace(-10, 10, 41)
    Q = np.array([[0.2**2, 0.3 * 0.2 * 0.07], [0.3 * 0.2 * 0.07, 0.07**2]])
    curve = population_averaged_curve(x, (-2.0, 0.3), Q, "log")
    v = Q[0, 0] + 2 * x * Q[0, 1] + x**2 * Q[1, 1]
    np.testing.assert_allclose(curve["marginal_mean"], np.exp(-2.0 + 0.3 * x + v / 2), rtol=1e-12)
    np.testing.assert_allclose(curve["not_mean"], np.exp(-2.0 + 0.3 * x), rtol=1e-14)
    assert np.all(curve["marginal_mean"] > curve["not_mean"])


def test_population_curve_logit_slope_equals_two_dimensional_integral() -> None:
    # Check the 1-D reduction against an adaptive 2-D integral over (γ0, γ1) ~ N(0, Q).
    from scipy.integrate import dblquad

    x = np.array([-10.0, -2.0, 0.0, 1.5, 10.0])
    Q = np.array([[4.0, -0.6], [-0.6, 1.0]])
    curve = population_averaged_curve(x, (3.0, 1.0), Q, "logit")
    P = np.linalg.inv(Q)
    norm = 1.0 / (2 * math.pi * math.sqrt(np.linalg.det(Q)))

    def integrand(g1: float, g0: float, xi: float) -> float:
        quad_form = P[0, 0] * g0 * g0 + 2 * P[0, 1] * g0 * g1 + P[1, 1] * g1 * g1
        return norm * math.exp(-0.5 * quad_form) / (1 + math.exp(-(3.0 + xi + g0 + g1 * xi)))

    # ±12 standard deviations in each coordinate hold all but ~1e-30 of the normal mass.
    expected = [
        dblquad(integrand, -24.0, 24.0, -12.0, 12.0, args=(xi,), epsabs=1e-12, epsrel=1e-10)[0]
        for xi in x
    ]
    np.testing.assert_allclose(curve["marginal_mean"], expected, rtol=1e-8)
    # The plain Gauss–Hermite option is close for moderate spread and visibly off for large.
    rough = population_averaged_curve(x, (3.0, 1.0), Q, "logit", k=30)["marginal_mean"]
    assert abs(rough[2] - expected[2]) < 1e-3
    assert abs(rough[0] - expected[0]) > 1e-4
    # Diagonal Q given as two variances equals the full matrix with zero covariance.
    diag = population_averaged_curve(x, (3.0, 1.0), (4.0, 1.0), "logit")
    full = population_averaged_curve(x, (3.0, 1.0), np.diag([4.0, 1.0]), "logit")
    pd.testing.assert_frame_equal(diag, full)


def test_linear_predictor_sd_forms_of_q() -> None:
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(linear_predictor_sd(x, 0.25), [0.5, 0.5, 0.5])
    np.testing.assert_allclose(linear_predictor_sd(x, [0.25, 0.01]), np.sqrt(0.25 + 0.01 * x**2))
    with pytest.raises(ModelInputError, match="positive semi-definite"):
        linear_predictor_sd(x, [[1.0, 2.0], [2.0, 1.0]])
