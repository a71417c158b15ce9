"""Tests for reference.links: R agreement, round trips, derivatives, and behaviour at the extremes."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from reference.errors import ModelInputError, UnknownLinkError
from reference.links import LINKS, R_EPS, ROUND_TRIP_ETA, Link, get_link

SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, database=None)
R_REFERENCE = Path(__file__).parent / "r" / "links_families_reference.json"
R_LINK_NAMES = {"1/mu^2": "inverse_squared"}

EXTREME_ETA = np.array(
    [-1e300, -1e3, -700.0, -40.0, -30.5, -1.0, -1e-300, 0.0, 1e-300, 1.0, 30.5, 40.0, 700.0, 1e3, 1e300]
)
BOUNDED = ("logit", "probit", "cauchit", "cloglog", "loglog")
SINGULAR_AT_ZERO = ("inverse", "inverse_squared", "sqrt")


def _floats(values: list[str]) -> np.ndarray:
    return np.array([float(v) for v in values])


def _r_reference() -> dict:
    with R_REFERENCE.open() as fh:
        return json.load(fh)["links"]


# ---------------------------------------------------------------- registry and names

def test_registry_holds_the_ten_links() -> None:
    assert set(LINKS) == {
        "identity", "log", "logit", "probit", "cloglog", "loglog", "cauchit",
        "inverse", "inverse_squared", "sqrt",
    }
    for name, link in LINKS.items():
        assert isinstance(link, Link)
        assert link.name == name
        assert get_link(name) is link
        assert get_link(link) is link
        assert get_link(link.r_name) is link


def test_r_spelling_of_inverse_squared() -> None:
    assert get_link("1/mu^2") is LINKS["inverse_squared"]
    assert str(LINKS["inverse_squared"]) == "1/mu^2"


def test_links_are_frozen() -> None:
    with pytest.raises(AttributeError):
        LINKS["log"].name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["logg", "Logit", "power", "", "mu^2"])  # case is not folded, as in R
def test_unknown_link_name(bad: str) -> None:
    with pytest.raises(UnknownLinkError, match="unknown link") as info:
        get_link(bad)
    assert isinstance(info.value, ModelInputError) and isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


def test_unknown_link_type() -> None:
    with pytest.raises(UnknownLinkError, match="name or a Link"):
        get_link(3)  # type: ignore[arg-type]


# ---------------------------------------------------------------- agreement with R

@pytest.mark.parametrize("r_name", ["logit", "probit", "cauchit", "cloglog", "identity", "log", "sqrt", "1/mu^2", "inverse"])
def test_inverse_and_mu_eta_match_r(r_name: str) -> None:
    ref = _r_reference()[r_name]
    link = get_link(R_LINK_NAMES.get(r_name, r_name))
    eta = _floats(ref["eta"])
    np.testing.assert_allclose(link.inverse(eta), _floats(ref["linkinv"]), rtol=1e-13, atol=0)
    np.testing.assert_allclose(link.mu_eta(eta), _floats(ref["mu_eta"]), rtol=1e-13, atol=0)


@pytest.mark.parametrize("r_name", ["logit", "probit", "cauchit", "cloglog", "identity", "log", "sqrt", "1/mu^2", "inverse"])
def test_link_matches_r(r_name: str) -> None:
    ref = _r_reference()[r_name]
    link = get_link(R_LINK_NAMES.get(r_name, r_name))
    mu, r_eta = _floats(ref["mu"]), _floats(ref["linkfun"])
    if r_name == "cloglog":
        # R's log(-log(1 - mu)) loses digits for mu < 1e-8 (and is -Inf below eps/2); ours uses log1p
        keep = mu > 1e-6
        np.testing.assert_allclose(link.link(mu[~keep]), np.log(mu[~keep]), rtol=1e-9)
        mu, r_eta = mu[keep], r_eta[keep]
    np.testing.assert_allclose(link.link(mu), r_eta, rtol=1e-13, atol=0)


def test_logit_follows_rs_thresholds_at_30() -> None:
    logit = LINKS["logit"]
    assert logit.inverse(30.0) == pytest.approx(np.exp(30.0) / (1.0 + np.exp(30.0)), rel=1e-15)
    assert float(logit.inverse(30.5)) == 1.0 / (1.0 + R_EPS)
    assert float(logit.inverse(-30.5)) == R_EPS / (1.0 + R_EPS)
    assert float(logit.mu_eta(30.5)) == R_EPS == float(logit.mu_eta(-1e300))


def test_loglog_is_the_mirror_of_cloglog() -> None:
    loglog, cloglog = LINKS["loglog"], LINKS["cloglog"]
    eta = np.linspace(-3.5, 36.0, 400)
    np.testing.assert_allclose(loglog.inverse(eta), 1.0 - cloglog.inverse(-eta), rtol=1e-12, atol=4 * R_EPS)
    np.testing.assert_allclose(loglog.mu_eta(EXTREME_ETA), cloglog.mu_eta(-EXTREME_ETA), rtol=1e-15)
    mu = np.linspace(0.5, 0.999, 50)  # 1 - mu is exact here
    np.testing.assert_allclose(loglog.link(mu), -cloglog.link(1.0 - mu), rtol=1e-13, atol=1e-15)
    clamped = loglog.inverse(np.array([-1e300, -4.0, 40.0, 1e300]))
    np.testing.assert_array_equal(clamped, [R_EPS, R_EPS, 1 - R_EPS, 1 - R_EPS])


# ---------------------------------------------------------------- round trips

def _round_trip_tolerance(link: Link, eta: float) -> float:
    """Error of link(inverse(eta)) allowed by float64: eps * (|eta| + |mu / (d mu/d eta)|)."""
    mu = float(link.inverse(eta))
    slope = abs(float(link.mu_eta(eta)))
    conditioning = abs(mu) / slope if slope > 0 else 0.0
    return 8 * R_EPS * (abs(eta) + conditioning) + 1e-300


def _round_trip_eta(name: str) -> st.SearchStrategy[float]:
    lo, hi = ROUND_TRIP_ETA[name]
    values = st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    if name in SINGULAR_AT_ZERO:
        values = st.floats(np.log(lo), np.log(hi)).map(np.exp)  # log-uniform over the huge range
        if name == "inverse":
            values = st.tuples(values, st.booleans()).map(lambda t: -t[0] if t[1] else t[0])
    return st.one_of(st.sampled_from([lo, hi]), values)


@pytest.mark.parametrize("name", sorted(LINKS))
def test_round_trip_eta_to_mu_to_eta(name: str) -> None:
    link = LINKS[name]

    @SETTINGS
    @given(_round_trip_eta(name))
    def check(eta: float) -> None:
        back = float(link.link(link.inverse(eta)))
        assert abs(back - eta) <= _round_trip_tolerance(link, eta), (eta, back)

    check()


@pytest.mark.parametrize("name", sorted(LINKS))
def test_round_trip_mu_to_eta_to_mu(name: str) -> None:
    link = LINKS[name]
    lo, hi = ROUND_TRIP_ETA[name]
    mu_lo, mu_hi = sorted(float(v) for v in link.inverse(np.array([lo, hi])))
    mu = np.linspace(mu_lo, mu_hi, 201)
    if name in SINGULAR_AT_ZERO or name == "log":
        mu = np.geomspace(max(mu_lo, 1e-300), min(mu_hi, 1e300), 201)
    again = link.inverse(link.link(mu))
    # mu -> eta -> mu is well conditioned except where mu_eta is tiny relative to mu (tails)
    np.testing.assert_allclose(again, mu, rtol=1e-9, atol=1e-12 if name in BOUNDED else 0)


def test_round_trip_is_impossible_beyond_the_documented_ranges() -> None:
    """Outside ROUND_TRIP_ETA the inverse is clamped (R) or saturates, so eta cannot come back."""
    for name in ("logit", "probit", "cloglog", "loglog", "log"):
        lo, hi = ROUND_TRIP_ETA[name]
        for eta in (lo - 10.0, hi + 10.0):
            back = float(LINKS[name].link(LINKS[name].inverse(eta)))
            assert abs(back - eta) > 1.0, (name, eta, back)


# ---------------------------------------------------------------- derivatives

def _fd_eta(name: str) -> st.SearchStrategy[float]:
    if name in SINGULAR_AT_ZERO:
        values = st.floats(np.log(1e-100), np.log(1e100)).map(np.exp)
        if name == "inverse":
            return st.tuples(values, st.booleans()).map(lambda t: -t[0] if t[1] else t[0])
        return values
    if name == "log":
        return st.floats(-745.0, 709.0)
    if name == "identity":
        return st.floats(-1e300, 1e300)
    return st.floats(-1e300, 1e300).filter(lambda x: abs(x) < 1e3 or abs(x) > 1e6) | st.floats(-50.0, 50.0)


def _near_a_switch(name: str, eta: float, h: float) -> bool:
    """Points where R's piecewise formulas jump (logit at +-30, clamping edges)."""
    edges = {
        "logit": (30.0,),
        "probit": (8.125890664701906,),
        "cauchit": (1.4335402797842334e15,),
        "log": (np.log(R_EPS),),
        "cloglog": (np.log(-np.log(R_EPS)), np.log(-np.log1p(-R_EPS)), 700.0),
        "loglog": (-np.log(-np.log(R_EPS)), -np.log(-np.log1p(-R_EPS)), 700.0),
    }.get(name, ())
    return any(abs(abs(eta) - e) <= 2 * h or abs(eta - e) <= 2 * h for e in edges)


