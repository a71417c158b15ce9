"""Tests for reference.families: densities vs scipy, moments, deviance, R's aic / dev.resids / mustart, errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from reference.errors import (
    InvalidResponseError,
    LinkNotAllowedError,
    ModelInputError,
    UnknownFamilyError,
    UnknownLinkError,
)
from reference.families import (
    FAMILIES,
    Binomial,
    Family,
    Gamma,
    Gaussian,
    InverseGaussian,
    NegativeBinomial,
    NonIntegerResponseWarning,
    Poisson,
    get_family,
    resolve,
)
from reference.links import LINKS

SETTINGS = settings(max_examples=80, deadline=None, derandomize=True, database=None)
R_REFERENCE = Path(__file__).parent / "r" / "links_families_reference.json"

mean_pos = st.floats(0.01, 50.0)
dispersion = st.floats(0.05, 5.0)
prior_weight = st.floats(0.2, 5.0)
nb_k = st.floats(0.2, 30.0)


def _floats(values: list[str]) -> np.ndarray:
    return np.array([float(v) for v in values])


# ---------------------------------------------------------------- logpdf against scipy

@SETTINGS
@given(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3), dispersion, prior_weight)
def test_gaussian_logpdf_is_normal(y: float, mu: float, phi: float, w: float) -> None:
    expected = stats.norm.logpdf(y, mu, np.sqrt(phi / w))
    # the exponential-family form cancels y^2 w / phi terms: error ~ eps * y^2 w / phi
    scale = 1.0 + (y * y + mu * mu) * w / phi
    assert Gaussian().logpdf(y, mu, phi, w) == pytest.approx(expected, rel=1e-12, abs=1e-14 * scale)


@SETTINGS
@given(st.integers(1, 200), st.floats(1e-6, 1 - 1e-6), st.data())
def test_binomial_logpdf_is_binom_of_counts(trials: int, mu: float, data: st.DataObject) -> None:
    successes = data.draw(st.integers(0, trials))
    expected = stats.binom.logpmf(successes, trials, mu)
    got = Binomial().logpdf(successes / trials, mu, 1.0, trials)
    assert got == pytest.approx(expected, rel=1e-10, abs=1e-9)


@SETTINGS
@given(st.integers(0, 500), mean_pos, st.sampled_from([1.0, 2.0, 0.5]))
def test_poisson_logpdf_is_poisson_times_weight(y: int, mu: float, w: float) -> None:
    expected = w * stats.poisson.logpmf(y, mu)
    assert Poisson().logpdf(y, mu, 1.0, w) == pytest.approx(expected, rel=1e-11, abs=1e-11)


@SETTINGS
@given(st.floats(1e-3, 1e3), mean_pos, dispersion, prior_weight)
def test_gamma_logpdf_is_gamma(y: float, mu: float, phi: float, w: float) -> None:
    shape = w / phi
    expected = stats.gamma.logpdf(y, a=shape, scale=mu / shape)
    assert Gamma().logpdf(y, mu, phi, w) == pytest.approx(expected, rel=1e-10, abs=1e-10)


@SETTINGS
@given(st.floats(1e-2, 1e2), mean_pos, dispersion, prior_weight)
def test_inverse_gaussian_logpdf_is_invgauss(y: float, mu: float, phi: float, w: float) -> None:
    lam = w / phi  # scipy: invgauss(mu / lambda, scale = lambda) has mean mu and shape lambda
    expected = stats.invgauss.logpdf(y, mu / lam, scale=lam)
    assert InverseGaussian().logpdf(y, mu, phi, w) == pytest.approx(expected, rel=1e-10, abs=1e-10)


@SETTINGS
@given(st.integers(0, 500), mean_pos, nb_k)
def test_negative_binomial_logpdf_is_nbinom(y: int, mu: float, k: float) -> None:
    expected = stats.nbinom.logpmf(y, k, k / (k + mu))
    assert NegativeBinomial(k).logpdf(y, mu) == pytest.approx(expected, rel=1e-10, abs=1e-10)


def test_logpdf_broadcasts_and_loglik_sums() -> None:
    y = np.array([0.0, 0.25, 1.0])
    trials = np.array([3.0, 4.0, 2.0])
    fam = Binomial()
    assert fam.logpdf(y, 0.4, 1.0, trials).shape == (3,)
    expected = stats.binom.logpmf(y * trials, trials, 0.4).sum()
    assert fam.loglik(y, np.full(3, 0.4), trials) == pytest.approx(expected, rel=1e-12)
    assert Gaussian().loglik([1.0, 2.0], [1.5, 1.5], 1.0, 2.0) == pytest.approx(
        stats.norm.logpdf([1.0, 2.0], 1.5, np.sqrt(2.0)).sum(), rel=1e-12
    )


def test_non_integer_counts_have_zero_probability_like_r() -> None:
    assert Poisson().logpdf(2.5, 2.0) == -np.inf  # R: dpois(2.5, 2, log = TRUE) is -Inf
    assert NegativeBinomial(2.0).logpdf(0.3, 1.0) == -np.inf
    assert Binomial().logpdf(0.3, 0.5, 1.0, 2.0) == -np.inf  # 0.6 successes
    assert Binomial().logpdf(1 / 3, 0.5, 1.0, 3.0) == pytest.approx(stats.binom.logpmf(1, 3, 0.5))


def test_logpdf_at_a_boundary_mean_is_a_point_mass() -> None:
    # P(Y = mu) = 1 when mu is on the boundary: no 0 * log(0) or inf - inf NaN
    assert Poisson().logpdf(0.0, 0.0) == 0.0
    assert Binomial().logpdf(0.0, 0.0, 1.0, 5.0) == 0.0
    assert Binomial().logpdf(1.0, 1.0, 1.0, 5.0) == 0.0
    assert NegativeBinomial(2.0).logpdf(0.0, 0.0) == 0.0
    # saturated deviance at y = mu = 0 is 0 (MASS's formula would give 0 * log(1/0) = NaN)
    assert NegativeBinomial(2.0).dev_resids(0.0, 0.0, 1.0) == 0.0 == Poisson().dev_resids(0.0, 0.0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Poisson().logpdf(1.0, 0.0) == -np.inf
        assert Binomial().logpdf(0.6, 1.0, 1.0, 5.0) == -np.inf
        assert Binomial().logpdf(0.2, 0.0, 1.0, 5.0) == -np.inf
        assert Gamma().logpdf(2.0, 0.0, 1.0) == -np.inf
    np.testing.assert_array_equal(
        Binomial().logpdf([0.0, 1.0], [1.0, 0.0], 1.0, 3.0), stats.binom.logpmf([0, 3], 3, [1.0, 0.0])
    )


# ---------------------------------------------------------------- moments: b' and b''

def _family_and_scipy(draw: st.DrawFn) -> tuple[Family, float, float, float, object]:
    which = draw(st.sampled_from(sorted(FAMILIES)))
    w = draw(prior_weight)
    phi = draw(dispersion)
    if which == "gaussian":
        mu = draw(st.floats(-100, 100))
        return Gaussian(), mu, phi, w, stats.norm(mu, np.sqrt(phi / w))
    if which == "binomial":
        n = float(draw(st.integers(1, 100)))
        mu = draw(st.floats(1e-4, 1 - 1e-4))
        return Binomial(), mu, 1.0, n, stats.binom(int(n), mu)
    mu = draw(mean_pos)
    if which == "poisson":
        return Poisson(), mu, 1.0, 1.0, stats.poisson(mu)
    if which == "gamma":
        return Gamma(), mu, phi, w, stats.gamma(a=w / phi, scale=mu * phi / w)
    if which == "inverse_gaussian":
        lam = w / phi
        return InverseGaussian(), mu, phi, w, stats.invgauss(mu / lam, scale=lam)
    k = draw(nb_k)
    return NegativeBinomial(k), mu, 1.0, 1.0, stats.nbinom(k, k / (k + mu))


@SETTINGS
@given(st.data())
def test_b_prime_is_mean_and_b_double_prime_gives_variance(data: st.DataObject) -> None:
    fam, mu, phi, w, dist = data.draw(st.composite(_family_and_scipy)())
    theta = fam.theta(mu)
    assert fam.b_prime(theta) == pytest.approx(mu, rel=1e-12, abs=1e-14)
    var_y = float(dist.var())  # type: ignore[attr-defined]
    mean_y = float(dist.mean())  # type: ignore[attr-defined]
    if isinstance(fam, Binomial):  # Y is the proportion: counts / n
        var_y, mean_y = var_y / (w * w), mean_y / w
    assert mean_y == pytest.approx(mu, rel=1e-10, abs=1e-12)
    assert phi * fam.b_double_prime(theta) / w == pytest.approx(var_y, rel=1e-9)
    assert fam.b_double_prime(theta) == pytest.approx(fam.variance(mu), rel=1e-12)


@pytest.mark.parametrize("fam", [Gaussian(), Binomial(), Poisson(), Gamma(), InverseGaussian(), NegativeBinomial(3.0)])
def test_b_prime_is_the_derivative_of_b(fam: Family) -> None:
    mu = np.array([0.05, 0.3, 0.5, 0.8]) if isinstance(fam, Binomial) else np.array([0.2, 1.0, 3.0, 20.0])
    theta = fam.theta(mu)
    h = 1e-6 * np.maximum(1.0, np.abs(theta))
    fd = (fam.b(theta + h) - fam.b(theta - h)) / (2 * h)
    np.testing.assert_allclose(fd, fam.b_prime(theta), rtol=1e-7)
    fd2 = (fam.b_prime(theta + h) - fam.b_prime(theta - h)) / (2 * h)
    np.testing.assert_allclose(fd2, fam.b_double_prime(theta), rtol=1e-6)


# ---------------------------------------------------------------- deviance = 2 phi (saturated - model)

def _response_for(draw: st.DrawFn) -> tuple[Family, np.ndarray, np.ndarray, np.ndarray, float]:
    which = draw(st.sampled_from(sorted(FAMILIES)))
    n = 6
    w = np.array(draw(st.lists(prior_weight, min_size=n, max_size=n)))
    phi = draw(dispersion)
    if which == "binomial":
        trials = np.array(draw(st.lists(st.integers(1, 30), min_size=n, max_size=n)), dtype=float)
        succ = np.array([draw(st.integers(0, int(t))) for t in trials], dtype=float)
        mu = np.array(draw(st.lists(st.floats(1e-3, 1 - 1e-3), min_size=n, max_size=n)))
        return Binomial(), succ / trials, mu, trials, 1.0
    mu = np.array(draw(st.lists(mean_pos, min_size=n, max_size=n)))
    if which == "gaussian":
        y = np.array(draw(st.lists(st.floats(-50, 50), min_size=n, max_size=n)))
        return Gaussian(), y, mu, w, phi
    if which in ("poisson", "negative_binomial"):
        y = np.array(draw(st.lists(st.integers(0, 80), min_size=n, max_size=n)), dtype=float)
        fam: Family = Poisson() if which == "poisson" else NegativeBinomial(draw(nb_k))
        return fam, y, mu, w, 1.0
    y = np.array(draw(st.lists(st.floats(0.01, 100), min_size=n, max_size=n)))
    return (Gamma() if which == "gamma" else InverseGaussian()), y, mu, w, phi


@SETTINGS
@given(st.data())
def test_deviance_is_twice_phi_times_loglik_drop_from_saturated(data: st.DataObject) -> None:
    fam, y, mu, w, phi = data.draw(st.composite(_response_for)())
    dev = float(np.sum(fam.dev_resids(y, mu, w)))
    saturated = fam.loglik(y, y, w, phi)
    model = fam.loglik(y, mu, w, phi)
    scale = 1.0 + abs(saturated) + abs(model)
    assert dev == pytest.approx(2 * phi * (saturated - model), rel=1e-9, abs=1e-10 * phi * scale)
    assert np.all(fam.dev_resids(y, mu, w) >= -1e-9)
    np.testing.assert_allclose(fam.dev_resids(y, y, w), 0.0, atol=1e-9)


# ---------------------------------------------------------------- R's dev.resids, aic, mustart

def _r_cases() -> dict:
    with R_REFERENCE.open() as fh:
        return json.load(fh)["families"]


@pytest.mark.parametrize(
    "case",
    ["gaussian", "gaussian_zero_weight", "binomial_bernoulli", "binomial_trials", "binomial_trials_weights",
     "poisson", "gamma",
     "inverse_gaussian", "negative_binomial"],
)
def test_dev_resids_aic_and_mustart_match_r(case: str) -> None:
    ref = _r_cases()[case]
    fam = get_family(ref["family"])
    y, mu, wt = _floats(ref["y"]), _floats(ref["mu"]), _floats(ref["wt"])
    dr = fam.dev_resids(y, mu, wt)
    np.testing.assert_allclose(dr, _floats(ref["dev_resids"]), rtol=1e-12, atol=1e-15)
    r_aic = float(ref["aic"])
    got = fam.aic(y, mu, wt, float(np.sum(dr)), n=_floats(ref["n"]))
    if np.isfinite(r_aic):
        assert got == pytest.approx(r_aic, rel=1e-12)
    else:
        assert got == r_aic  # R gives Inf for gaussian with a zero weight
    np.testing.assert_allclose(fam.initialize(y, wt), _floats(ref["mustart"]), rtol=1e-15)


@SETTINGS
@given(st.data())
def test_scale_family_aic_is_minus_two_loglik_at_the_plugin_dispersion(data: st.DataObject) -> None:
    fam, y, mu, w, _ = data.draw(st.composite(_response_for)())
    dev = float(np.sum(fam.dev_resids(y, mu, w)))
    assume(dev > 0)  # a perfect fit makes the plug-in dispersion 0 (R's aic is then NaN or -Inf too)
    if isinstance(fam, Gaussian):  # R: phi = dev / nobs, weights are precisions
        expected = -2 * fam.loglik(y, mu, w, dev / y.size) + 2
    elif isinstance(fam, (Gamma, InverseGaussian)):  # R: phi = dev / sum(wt), weights multiply log f
        expected = -2 * float(np.sum(w * fam.logpdf(y, mu, dev / np.sum(w), 1.0))) + 2
    elif isinstance(fam, Binomial):
        expected = -2 * fam.loglik(y, mu, w)
    else:  # Poisson, negative binomial: -2 sum(wt log f)
        expected = -2 * float(np.sum(w * fam.logpdf(y, mu)))
    assert fam.aic(y, mu, w, dev) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_binomial_aic_with_trials_and_prior_weights_weighs_each_row() -> None:
    """R (cbind response + weights): m = n, each row's log-density times the prior weight."""
    y, mu, trials, prior = np.array([0.25, 0.5]), np.array([0.3, 0.6]), np.array([4.0, 2.0]), np.array([2.0, 3.0])
    expected = -2 * float(np.sum(prior * stats.binom.logpmf(y * trials, trials, mu)))
    got = Binomial().aic(y, mu, prior * trials, 0.0, n=trials)
    assert got == pytest.approx(expected, rel=1e-12)
    # without n (or all n <= 1) the weights are the trials
    assert Binomial().aic(y, mu, trials, 0.0) == pytest.approx(-2 * float(np.sum(stats.binom.logpmf(y * trials, trials, mu))))


