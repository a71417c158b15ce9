"""reference.glmer on awkward real inputs: badly scaled covariates, separation, degenerate optima.

The lme4 values come from ``tests/r/glmer_robust_reference.R`` (AER's Fatalities, mlmRev's
guPrenat), stored in ``glmer_robust_reference.json`` with the data under ``tests/r/data/``; no R is
needed here. Before the fixed-effects design was scaled internally, the Poisson Fatalities model
raised "penalised IRLS did not converge" and the binomial one stopped 1.08 log-likelihood units
short of the optimum.
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import glmer
from reference.errors import ConvergenceError, ConvergenceWarning, FormulaError
from reference.glmm import glmer_deviance
from reference.glmm_inputs import FixedScaling, separating_columns
from tests.rtools import R_DIR, assert_close_to_r

REFERENCE = json.loads((R_DIR / "glmer_robust_reference.json").read_text())
FITS = {f["id"]: f for f in REFERENCE["fits"]}


@cache
def _data(name: str) -> pd.DataFrame:
    # guPrenat has levels called "None": only R's NA is missing
    df = pd.read_csv(R_DIR / "data" / f"{name}.csv", keep_default_na=False, na_values=["NA"])
    for col, levels in REFERENCE["datasets"][name]["factors"].items():
        df[col] = pd.Categorical(df[col].astype(str), categories=[str(v) for v in levels])
    return df


def _fit(fit_id: str, **kwargs: Any) -> tuple[Any, list[str]]:
    spec = FITS[fit_id]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        result = glmer(spec["formula"], _data(spec["data"]), spec["family"], **kwargs)
    return result, [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]


@cache
def _shift_scale_base() -> tuple[pd.DataFrame, Any]:
    rng = np.random.default_rng(11)
    n, groups = 300, 20
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    b = rng.normal(0.0, 0.5, groups)
    y = rng.poisson(np.exp(0.5 + 0.4 * x + b[g]))
    df = pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})
    return df, glmer("y ~ x + (1 | g)", df, "poisson")


def test_badly_scaled_poisson_reaches_lme4_optimum() -> None:
    fit, msgs = _fit("fatalities_poisson")
    r = FITS["fatalities_poisson"]["lme4"]
    assert fit.loglik >= r["loglik"] - 1e-6  # lme4: -2204.2746 (with convergence warnings)
    assert not msgs
    # lme4's estimates on the rescaled income agree, so the β here are on the user's scale
    rescaled = FITS["fatalities_poisson_rescaled"]["lme4"]
    assert_close_to_r(fit.fixef.to_numpy() * [1.0, 1e3, 1.0], rescaled["fixef"], "fixef")
    assert_close_to_r(fit.se.to_numpy() * [1.0, 1e3, 1.0], rescaled["se"], "se")


def test_badly_scaled_binomial_reaches_optimum_of_rescaled_fit() -> None:
    fit, _ = _fit("fatalities_binomial")
    assert "error" in FITS["fatalities_binomial"]["lme4"]  # lme4 fails on pop in persons
    rescaled = FITS["fatalities_binomial_rescaled"]["lme4"]
    assert fit.loglik >= rescaled["loglik"] - 1e-6
    assert fit.fixef["pop"] * 1e6 == pytest.approx(rescaled["fixef"][1], rel=2e-3)


def test_scaling_does_not_change_the_model_and_can_be_switched_off() -> None:
    df, scaled = _shift_scale_base()
    plain = glmer("y ~ x + (1 | g)", df, "poisson", scale_fixed=False)
    assert scaled.loglik == pytest.approx(plain.loglik, abs=1e-8)
    np.testing.assert_allclose(scaled.fixef, plain.fixef, rtol=1e-5)
    np.testing.assert_allclose(scaled.vcov, plain.vcov, rtol=1e-3)
    np.testing.assert_allclose(scaled.predict(), plain.predict(), rtol=1e-6)
    # the deviance function takes β on the user's scale
    assert glmer_deviance("y ~ x + (1 | g)", df, "poisson", scaled.fixef, scaled.theta) == pytest.approx(
        scaled.deviance, rel=1e-10
    )


def test_fixed_scaling_round_trip() -> None:
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(50), rng.normal(1e4, 2e3, 50), rng.normal(size=50)])
    sc = FixedScaling.of(X)
    Xi = sc.internal_x(X)
    np.testing.assert_allclose(Xi[:, 1:].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Xi[:, 1:].std(axis=0), 1.0)
    beta = np.array([0.3, 2e-4, -1.0])
    np.testing.assert_allclose(Xi @ sc.beta_to_internal(beta), X @ beta, rtol=1e-10)
    np.testing.assert_allclose(sc.beta_to_user(sc.beta_to_internal(beta)), beta, rtol=1e-12)


@settings(max_examples=12, deadline=None, database=None, derandomize=True)
@given(
    log10_scale=st.floats(min_value=-4.0, max_value=5.0),
    shift=st.floats(min_value=-1e5, max_value=1e5),
)
def test_rescaling_and_shifting_a_covariate_only_transforms_beta(log10_scale: float, shift: float) -> None:
    df, base = _shift_scale_base()
    a = 10.0**log10_scale
    moved = df.assign(x=a * df["x"] + shift)
    fit = glmer("y ~ x + (1 | g)", moved, "poisson")
    assert fit.loglik == pytest.approx(base.loglik, abs=1e-6)
    slope = base.fixef["x"]
    assert fit.fixef["x"] == pytest.approx(slope / a, rel=1e-5)
    assert fit.fixef["(Intercept)"] == pytest.approx(base.fixef["(Intercept)"] - slope * shift / a, rel=1e-5, abs=1e-5)
    assert fit.se["x"] == pytest.approx(base.se["x"] / a, rel=1e-3)
    assert fit.re_sd["g"].iloc[0] == pytest.approx(base.re_sd["g"].iloc[0], rel=1e-4)


def _separated() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 200
    x = rng.normal(size=n)
    return pd.DataFrame(
        {"y": (x > 0).astype(float), "x": x, "z": rng.normal(size=n), "g": rng.integers(0, 10, n).astype(str)}
    )


@pytest.mark.parametrize("nagq", [1, 0])
def test_complete_separation_is_named_with_its_column(nagq: int) -> None:
    with pytest.raises(ConvergenceError, match=r"separate the 0/1 outcomes along column\(s\) x[,;]") as info:
        glmer("y ~ x + z + (1 | g)", _separated(), "binomial", nAGQ=nagq)
    assert "z" not in str(info.value).split("along")[1].split(";")[0]
    assert "nAGQ=0" not in str(info.value)


@pytest.mark.parametrize("family", ["poisson", "binomial"])
def test_level_with_only_zeros_is_fitted_and_named(family: str) -> None:
    """Quasi-complete separation by a factor level: the fit ends (the coefficient runs off), and
    the warning names the level's column."""
    rng = np.random.default_rng(5)
    n = 240
    f = np.repeat(["a", "b", "c"], n // 3)
    g = rng.integers(0, 12, n)
    y = rng.poisson(np.exp(1.0 + rng.normal(0, 0.3, 12)[g])).astype(float)
    y[f == "c"] = 0.0
    if family == "binomial":
        y = (y > 1).astype(float)
    df = pd.DataFrame({"y": y, "f": f, "g": g.astype(str)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fit = glmer("y ~ f + (1 | g)", df, family)
    assert fit.fixef["fc"] < -10
    msgs = [str(w.message) for w in caught]
    assert any("separate" in m and "column(s) fc" in m for m in msgs), msgs


def test_separating_columns_finds_none_without_separation() -> None:
    rng = np.random.default_rng(2)
    X = np.column_stack([np.ones(100), rng.normal(size=100)])
    y = (rng.random(100) < 0.5).astype(float)
    assert separating_columns(X, y, np.ones(100), "binomial", ["(Intercept)", "x"]) is None
    # a Poisson factor level whose counts are all 0
    X2 = np.column_stack([np.ones(6), [0, 0, 0, 1, 1, 1]])
    counts = np.array([1.0, 3.0, 2.0, 0.0, 0.0, 0.0])
    assert separating_columns(X2, counts, np.ones(6), "poisson", ["(Intercept)", "lvl"]) == ["lvl"]


def test_degenerate_nested_optimum_warns_and_deviance_evaluates() -> None:
    fit, msgs = _fit("guprenat_covariates")
    sd_mom = fit.re_sd["mom:cluster"].iloc[0]
    assert sd_mom > 10.0
    assert any("degenerate fit" in m and "mom:cluster" in m and "single observation" in m for m in msgs), msgs
    spec = FITS["guprenat_covariates"]
    dev = glmer_deviance(spec["formula"], _data(spec["data"]), "binomial", fit.fixef, fit.theta)
    assert dev == pytest.approx(fit.deviance, rel=1e-9)


def test_nested_terms_use_lme4_labels() -> None:
    fit, _ = _fit("guprenat_nested")
    r = FITS["guprenat_nested"]["lme4"]
    assert list(fit.varcorr) == r["varcorr_names"]
    assert list(fit.theta.index) == r["theta_names"]
    assert fit.loglik >= r["loglik"] - 1e-6  # lme4 stops 0.025 lower, with SD(mom:cluster) 3.30
    assert fit.re_sd["mom:cluster"].iloc[0] == pytest.approx(r["sd"][0], rel=0.01)


def test_misspelled_fixed_column_lists_every_column() -> None:
    df = _separated().assign(extra=1.0)
    with pytest.raises(FormulaError, match="available columns") as info:
        glmer("y ~ xx + (1 | g)", df, "binomial")
    listed = str(info.value).split("available columns:")[1]
    for col in df.columns:
        assert col in listed


def test_poisson_overflow_message_does_not_suggest_another_link() -> None:
    df, _ = _shift_scale_base()
    with pytest.raises(ConvergenceError) as info:
        glmer_deviance("y ~ x + (1 | g)", df, "poisson", [800.0, 0.0], [1.0])
    assert "overflow" in str(info.value)
    assert "another link" not in str(info.value)