@pytest.mark.parametrize("name", sorted(LINKS))
def test_mu_eta_matches_finite_differences(name: str) -> None:
    link = LINKS[name]

    @SETTINGS
    @given(_fd_eta(name))
    @example(1e-3 if name in SINGULAR_AT_ZERO else -1e3)
    @example(1e3)
    @example(1.0)
    def check(eta: float) -> None:
        h = 1e-6 * (abs(eta) if name in SINGULAR_AT_ZERO else max(1.0, abs(eta)))
        if _near_a_switch(name, eta, h):
            return
        up, down = float(link.inverse(eta + h)), float(link.inverse(eta - h))
        mu = float(link.inverse(eta))
        if not np.isfinite(up) or not np.isfinite(down):
            return  # beyond float64 (log link above eta = 709.78): mu_eta is inf there, checked elsewhere
        fd = (up - down) / (2 * h)
        d = float(link.mu_eta(eta))
        # truncation O(h^2) relative, rounding eps |mu| / h, and R's floor of mu_eta at eps
        tol = 1e-5 * abs(d) + 4 * R_EPS * max(abs(mu), abs(up), abs(down)) / h + 2 * R_EPS
        assert abs(d - fd) <= tol, (eta, d, fd)

    check()


# ---------------------------------------------------------------- extremes: no warnings, no NaN