def test_dispersion_as_in_summary_glm() -> None:
    y, mu = np.array([1.0, 2.0, 4.0]), np.array([1.0, 1.0, 2.0])
    assert Poisson().dispersion(y, mu, 1.0, 1) == 1.0
    assert Binomial().dispersion([0.5], [0.5], [2.0], 0) == 1.0
    # Pearson: sum(w (y - mu)^2 / V(mu)) / df, zero-weight rows dropped
    assert Gaussian().dispersion(y, mu, [1.0, 2.0, 0.0], 2) == pytest.approx((0 + 2 * 1 + 0) / 2)
    assert Gamma().dispersion(y, mu, 1.0, 1) == pytest.approx(0 + 1 + 4 / 4)
    assert NegativeBinomial(2.0).dispersion(y, mu, 1.0, 1) == pytest.approx(1 / 1.5 + 4 / 4)
    assert np.isnan(Gaussian().dispersion(y, mu, 1.0, 0))


def test_scale_parameter_counts_for_loglik_df() -> None:
    assert {n: cls.n_scale_params for n, cls in FAMILIES.items()} == {
        "gaussian": 1, "binomial": 0, "poisson": 0, "gamma": 1, "inverse_gaussian": 1, "negative_binomial": 0,
    }
    assert [n for n, cls in FAMILIES.items() if cls.fixed_dispersion] == ["binomial", "poisson", "negative_binomial"]


