"""Tests for reference.quadrature: the Gauss–Hermite rule, AGHQ/Laplace and the plain rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.quadrature import (
    QuadratureError,
    adaptive_log_integral,
    gauss_hermite,
    nonadaptive_log_integral,
)

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None)


def normal_moment(n: int) -> float:
    """E[Z^n] for Z ~ N(0, 1): (n−1)!! for even n, 0 for odd n."""
    if n % 2:
        return 0.0
    return float(math.prod(range(1, n, 2)))


@pytest.mark.parametrize("k", [1, 2, 3, 7, 20, 25, 60, 100, 150])
def test_weights_sum_to_one_and_nodes_symmetric(k: int) -> None:
    z, logw = gauss_hermite(k)
    assert z.shape == logw.shape == (k,)
    assert math.isclose(float(np.exp(logw).sum()), 1.0, rel_tol=1e-14)
    np.testing.assert_allclose(z, -z[::-1], atol=1e-13)
    assert np.all(np.diff(z) > 0)


def test_rule_is_cached_and_read_only() -> None:
    z1, w1 = gauss_hermite(9)
    z2, w2 = gauss_hermite(9)
    assert z1 is z2 and w1 is w2
    with pytest.raises(ValueError):
        z1[0] = 1.0


def test_nodes_are_roots_of_hermite_polynomial() -> None:
    k = 12
    z, _ = gauss_hermite(k)
    coef = np.zeros(k + 1)
    coef[k] = 1.0
    values = np.polynomial.hermite_e.hermeval(z, coef)
    # He_12 has coefficients of order 10^4; scale the check by the local derivative.
    deriv = np.polynomial.hermite_e.hermeval(z, np.polynomial.hermite_e.hermeder(coef))
    assert np.max(np.abs(values / deriv)) < 1e-12


@SETTINGS
@given(k=st.integers(1, 40), data=st.data())
def test_polynomials_up_to_degree_2k_minus_1_are_exact(k: int, data: st.DataObject) -> None:
    degree = data.draw(st.integers(0, 2 * k - 1))
    coefs = np.array(data.draw(st.lists(st.floats(-2, 2), min_size=degree + 1, max_size=degree + 1)))
    # Scale coefficient n by 1/sqrt(E z^{2n}) so that every term contributes on a similar scale.
    scaled = coefs / np.sqrt([max(normal_moment(2 * n), 1.0) for n in range(degree + 1)])
    z, logw = gauss_hermite(k)
    approx = float(np.sum(np.exp(logw) * np.polynomial.polynomial.polyval(z, scaled)))
    exact = sum(c * normal_moment(n) for n, c in enumerate(scaled))
    assert math.isclose(approx, exact, rel_tol=1e-10, abs_tol=1e-10 * (1 + np.abs(scaled).sum()))


def test_degree_2k_is_not_exact() -> None:
    # E[z^{2k}] is not reproduced by k nodes: the rule's exactness stops at 2k − 1.
    for k in (1, 3, 6):
        z, logw = gauss_hermite(k)
        approx = float(np.sum(np.exp(logw) * z ** (2 * k)))
        assert approx < normal_moment(2 * k) * (1 - 1e-3)


@pytest.mark.parametrize("bad", [0, -3, 1001, 2.5, True, "5"])
def test_bad_number_of_nodes_is_rejected(bad: object) -> None:
    with pytest.raises(QuadratureError, match="quadrature nodes"):
        gauss_hermite(bad)  # type: ignore[arg-type]


def quartic_logf(a: np.ndarray, b: np.ndarray, c: np.ndarray):
    """log integrand a·u − b·u²/2 − c·u⁴ per cluster (a smooth non-Gaussian bump)."""

    def logf(u: np.ndarray) -> np.ndarray:
        return a[:, None] * u - 0.5 * b[:, None] * u**2 - c[:, None] * u**4

    return logf


def test_k1_equals_textbook_laplace_formula() -> None:
    rng = np.random.default_rng(20261125)
    a = rng.normal(size=5)
    b = rng.uniform(0.5, 3.0, size=5)
    c = rng.uniform(0.0, 0.2, size=5)
    logf = quartic_logf(a, b, c)
    # Mode by Newton on the scalar derivative a − b u − 4 c u³.
    u = np.zeros(5)
    for _ in range(60):
        u = u - (a - b * u - 4 * c * u**3) / (-b - 12 * c * u**2)
    hess = b + 12 * c * u**2  # −d²logf/du²
    laplace = logf(u[:, None])[:, 0] + 0.5 * math.log(2 * math.pi) - 0.5 * np.log(hess)
    got = adaptive_log_integral(logf, u, hess**-0.5, 1)
    np.testing.assert_allclose(got, laplace, rtol=1e-14)


def test_aghq_is_exact_for_gaussian_integrands_with_any_k() -> None:
    # ∫ exp(a u − b u²/2) du = sqrt(2π/b) exp(a²/(2b)); the rule is exact when centred right.
    a = np.array([-3.0, 0.0, 2.0, 40.0])
    b = np.array([0.1, 1.0, 7.0, 900.0])
    exact = 0.5 * np.log(2 * math.pi / b) + a**2 / (2 * b)
    logf = quartic_logf(a, b, np.zeros(4))
    for k in (1, 2, 5, 25):
        got = adaptive_log_integral(logf, a / b, b**-0.5, k)
        np.testing.assert_allclose(got, exact, rtol=1e-13)
    # ... and, with enough nodes, also when the centre and scale are off.
    got = adaptive_log_integral(logf, a / b + 0.3 / np.sqrt(b), 1.3 * b**-0.5, 40)
    np.testing.assert_allclose(got, exact, rtol=1e-10)


def test_aghq_converges_on_non_gaussian_integrand() -> None:
    from scipy.integrate import quad

    a, b, c = np.array([1.5]), np.array([1.0]), np.array([0.3])
    logf = quartic_logf(a, b, c)
    exact = math.log(quad(lambda u: math.exp(logf(np.array([[u]]))[0, 0]), -20, 20, epsabs=0, epsrel=1e-13)[0])
    u = np.zeros(1)
    for _ in range(60):
        u = u - (a - b * u - 4 * c * u**3) / (-b - 12 * c * u**2)
    scale = (b + 12 * c * u**2) ** -0.5
    errors = [abs(adaptive_log_integral(logf, u, scale, k)[0] - exact) for k in (1, 5, 15, 40)]
    assert errors[0] > 1e-3  # Laplace is visibly off for a quartic term this strong
    assert errors[-1] < 1e-10
    assert errors[0] > errors[1] > errors[2]


def test_nonadaptive_matches_gaussian_closed_form() -> None:
    # y_j | γ ~ N(γ, s²), γ ~ N(0, σ²): marginal of a cluster is N(0, s² I + σ² 11ᵀ).
    y = np.array([[0.3, -0.2, 0.5], [1.2, 0.9, 1.5]])
    s, sigma = 1.0, 0.8

    def loglik(g: np.ndarray) -> np.ndarray:
        resid = y[:, None, :] - g[..., None]
        return np.sum(-0.5 * resid**2 / s**2 - 0.5 * math.log(2 * math.pi * s**2), axis=-1)

    from scipy.stats import multivariate_normal

    cov = s**2 * np.eye(3) + sigma**2
    exact = np.array([multivariate_normal(np.zeros(3), cov).logpdf(row) for row in y])
    # The integrand is a Gaussian bump in γ, not a polynomial: the plain rule converges, slowly.
    got = nonadaptive_log_integral(loglik, np.full(2, sigma), 40)
    np.testing.assert_allclose(got, exact, rtol=1e-11)
    coarse = nonadaptive_log_integral(loglik, np.full(2, sigma), 3)
    assert np.all(np.abs(coarse - exact) > 1e-5)
    # σ = 0 collapses the integral to the conditional likelihood at γ = 0.
    np.testing.assert_allclose(nonadaptive_log_integral(loglik, np.zeros(2), 5), loglik(np.zeros((2, 1)))[:, 0])


def test_underflowing_integrand_stays_finite() -> None:
    logf = quartic_logf(np.array([0.0]), np.array([1.0]), np.array([0.0]))

    def shifted(u: np.ndarray) -> np.ndarray:
        return logf(u) - 5000.0

    got = adaptive_log_integral(shifted, 0.0, 1.0, 7)
    np.testing.assert_allclose(got, -5000.0 + 0.5 * math.log(2 * math.pi), rtol=1e-14)


def test_bad_scale_and_shapes_are_rejected() -> None:
    logf = quartic_logf(np.zeros(2), np.ones(2), np.zeros(2))
    with pytest.raises(QuadratureError, match="scale must be positive"):
        adaptive_log_integral(logf, np.zeros(2), np.array([1.0, 0.0]), 3)
    with pytest.raises(QuadratureError, match="NaN"):
        adaptive_log_integral(logf, np.array([0.0, np.nan]), np.ones(2), 3)
    with pytest.raises(QuadratureError, match="one value per cluster"):
        adaptive_log_integral(logf, np.zeros(2), np.ones(3), 3)
    with pytest.raises(QuadratureError, match="logf returned shape"):
        adaptive_log_integral(lambda u: np.zeros((5, 5)), np.zeros(2), np.ones(2), 3)
