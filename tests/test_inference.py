"""reference.inference and reference.profile: anova, confint (profile, Wald, bootstrap), bootstrap_lrt.

Expected values: ``tests/r/inference_reference.json`` made by ``tests/r/inference_reference.R``
(R 4.2.2, lme4 1.1-31, pbkrtest 0.5.2, MASS 7.3-58.2) on lme4's cbpp, sleepstudy and
grouseticks; no R needed to run these tests.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rtools import R_DIR
from scipy import stats

import reference
from reference.errors import ModelInputError
from reference.inference import (
    BoundaryTestWarning,
    InferenceError,
    RefitNote,
    parameter_estimates,
    percent_labels,
    refit,
)

REFERENCE = json.loads((R_DIR / "inference_reference.json").read_text())

#: profile limits agree with lme4's to this (relative; absolute below 0.1): lme4 interpolates a
#: spline through a grid, we solve for the limit. Mostly they agree to 5e-4; the worst is the
#: beaches random-slope correlation (0.934 vs lme4's 0.942, where lme4's own ζ is 1.975, not 1.960)
PROFILE_TOL = 1e-2
#: lmer Wald limits: same estimates and SEs as lme4 (σ² S_XX⁻¹) up to optimiser noise
WALD_TOL = 1e-4
#: glmer Wald half-widths: lme4's default SEs come from its own finite-difference Hessian at its
#: (looser) optimum and differ from ours by up to 1.2 % on cbpp; ours agree with glmmTMB's to
#: 1e-3 (tests/test_glmer_vs_r.py), so only the midpoints are compared closely
WALD_GLMER_WIDTH_TOL = 2e-2


def load(name: str) -> pd.DataFrame:
    entry = REFERENCE[name]
    frame = pd.read_csv(R_DIR / entry["data"])
    for column, levels in entry["levels"].items():
        frame[column] = pd.Categorical(frame[column].astype(str), categories=[str(v) for v in levels])
    return frame


def quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def cbpp() -> dict[str, Any]:
    d = load("cbpp")
    return {
        "gm1": quiet(reference.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)", d, "binomial"),
        "null": quiet(reference.glmer, "cbind(incidence, size - incidence) ~ 1 + (1 | herd)", d, "binomial"),
        "obs": quiet(reference.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs)", d, "binomial"),
        "glm": reference.glm("cbind(incidence, size - incidence) ~ period", d, "binomial"),
        "data": d,
    }


@pytest.fixture(scope="module")
def sleep() -> dict[str, Any]:
    d = load("sleepstudy")
    return {
        "fm1": reference.lmer("Reaction ~ Days + (Days | Subject)", d),
        "uncorr": reference.lmer("Reaction ~ Days + (Days || Subject)", d),
        "int": reference.lmer("Reaction ~ Days + (1 | Subject)", d),
        "lm": reference.glm("Reaction ~ Days", d, "gaussian"),
        "data": d,
    }


@pytest.fixture(scope="module")
def sleep_profile(sleep: dict[str, Any]) -> pd.DataFrame:
    return sleep["fm1"].confint()


@pytest.fixture(scope="module")
def cbpp_profile(cbpp: dict[str, Any]) -> pd.DataFrame:
    return cbpp["gm1"].confint()


def r_interval(entry: dict[str, Any]) -> pd.DataFrame:
    lower = [math.nan if v is None else v for v in entry["lower"]]
    upper = [math.nan if v is None else v for v in entry["upper"]]
    return pd.DataFrame({entry["columns"][0]: lower, entry["columns"][1]: upper}, index=entry["names"])


def assert_interval_close(ours: pd.DataFrame, theirs: dict[str, Any], tol: float) -> None:
    expected = r_interval(theirs)
    assert list(ours.index) == list(expected.index), "parameter names differ from lme4's"
    assert list(ours.columns) == list(expected.columns), "column names differ from R's"
    a, b = ours.to_numpy(), expected.to_numpy()
    assert np.array_equal(np.isnan(a), np.isnan(b)), f"NaN pattern differs:\n{ours}\nR:\n{expected}"
    ok = np.isnan(b) | (np.abs(a - b) <= tol * np.maximum(np.abs(b), 0.1))
    assert ok.all(), f"limits differ from R's beyond {tol}:\n{ours}\nR:\n{expected}"


# ----------------------------------------------------------------------------- anova


def anova_cases(cbpp: dict[str, Any], sleep: dict[str, Any], case: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    r_cb, r_ss = REFERENCE["cbpp"], REFERENCE["sleepstudy"]
    table = {
        "cbpp_glm": ((cbpp["gm1"], cbpp["glm"]), r_cb["anova_glm"]),
        "cbpp_null": ((cbpp["gm1"], cbpp["null"]), r_cb["anova_null"]),
        "cbpp_obs": ((cbpp["gm1"], cbpp["obs"]), r_cb["anova_obs"]),
        "sleep_uncorr": ((sleep["fm1"], sleep["uncorr"]), r_ss["anova_uncorr"]),
        "sleep_three": ((sleep["fm1"], sleep["uncorr"], sleep["int"]), r_ss["anova_three"]),
        "sleep_lm": ((sleep["int"], sleep["lm"]), r_ss["anova_lm"]),
    }
    fits, expected = table[case]
    return quiet(reference.anova, *fits), expected


@pytest.mark.parametrize("case", ["cbpp_glm", "cbpp_null", "cbpp_obs", "sleep_uncorr", "sleep_three", "sleep_lm"])
def test_anova_matches_lme4(cbpp: dict[str, Any], sleep: dict[str, Any], case: str) -> None:
    table, expected = anova_cases(cbpp, sleep, case)
    assert list(table.columns) == ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]
    assert table["npar"].tolist() == [row["npar"] for row in expected]
    # our optima can be slightly better than lme4's (cbpp: logLik higher by 3e-4)
    np.testing.assert_allclose(table["logLik"], [row["logLik"] for row in expected], atol=2e-3)
    np.testing.assert_allclose(table["AIC"], [row["AIC"] for row in expected], atol=4e-3)
    np.testing.assert_allclose(table["BIC"], [row["BIC"] for row in expected], atol=4e-3)
    assert math.isnan(table["Chisq"].iloc[0]) and math.isnan(table["Pr(>Chisq)"].iloc[0])
    np.testing.assert_allclose(table["Chisq"].iloc[1:], [row["Chisq"] for row in expected[1:]], rtol=1e-3, atol=2e-3)
    assert table["Df"].iloc[1:].tolist() == [row["Df"] for row in expected[1:]]
    np.testing.assert_allclose(table["Pr(>Chisq)"].iloc[1:], [row["p"] for row in expected[1:]], rtol=1e-2)


def test_anova_orders_by_parameters_and_names_rows(sleep: dict[str, Any]) -> None:
    table = quiet(reference.anova, sleep["fm1"], sleep["int"], sleep["uncorr"], names=["slope", "int", "uncorr"])
    assert list(table.index) == ["int", "uncorr", "slope"]
    assert table["npar"].is_monotonic_increasing


def test_anova_refits_reml_with_ml_and_says_so(sleep: dict[str, Any]) -> None:
    with pytest.warns(RefitNote, match="refitting model"):
        table = reference.anova(sleep["uncorr"], sleep["fm1"])
    assert any("ML" in note for note in table.attrs["notes"])
    ml = reference.lmer("Reaction ~ Days + (Days | Subject)", sleep["data"], REML=False)
    assert table.loc["m2", "logLik"] == pytest.approx(ml.loglik, abs=1e-6)


def test_anova_boundary_note_and_mixture_p(cbpp: dict[str, Any]) -> None:
    with pytest.warns(BoundaryTestWarning, match="conservative"):
        table = reference.anova(cbpp["gm1"], cbpp["obs"], names=["herd", "herd_obs"])
    chisq = table.loc["herd_obs", "Chisq"]
    p_mix = table.attrs["boundary_p"]["herd_obs"]
    assert p_mix == pytest.approx(0.5 * stats.chi2.sf(chisq, 1), rel=1e-12)
    assert p_mix < table.loc["herd_obs", "Pr(>Chisq)"]
    assert any("50:50" in note for note in table.attrs["notes"])


def test_anova_without_variance_test_has_no_boundary_note(cbpp: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", BoundaryTestWarning)
        table = reference.anova(cbpp["gm1"], cbpp["null"])
    assert table.attrs["notes"] == [] and table.attrs["boundary_p"] == {}


def test_anova_refuses_different_data(cbpp: dict[str, Any], sleep: dict[str, Any]) -> None:
    d = sleep["data"]
    fewer = reference.lmer("Reaction ~ Days + (1 | Subject)", d.iloc[:-10])
    with pytest.raises(InferenceError, match=r"not fitted to the same data: .*170 observations"):
        quiet(reference.anova, sleep["fm1"], fewer)
    other = d.assign(Reaction=d["Reaction"] * 2.0)
    with pytest.raises(InferenceError, match="response of m2 differs"):
        quiet(reference.anova, sleep["fm1"], reference.lmer("Reaction ~ Days + (1 | Subject)", other))
    with pytest.raises(InferenceError, match="at least two"):
        reference.anova(sleep["fm1"])
    with pytest.raises(InferenceError, match=r"reference\.glm"):
        reference.anova(sleep["fm1"], "not a fit")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- confint vs R


def test_profile_matches_lme4_sleepstudy(sleep_profile: pd.DataFrame) -> None:
    assert_interval_close(sleep_profile, REFERENCE["sleepstudy"]["profile_95"], PROFILE_TOL)


def test_profile_level_90_matches_lme4_sleepstudy(sleep: dict[str, Any]) -> None:
    assert_interval_close(sleep["fm1"].confint(level=0.9), REFERENCE["sleepstudy"]["profile_90"], PROFILE_TOL)


def test_profile_matches_lme4_cbpp(cbpp_profile: pd.DataFrame) -> None:
    assert_interval_close(cbpp_profile, REFERENCE["cbpp"]["profile_95"], PROFILE_TOL)


def test_profile_matches_lme4_grouseticks_boundary() -> None:
    d = load("grouseticks")
    fit = quiet(reference.glmer, REFERENCE["grouseticks"]["formula"], d, "poisson")
    ci = fit.confint()
    assert_interval_close(ci, REFERENCE["grouseticks"]["profile_95"], PROFILE_TOL)
    assert ci.loc["sd_(Intercept)|LOCATION", "2.5 %"] == 0.0  # the profile stays below z down to 0


def test_profile_level_90_matches_lme4_cbpp(cbpp: dict[str, Any]) -> None:
    assert_interval_close(cbpp["gm1"].confint(level=0.9), REFERENCE["cbpp"]["profile_90"], PROFILE_TOL)


def test_wald_matches_lme4_lmer(sleep: dict[str, Any]) -> None:
    assert_interval_close(sleep["fm1"].confint("Wald"), REFERENCE["sleepstudy"]["wald_95"], WALD_TOL)


def test_wald_matches_lme4_glmer(cbpp: dict[str, Any]) -> None:
    ours = cbpp["gm1"].confint("Wald")
    expected = r_interval(REFERENCE["cbpp"]["wald_95"])
    assert list(ours.index) == list(expected.index) and list(ours.columns) == list(expected.columns)
    assert ours.iloc[0].isna().all() and expected.iloc[0].isna().all()
    np.testing.assert_allclose(ours.iloc[1:].mean(axis=1), expected.iloc[1:].mean(axis=1), atol=2e-3)
    np.testing.assert_allclose(ours.iloc[1:].diff(axis=1).iloc[:, 1], expected.iloc[1:].diff(axis=1).iloc[:, 1],
                               rtol=WALD_GLMER_WIDTH_TOL)


def test_glm_profile_and_wald_match_r(cbpp: dict[str, Any]) -> None:
    # MASS interpolates a spline through its profile grid (~1e-4 off); we solve for the limits
    assert_interval_close(cbpp["glm"].confint(), REFERENCE["cbpp"]["glm_profile_95"], 1e-3)
    assert_interval_close(cbpp["glm"].confint("Wald"), REFERENCE["cbpp"]["glm_wald_95"], 1e-6)


# ----------------------------------------------------------------------------- confint properties


def test_profile_contains_estimate_and_is_wider_at_higher_level(sleep: dict[str, Any], sleep_profile: pd.DataFrame) -> None:
    est = parameter_estimates(refit(sleep["fm1"], reml=False))  # lmer profiles are on the ML fit
    lo, hi = sleep_profile.iloc[:, 0], sleep_profile.iloc[:, 1]
    assert ((lo < est) & (est < hi)).all()
    narrow = sleep["fm1"].confint(level=0.8)
    assert list(narrow.columns) == ["10 %", "90 %"]
    assert ((lo < narrow.iloc[:, 0]) & (narrow.iloc[:, 1] < hi)).all()


def test_profile_of_gaussian_glm_is_the_wald_interval() -> None:
    # for a linear model the deviance is exactly quadratic in each coefficient: ΔD/φ = ((b − β̂)/se)²
    rng = np.random.default_rng(5)
    d = pd.DataFrame({"x": rng.normal(size=40), "g": np.repeat(["a", "b"], 20)})
    d["y"] = 1.0 + 0.5 * d["x"] + rng.normal(size=40)
    fit = reference.glm("y ~ x + g", d, "gaussian")
    np.testing.assert_allclose(fit.confint().to_numpy(), fit.confint("Wald").to_numpy(), rtol=1e-6)


def test_wald_is_symmetric_and_nan_for_variances(sleep: dict[str, Any]) -> None:
    ci = sleep["fm1"].confint("Wald", level=0.9)
    assert list(ci.columns) == ["5 %", "95 %"]
    fe = sleep["fm1"].fixef
    np.testing.assert_allclose((ci.loc[fe.index, "5 %"] + ci.loc[fe.index, "95 %"]) / 2, fe, rtol=1e-12)
    half = (ci.loc[fe.index, "95 %"] - ci.loc[fe.index, "5 %"]) / 2
    np.testing.assert_allclose(half, stats.norm.ppf(0.95) * sleep["fm1"].se, rtol=1e-12)
    assert ci.drop(index=fe.index).isna().all().all()
    assert list(ci.index[:4]) == ["sd_(Intercept)|Subject", "cor_Days.(Intercept)|Subject", "sd_Days|Subject", "sigma"]


@pytest.mark.parametrize(
    ("level", "labels"),
    [(0.95, ["2.5 %", "97.5 %"]), (0.9, ["5 %", "95 %"]), (0.99, ["0.5 %", "99.5 %"]), (0.8, ["10 %", "90 %"]),
     (0.999, ["0.05 %", "99.95 %"])],
)
def test_percent_labels_as_r(level: float, labels: list[str]) -> None:
    assert percent_labels(level) == labels


def test_confint_rejects_bad_arguments(sleep: dict[str, Any], cbpp: dict[str, Any]) -> None:
    with pytest.raises(InferenceError, match="unknown method"):
        sleep["fm1"].confint("bayes")
    with pytest.raises(InferenceError, match="level must be"):
        sleep["fm1"].confint("Wald", level=95)
    with pytest.raises(InferenceError, match="glmer and lmer"):
        cbpp["glm"].confint("boot")
    with pytest.raises(InferenceError, match="nsim"):
        sleep["fm1"].confint("boot", nsim=0)
    with pytest.raises(InferenceError, match="jobs"):
        sleep["fm1"].confint("boot", nsim=2, jobs=0)
    assert issubclass(InferenceError, ModelInputError)


def test_profile_refuses_glmm_with_estimated_dispersion() -> None:
    rng = np.random.default_rng(2)
    d = pd.DataFrame({"g": np.repeat(np.arange(10), 8).astype(str), "x": rng.normal(size=80)})
    d["y"] = rng.gamma(5.0, np.exp(0.3 * d["x"] + np.repeat(rng.normal(0, 0.3, 10), 8)) / 5.0)
    fit = quiet(reference.glmer, "y ~ x + (1 | g)", d, "Gamma", link="log")
    with pytest.raises(InferenceError, match="estimated dispersion"):
        fit.confint()
    assert fit.confint("Wald").loc["sigma"].isna().all()


# ----------------------------------------------------------------------------- bootstrap


def test_bootstrap_confint_reproducible_across_jobs(sleep: dict[str, Any]) -> None:
    one = sleep["fm1"].confint("boot", nsim=12, seed=7, jobs=1)
    two = sleep["fm1"].confint("boot", nsim=12, seed=7, jobs=2)
    pd.testing.assert_frame_equal(one, two)
    other = sleep["fm1"].confint("boot", nsim=12, seed=8)
    assert not one.equals(other)
    assert (one.iloc[:, 0] <= one.iloc[:, 1]).all()
    assert one.attrs["nsim"] == 12 and one.attrs["replicates"].shape == (12, 6)


def test_bootstrap_lrt_statistic_is_anova_chisq(cbpp: dict[str, Any]) -> None:
    res = quiet(reference.bootstrap_lrt, cbpp["glm"], cbpp["gm1"], nsim=8, seed=1, jobs=2)
    table = quiet(reference.anova, cbpp["glm"], cbpp["gm1"])
    assert res.lrt == pytest.approx(table["Chisq"].iloc[1], rel=1e-12)
    assert res.df == 1 and res.nsim == 8 and res.reference.shape == (8,)
    assert res.p_value == (1 + np.count_nonzero(res.reference >= res.lrt)) / (1 + res.nsim)
    again = quiet(reference.bootstrap_lrt, cbpp["gm1"], cbpp["glm"], nsim=8, seed=1, jobs=1)
    np.testing.assert_array_equal(res.reference, again.reference)


def test_simulate_lmm_reproduces_the_variance(sleep: dict[str, Any]) -> None:
    fit = sleep["int"]
    sims = fit.simulate(400, seed=3)
    assert sims.shape == (180, 400)
    pd.testing.assert_frame_equal(sims.iloc[:, :3], fit.simulate(3, seed=3))
    total = fit.sigma**2 + fit.varcorr["Subject"].iloc[0, 0]
    assert sims.var(axis=1).mean() == pytest.approx(total, rel=0.1)
    assert sims.mean(axis=1).to_numpy() == pytest.approx(fit.predict(re=False).to_numpy(), abs=4 * math.sqrt(total / 400) * 1.5)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["sleepstudy", "cbpp"])
def test_bootstrap_lrt_agrees_with_pbkrtest(cbpp: dict[str, Any], sleep: dict[str, Any], case: str) -> None:
    expected = REFERENCE[case]["pbmodcomp"]
    fits = (sleep["fm1"], sleep["uncorr"]) if case == "sleepstudy" else (cbpp["gm1"], cbpp["null"])
    res = quiet(reference.bootstrap_lrt, *fits, nsim=1000, seed=11, jobs=2)
    assert res.lrt == pytest.approx(expected["lrt"], rel=1e-3, abs=1e-4)
    p, q = res.p_value, expected["p_boot"]
    se = math.sqrt(max(p * (1 - p), 1e-3) * (1 / res.nsim + 1 / expected["n_used"]))
    assert abs(p - q) <= 4 * se, f"bootstrap p {p} vs pbkrtest {q} (Monte Carlo SE {se:.3g})"


def test_profile_in_two_processes_matches_one(cbpp: dict[str, Any], cbpp_profile: pd.DataFrame) -> None:
    two = cbpp["gm1"].confint(jobs=2)
    np.testing.assert_allclose(two.to_numpy(), cbpp_profile.to_numpy(), rtol=1e-6)


def test_profile_warns_when_the_fit_is_not_at_its_optimum(cbpp: dict[str, Any]) -> None:
    gm1 = cbpp["gm1"]
    off = dataclasses.replace(gm1, fixef=gm1.fixef + np.array([0.0, 0.3, 0.0, 0.0]))
    with pytest.warns(UserWarning, match="not at its optimum"):
        off.confint()


def test_profile_refuses_nagq0(cbpp: dict[str, Any]) -> None:
    fit = quiet(reference.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp["data"], "binomial",
                nAGQ=0)
    with pytest.raises(InferenceError, match="nAGQ=1"):
        fit.confint()


# ----------------------------------------------------------------------------- beaches (RIKZ)

RIKZ = Path(__file__).resolve().parents[2] / "shared" / "data" / "rikz.csv"  # ../shared/data, never copied here


@pytest.fixture(scope="module")
def rikz() -> pd.DataFrame:
    if "rikz" not in REFERENCE:
        pytest.skip("R's rikz results are not stored (the data were absent when inference_reference.R ran)")
    if not RIKZ.exists():
        pytest.skip(f"the beaches data are not at {RIKZ} (../shared/data/rikz.csv)")
    d = pd.read_csv(RIKZ)
    d["Beach"] = d["Beach"].astype(str)
    return d


def test_rikz_anova_and_profile_match_lme4(rikz: pd.DataFrame) -> None:
    ref = REFERENCE["rikz"]
    ri = quiet(reference.glmer, ref["formula"], rikz, "poisson")
    rs = quiet(reference.glmer, ref["slope_formula"], rikz, "poisson")
    r0 = reference.glm(ref["glm_formula"], rikz, "poisson")
    table = quiet(reference.anova, ri, r0, rs)
    expected = ref["anova"]
    assert table["npar"].tolist() == [row["npar"] for row in expected]
    np.testing.assert_allclose(table["Chisq"].iloc[1:], [row["Chisq"] for row in expected[1:]], rtol=1e-3, atol=2e-3)
    np.testing.assert_allclose(table["Pr(>Chisq)"].iloc[1:], [row["p"] for row in expected[1:]], rtol=1e-2)
    assert_interval_close(ri.confint(), ref["profile_95"], PROFILE_TOL)


def test_rikz_slope_profile_with_correlation_matches_lme4(rikz: pd.DataFrame) -> None:
    ref = REFERENCE["rikz"]
    if "error" in ref["slope_profile_95"]:
        pytest.skip(f"lme4 could not profile the slope model: {ref['slope_profile_95']['error']}")
    rs = quiet(reference.glmer, ref["slope_formula"], rikz, "poisson")
    assert_interval_close(rs.confint(), ref["slope_profile_95"], PROFILE_TOL)


def test_progress_bar_only_when_asked_or_on_a_terminal(sleep: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    sleep["int"].confint("boot", nsim=3, seed=1)  # stderr is not a terminal here: no bar
    assert capsys.readouterr().err == ""
    sleep["int"].confint("boot", nsim=3, seed=1, progress=True)
    err = capsys.readouterr().err
    assert "bootstrap" in err and "3/3" in err and err.endswith("\n")


@pytest.mark.parametrize("case", ["cbpp", "sleepstudy"])
def test_profile_limits_are_roots_of_zeta(
    cbpp: dict[str, Any], sleep: dict[str, Any], cbpp_profile: pd.DataFrame, sleep_profile: pd.DataFrame, case: str
) -> None:
    # independent of R: re-optimising from the estimate (no warm start) at each limit gives |ζ| = z
    from reference.profile import _problem_for

    fit, ci = (cbpp["gm1"], cbpp_profile) if case == "cbpp" else (sleep["fm1"], sleep_profile)
    problem = _problem_for(fit)
    z = stats.norm.ppf(0.975)
    for j, name in enumerate(ci.index):
        for limit in ci.loc[name]:
            dev, _ = problem.deviance_at(j, float(limit), None)
            assert math.sqrt(max(dev - problem.base, 0.0)) == pytest.approx(z, abs=2e-3), (name, limit)