# ---------------------------------------------------------------- names, links, resolve

def test_get_family_spellings() -> None:
    assert get_family("gaussian") == Gaussian()
    assert get_family("Gamma") == Gamma() == get_family("gamma")
    assert get_family("inverse.gaussian") == InverseGaussian() == get_family("inverse_gaussian")
    assert get_family("negative_binomial", k=2.5) == NegativeBinomial(2.5)
    assert get_family("Negative Binomial(2.5)") == NegativeBinomial(2.5)
    assert str(NegativeBinomial(2.5)) == "Negative Binomial(2.5)"
    fam = Poisson()
    assert get_family(fam) is fam


def test_allowed_links_are_rs() -> None:
    assert set(Binomial.allowed_links) == {"logit", "probit", "cauchit", "log", "cloglog", "loglog"}
    assert set(Poisson.allowed_links) == {"log", "identity", "sqrt"}
    assert set(Gaussian.allowed_links) == {"identity", "log", "inverse"}
    assert set(Gamma.allowed_links) == {"inverse", "identity", "log"}
    assert set(InverseGaussian.allowed_links) == {"inverse_squared", "inverse", "identity", "log"}
    assert set(NegativeBinomial.allowed_links) == {"log", "sqrt", "identity"}
    for cls in FAMILIES.values():
        assert cls.canonical_link in cls.allowed_links
        assert set(cls.allowed_links) <= set(LINKS)