@pytest.mark.parametrize("name", sorted(LINKS))
def test_no_floating_point_warnings_at_extremes(name: str) -> None:
    link = LINKS[name]
    mu = np.array([0.0, 1e-300, R_EPS, 0.5, 1 - R_EPS, 1.0, 2.0, 1e300, -1.0, -1e300, np.inf, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        link.inverse(EXTREME_ETA)
        link.mu_eta(EXTREME_ETA)
        link.valid_eta(EXTREME_ETA)
        link.link(mu)
        link.inverse(np.array([np.inf, -np.inf, np.nan]))


@pytest.mark.parametrize("name", sorted(LINKS))
def test_valid_eta_gives_means_in_range_and_no_nan(name: str) -> None:
    link = LINKS[name]
    eta = np.concatenate([EXTREME_ETA, np.linspace(-50, 50, 201)])
    ok = link.valid_eta(eta)
    mu, d = link.inverse(eta[ok]), link.mu_eta(eta[ok])
    assert not np.any(np.isnan(mu)) and not np.any(np.isnan(d))
    lo, hi = link.mu_range
    assert np.all((mu >= lo) & (mu <= hi))
    if name in BOUNDED:
        # R's clamps keep mu strictly inside (0, 1) and mu_eta strictly positive
        assert np.all((mu >= R_EPS / 2) & (mu <= 1 - R_EPS / 2)) and np.all(d >= R_EPS)
        assert np.all(np.isfinite(d))


def test_valid_eta_rules() -> None:
    eta = np.array([-1.0, 0.0, 1.0, np.inf, np.nan])
    np.testing.assert_array_equal(LINKS["logit"].valid_eta(eta), [True, True, True, False, False])
    np.testing.assert_array_equal(LINKS["inverse"].valid_eta(eta), [True, False, True, False, False])
    np.testing.assert_array_equal(LINKS["sqrt"].valid_eta(eta), [False, False, True, False, False])
    np.testing.assert_array_equal(LINKS["inverse_squared"].valid_eta(eta), [False, False, True, False, False])


def test_infinite_answers_are_infinite_not_nan() -> None:
    assert float(LINKS["log"].inverse(1e3)) == np.inf
    assert float(LINKS["inverse"].inverse(0.0)) == np.inf
    assert float(LINKS["logit"].link(1.0)) == np.inf
    assert float(LINKS["log"].link(0.0)) == -np.inf
    assert float(LINKS["cloglog"].mu_eta(1e300)) == R_EPS
    assert float(LINKS["probit"].mu_eta(-1e300)) == R_EPS


def test_vectorised_and_broadcasting() -> None:
    eta = np.linspace(-2, 2, 12).reshape(3, 4)
    for link in LINKS.values():
        assert link.inverse(eta).shape == (3, 4)
        assert link.mu_eta(eta).shape == (3, 4)
        assert link.valid_eta(eta).dtype == bool
        assert np.ndim(link.inverse(0.5)) == 0