@pytest.mark.parametrize(
    ("family", "canonical"),
    [("gaussian", "identity"), ("binomial", "logit"), ("poisson", "log"), ("Gamma", "inverse"),
     ("inverse.gaussian", "inverse_squared"), ("negative_binomial", "log")],
)
def test_resolve_defaults_to_rs_default_link(family: str, canonical: str) -> None:
    fam, link = resolve(family, k=1.5 if family == "negative_binomial" else None)
    assert link is LINKS[canonical]
    assert fam.name == get_family(family, k=1.5 if family == "negative_binomial" else None).name


def test_resolve_accepts_r_spelling_and_link_objects() -> None:
    assert resolve("inverse.gaussian", "1/mu^2")[1] is LINKS["inverse_squared"]
    assert resolve(Binomial(), LINKS["cloglog"])[1] is LINKS["cloglog"]


@pytest.mark.parametrize(
    ("family", "link"),
    [("poisson", "logit"), ("binomial", "identity"), ("gaussian", "sqrt"), ("Gamma", "1/mu^2"),
     ("binomial", "inverse"), ("inverse.gaussian", "sqrt")],
)
def test_disallowed_link(family: str, link: str) -> None:
    with pytest.raises(LinkNotAllowedError, match="not available for the") as info:
        resolve(family, link)
    assert isinstance(info.value, ModelInputError) and "\n" not in str(info.value)


def test_unknown_family_and_link() -> None:
    with pytest.raises(UnknownFamilyError, match="unknown family 'poison'"):
        get_family("poison")
    with pytest.raises(UnknownFamilyError):
        get_family(None)  # type: ignore[arg-type]
    with pytest.raises(UnknownLinkError):
        resolve("poisson", "logarithm")


def test_negative_binomial_k_is_required_and_checked() -> None:
    with pytest.raises(ModelInputError, match="needs its k"):
        get_family("negative_binomial")
    for bad in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ModelInputError, match="positive"):
            get_family("negbin", k=bad)
    with pytest.raises(ModelInputError, match="only used by the negative binomial"):
        get_family("poisson", k=2.0)


# ---------------------------------------------------------------- response checks

@pytest.mark.parametrize(
    ("family", "y", "wt", "message"),
    [
        ("poisson", [1.0, -1.0, 2.0], None, r"counts must be non-negative, got y = -1.0 at index 1"),
        ("negative_binomial", [0.0, -3.0], None, "counts must be non-negative"),
        ("binomial", [0.2, 1.5], [5.0, 2.0], "successes exceed trials at index 1"),
        ("binomial", [-0.5, 0.5], [2.0, 2.0], r"proportion in \[0, 1\]"),
        ("binomial", [[1.0, 2.0], [3.0, 0.0]], None, "one-dimensional.*y = s / \\(s \\+ f\\)"),
        ("Gamma", [1.0, 0.0], None, "Gamma response must be positive, got y = 0.0"),
        ("Gamma", [-2.0], None, "must be positive"),
        ("inverse.gaussian", [0.5, -0.1], None, "inverse Gaussian response must be positive"),
        ("gaussian", ["a", "b"], None, "must be numeric"),
        ("poisson", np.array(["1", "2"], dtype=object), None, "must be numeric"),
        ("gaussian", [1.0, np.nan], None, "missing or infinite value"),
        ("poisson", [1.0, 2.0], [1.0, -1.0], "weights must be non-negative"),
        ("poisson", [1.0, 2.0], [1.0, 2.0, 3.0], "do not match"),
    ],
)
def test_bad_responses_are_rejected(family: str, y: object, wt: object, message: str) -> None:
    fam = get_family(family, k=2.0 if family == "negative_binomial" else None)
    with pytest.raises(InvalidResponseError, match=message) as info:
        fam.check_response(y, wt)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_non_integer_counts_warn_as_r_does() -> None:
    with pytest.warns(NonIntegerResponseWarning, match="non-integer poisson count y = 2.5 at index 1"):
        Poisson().check_response([1.0, 2.5])
    with pytest.warns(NonIntegerResponseWarning, match="non-integer number of binomial successes"):
        Binomial().check_response([0.3], [2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Binomial().check_response([1 / 3, 2 / 3, 1.0, 0.0], [3.0, 3.0, 1.0, 7.0])
        Poisson().check_response(np.array([0, 1, 5]))
        Binomial().check_response(np.array([True, False]))  # logical 0/1 responses are fine


def test_zero_weight_rows_are_ignored_by_the_binomial_check_as_in_r() -> None:
    Binomial().check_response([2.0, 0.5], [0.0, 2.0])
    np.testing.assert_allclose(Binomial().initialize([2.0, 0.5], [0.0, 2.0]), [0.5, 1.5 / 3])


def test_binomial_start_from_trials_ignores_prior_weights_as_r() -> None:
    """R's binomial()$initialize for cbind(s, f): mustart = (n y + 0.5) / (n + 1), n = trials only."""
    y, trials, prior = np.array([0.25, 1.0, 0.0]), np.array([4.0, 2.0, 0.0]), np.array([3.0, 0.5, 2.0])
    start = Binomial().initialize(y, prior * trials, trials=trials)
    np.testing.assert_allclose(start, [(1.0 + 0.5) / 5.0, 2.5 / 3.0, 0.5], rtol=1e-15)
    with pytest.raises(ModelInputError, match="only used by the binomial"):
        Poisson().initialize([1.0], trials=[2.0])


def test_gaussian_start_needs_positive_y_for_log_link() -> None:
    with pytest.raises(InvalidResponseError, match="cannot start a gaussian"):
        Gaussian().initialize([0.0, 1.0], link="log")
    with pytest.raises(InvalidResponseError, match="cannot start a gaussian"):
        Gaussian().initialize([0.0, 1.0], link="inverse")
    np.testing.assert_array_equal(Gaussian().initialize([0.0, 1.0], link="identity"), [0.0, 1.0])


def test_valid_mu() -> None:
    mu = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, np.inf])
    np.testing.assert_array_equal(Binomial().valid_mu(mu), [False, False, True, False, False, False])
    np.testing.assert_array_equal(Poisson().valid_mu(mu), [False, False, True, True, True, False])
    np.testing.assert_array_equal(Gaussian().valid_mu(mu), [True] * 6)


def test_families_are_immutable_values() -> None:
    fam = NegativeBinomial(2.0)
    with pytest.raises(AttributeError):
        fam.k = 3.0  # type: ignore[misc]
    assert NegativeBinomial(2.0) == fam and NegativeBinomial(3.0) != fam
    assert hash(Poisson()) == hash(Poisson())


def test_is_canonical_only_where_eta_is_theta() -> None:
    """The GLMM Laplace step trusts Fisher weights only for canonical links; the negative binomial's
    canonical link log(mu/(mu+k)) is not offered, so none of its links is canonical (R's default log included)."""
    assert get_family("poisson").is_canonical("log") and not get_family("poisson").is_canonical("sqrt")
    assert get_family("binomial").is_canonical("logit") and not get_family("binomial").is_canonical("probit")
    assert get_family("Gamma").is_canonical("inverse") and not get_family("Gamma").is_canonical("log")
    nb = get_family("negative_binomial", k=2.0)
    assert nb.canonical_link == "log" and not any(nb.is_canonical(link) for link in nb.allowed_links)
