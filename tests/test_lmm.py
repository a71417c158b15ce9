"""reference.lmm.lmer against lme4::lmer (stored results), brute force, and reference.glmer.

Expected values: ``tests/r/lmer_reference.json`` made by ``tests/r/lmer_reference.R`` (R 4.2.2,
lme4 1.1-31; versions stored in the file). Every model is stored as REML and ML fits, each with
lme4's default optimizer ("default") and with a tight one ("tight"), plus lme4's criterion at a
fixed θ (``devFunOnly = TRUE``), which checks the objective without any optimizer.

What is asserted, per stored fit:

* the criterion at the fixed θ: 1e-11 relative;
* against the tight fit: log-likelihood / REML criterion 1e-11 relative; β 1e-9 and σ 1e-7
  relative; θ and SEs 3e-6 (relative, absolute below 0.1: the criterion is flat along θ, so
  two optimizers stopping 1e-12 apart in the criterion differ by ~1e-6 in θ);
* against the default fit (what an R user sees): our criterion is never worse (1e-9), θ 2e-4;
* against glmmTMB (REML and ML, unweighted fits): log-likelihood never worse and within 1e-6,
  β 1e-4, SEs and σ 1e-5;
* AIC, BIC, df.resid, nobs, ngroups, the ML deviance at the fit, variance components,
  conditional modes, fitted values and residuals, the singular flag.

Independent checks: the profiled criterion equals −2 × the Gaussian (restricted) log-likelihood
computed with numpy from the dense marginal covariance σ²(W⁻¹ + ZΛΛᵀZᵀ); the three solvers
for several grouping factors (dense, block elimination, sparse LU) agree; the ML fit reaches
the optimum of ``reference.glmer(family="gaussian")``.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rtools import R_DIR, require_rscript, run_rscript_json

from reference.errors import (
    ConvergenceWarning,
    DesignMatrixError,
    FormulaError,
    InvalidResponseError,
    ModelInputError,
)
from reference.glmm_formula import GroupingFactorError
from reference.lmm import _LMM, LMMOptions, LMMResult, lmer, lmer_criterion

REFERENCE = json.loads((R_DIR / "lmer_reference.json").read_text())
FITS: list[dict[str, Any]] = REFERENCE["fits"]
IDS = [f["id"] for f in FITS]

AT_THETA_TOL = 1e-11
CRIT_TOL = 1e-11  # relative, log-likelihood / REML criterion against the tight fit
BETA_TOL = 1e-9
SIGMA_TOL = 1e-7
THETA_TOL = 3e-6  # θ and SEs: relative, absolute below SMALL (worst seen 3.5e-7)
SMALL = 0.1
DEFAULT_THETA_TOL = 2e-4


def _frame(fit: dict[str, Any]) -> pd.DataFrame:
    frame = pd.read_csv(R_DIR / fit["data"])
    for column, levels in fit["factors"].items():
        frame[column] = pd.Categorical(frame[column].astype(str), categories=[str(v) for v in levels])
    return frame


_CACHE: dict[str, LMMResult] = {}


def _fit(fit: dict[str, Any]) -> LMMResult:
    if fit["id"] not in _CACHE:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            _CACHE[fit["id"]] = lmer(
                fit["formula"], _frame(fit), REML=fit["REML"], weights=fit["weights"], offset=fit["offset"]
            )
    return _CACHE[fit["id"]]


def _rel(actual: Any, expected: Any, small: float = 0.0) -> float:
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), small))) if a.size else 0.0


@pytest.mark.parametrize("fit", FITS, ids=IDS)
def test_criterion_at_fixed_theta(fit: dict[str, Any]) -> None:
    value = lmer_criterion(
        fit["formula"], _frame(fit), fit["at_theta"]["theta"], REML=fit["REML"],
        weights=fit["weights"], offset=fit["offset"],
    )
    assert _rel(value, fit["at_theta"]["objective"]) < AT_THETA_TOL


@pytest.mark.parametrize("fit", FITS, ids=IDS)
def test_matches_tight_lme4(fit: dict[str, Any]) -> None:
    res = _fit(fit)
    t = fit["tight"]
    assert _rel(res.loglik, t["loglik"]) < CRIT_TOL
    if fit["REML"]:
        assert res.reml_crit is not None and _rel(res.reml_crit, t["reml_crit"]) < CRIT_TOL
    else:
        assert res.reml_crit is None and _rel(res.deviance, t["deviance"]) < CRIT_TOL
    assert _rel(res.fixef, t["fixef"], 1.0) < BETA_TOL
    assert _rel(res.sigma, t["sigma"]) < SIGMA_TOL
    assert _rel(res.theta, t["theta"], SMALL) < THETA_TOL
    assert _rel(res.se, t["se"], SMALL) < THETA_TOL
    assert list(res.theta.index) == t["theta_names"]  # lme4's labels, cask:batch for batch/cask


@pytest.mark.parametrize("fit", FITS, ids=IDS)
def test_never_worse_than_default_lme4(fit: dict[str, Any]) -> None:
    res = _fit(fit)
    d = fit["default"]
    assert res.loglik >= d["loglik"] - 1e-9 * abs(d["loglik"])
    assert _rel(res.theta, d["theta"], SMALL) < DEFAULT_THETA_TOL


# glmmTMB's gaussian weights multiply each observation's log-density (frequency weights)
# instead of dividing its variance (lme4's prior weights): another model, not compared
TMB_FITS = [f for f in FITS if f.get("glmmTMB") and "error" not in f["glmmTMB"] and f["weights"] is None]


@pytest.mark.parametrize("fit", TMB_FITS, ids=[f["id"] for f in TMB_FITS])
def test_matches_glmmtmb(fit: dict[str, Any]) -> None:
    res = _fit(fit)
    t = fit["glmmTMB"]
    assert res.loglik >= t["loglik"] - 1e-8 * abs(t["loglik"])
    assert res.loglik == pytest.approx(t["loglik"], abs=1e-6)
    assert _rel(res.fixef, t["fixef"], 1.0) < 1e-4
    assert _rel(res.se, t["se"], SMALL) < 1e-5
    assert _rel(res.sigma, t["sigma"]) < 1e-5


@pytest.mark.parametrize("fit", FITS, ids=IDS)
def test_summary_quantities(fit: dict[str, Any]) -> None:
    res = _fit(fit)
    t = fit["tight"]
    assert res.aic == pytest.approx(t["aic"], rel=1e-10)
    assert res.bic == pytest.approx(t["bic"], rel=1e-10)
    assert res.npar == t["loglik_df"]
    assert res.df_resid == t["df_resid"]
    assert res.nobs == t["nobs"]
    assert list(res.ngroups.values()) == list(t["ngroups"].values())
    # the ML deviance at the REML optimum is not stationary in θ: first-order in the θ difference
    assert res.deviance == pytest.approx(t["ml_deviance_at_fit"], rel=1e-9)
    assert res.singular == t["singular"]
    for key, vc in zip(res.re_sd, t["varcorr"].values(), strict=True):
        assert _rel(res.re_sd[key], vc["sd"], 1.0) < THETA_TOL
        if vc["corr"] is not None:
            assert _rel(res.re_corr[key].to_numpy(), vc["corr"], 1.0) < 1e-4


@pytest.mark.parametrize("fit", FITS, ids=IDS)
def test_ranef_fitted_residuals(fit: dict[str, Any]) -> None:
    res = _fit(fit)
    t = fit["tight"]
    # lme4 puts the terms of one grouping factor, e.g. (Days || Subject), in one data frame
    merged: dict[str, pd.DataFrame] = {}
    for key, re in res.ranef.items():
        group = key.split(".")[0] if key.split(".")[-1].isdigit() else key
        merged[group] = pd.concat([merged[group], re.modes], axis=1) if group in merged else re.modes
    for key, stored in zip(merged, t["ranef"].values(), strict=True):
        modes = merged[key]
        expected = np.asarray(stored["values"], dtype=np.float64)
        labels = [str(v) for v in modes.index]
        r_labels = [str(v) for v in stored["levels"]]  # cask:batch levels are named cask:batch too
        order = [r_labels.index(v) for v in labels]
        scale = max(1.0, float(np.max(np.abs(expected))))
        assert np.max(np.abs(modes.to_numpy() - expected[order])) / scale < 1e-5
    fitted = res.fitted().to_numpy()
    y_scale = float(np.max(np.abs(fitted)))
    assert np.max(np.abs(fitted[:10] - np.asarray(t["fitted_head"]))) / y_scale < 1e-7
    assert np.max(np.abs(res.residuals().to_numpy()[:10] - np.asarray(t["resid_head"]))) / y_scale < 1e-7


# ----------------------------------------------------------------------------- brute force


def _dense_z(model: _LMM) -> list[np.ndarray]:
    out = []
    for t in model.terms:
        z = np.zeros((model.n, t.nlevels * t.p))
        for a in range(t.p):
            z[np.arange(model.n), t.codes * t.p + a] = t.Xr[:, a]
        out.append(z)
    return out


def _brute_force(model: _LMM, theta: np.ndarray, reml: bool) -> float:
    """−2 log-likelihood (ML) or REML criterion from the dense marginal covariance, by numpy."""
    from scipy import stats

    design = model.design
    X, y = design.X, design.y - model.offset
    n, k = X.shape
    pos = 0
    zl = []
    for t, z in zip(model.terms, _dense_z(model), strict=True):
        nt = t.p * (t.p + 1) // 2
        lam = np.zeros((t.p, t.p))
        r, c = np.tril_indices(t.p)
        order = np.lexsort((r, c))
        lam[r[order], c[order]] = theta[pos : pos + nt]
        pos += nt
        zl.append(z @ np.kron(np.eye(t.nlevels), lam))
    zlam = np.hstack(zl)
    v = np.diag(1.0 / model.pw) + zlam @ zlam.T  # covariance / σ²
    vinv = np.linalg.inv(v)
    xtvx = X.T @ vinv @ X
    beta = np.linalg.solve(xtvx, X.T @ vinv @ y)
    resid = y - X @ beta
    quad = float(resid @ vinv @ resid)
    if not reml:
        sigma2 = quad / n
        return -2.0 * float(stats.multivariate_normal(X @ beta, sigma2 * v).logpdf(y))
    sigma2 = quad / (n - k)
    # restricted likelihood: −2 l_R = −2 log N(y; Xβ̂, σ²V) + log|Xᵀ(σ²V)⁻¹X| − k log 2π
    full = -2.0 * float(stats.multivariate_normal(X @ beta, sigma2 * v).logpdf(y))
    return full + float(np.linalg.slogdet(xtvx / sigma2)[1]) - k * math.log(2 * math.pi)


BRUTE_CASES = [
    ("sleep_weights", [0.7, -0.2, 0.4]),
    ("sleep_wt_off", [1.3]),
    ("penicillin", [0.8, 2.5]),
    ("pastes", [2.0, 0.3]),
]


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize(("model_id", "theta"), BRUTE_CASES, ids=[c[0] for c in BRUTE_CASES])
def test_criterion_equals_dense_gaussian_likelihood(model_id: str, theta: list[float], reml: bool) -> None:
    fit = next(f for f in FITS if f["model"] == model_id and f["REML"] == reml)
    model = _LMM(fit["formula"], _frame(fit), reml, fit["weights"], fit["offset"], LMMOptions())
    th = np.asarray(theta)
    ours = model.criterion(th)
    assert ours == pytest.approx(_brute_force(model, th, reml), rel=1e-10)


def _five_point_gradient(f: Any, th: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Fourth-order central differences, independent of the code under test."""
    return np.array([(-f(th + 2 * h * e) + 8 * f(th + h * e) - 8 * f(th - h * e) + f(th - 2 * h * e)) / (12 * h)
                     for e in np.eye(th.size)])


def _crossed_slope_data(seed: int = 7, n: int = 200, ng: int = 15, nh: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, ng, n)
    h = rng.integers(0, nh, n)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + rng.normal(size=ng)[g] + 0.3 * rng.normal(size=ng)[g] * x + rng.normal(size=nh)[h] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{v:02d}" for v in g], "h": [f"h{v:02d}" for v in h]})


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_sparse_solvers_agree(reml: bool) -> None:
    """dense Cholesky, block elimination and sparse LU give the same criterion (random slope on
    the eliminated factor, crossed with a second one), and it equals the brute-force value."""
    d = _crossed_slope_data()
    form = "y ~ x + (x | g) + (1 | h)"
    th = np.array([0.8, 0.2, 0.5, 0.9])
    values = {}
    for name, opts in {
        "dense": LMMOptions(dense_max=10_000),
        "schur": LMMOptions(dense_max=0, schur_max=1000),
        "splu": LMMOptions(dense_max=0, schur_max=0),
    }.items():
        model = _LMM(form, d, reml, None, None, opts)
        assert model.struct.method == name
        values[name] = model.criterion(th)
    brute = _brute_force(_LMM(form, d, reml, None, None, LMMOptions()), th, reml)
    for v in values.values():
        assert v == pytest.approx(brute, rel=1e-10)
    fits = [lmer(form, d, REML=reml, dense_max=10_000), lmer(form, d, REML=reml, dense_max=0, schur_max=0)]
    assert fits[0].loglik == pytest.approx(fits[1].loglik, rel=1e-12)
    np.testing.assert_allclose(fits[0].theta, fits[1].theta, atol=1e-6)
    for key in fits[0].ranef:
        np.testing.assert_allclose(fits[0].ranef[key].modes, fits[1].ranef[key].modes, atol=1e-6)
        np.testing.assert_allclose(fits[0].ranef[key].condvar, fits[1].ranef[key].condvar, rtol=1e-5, atol=1e-8)


GRAD_CASES = [
    ("sleep_weights-reml", [0.9, 0.1, 0.3], {}),  # one factor, 2×2 block (closed form)
    ("sleep_uncorr-ml", [0.8, 0.3], {}),  # one factor, two scalar terms
    ("cake-ml", [1.2], {}),  # one factor, scalar, 18 fixed effects
    ("penicillin-reml", [0.8, 2.5], {}),  # crossed, dense solver
    ("pastes-ml", [2.0, 0.3], {"dense_max": 0}),  # nested, block elimination (dense A12)
    ("penicillin-ml", [0.8, 2.5], {"dense_max": 0, "schur_max": 0}),  # block elimination, sparse A12
]


@pytest.mark.parametrize(("fit_id", "theta", "opts"), GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_exact_gradient_matches_finite_differences(fit_id: str, theta: list[float], opts: dict[str, Any]) -> None:
    fit = next(f for f in FITS if f["id"] == fit_id)
    model = _LMM(fit["formula"], _frame(fit), fit["REML"], fit["weights"], fit["offset"], LMMOptions(**opts))
    assert model.has_gradient
    th = np.asarray(theta)
    value, grad = model.criterion_grad(th)
    assert value == pytest.approx(model.criterion(th), rel=1e-14)
    np.testing.assert_allclose(grad, _five_point_gradient(model.criterion, th), rtol=1e-6, atol=1e-6)


def test_exact_gradient_general_block() -> None:
    """A 3×3 block (random effect of a 3-level factor): the general batched gradient."""
    fit = next(f for f in FITS if f["id"] == "cake-reml")
    model = _LMM("angle ~ temperature + (0 + recipe | replicate)", _frame(fit), True, None, None, LMMOptions())
    th = np.array([1.1, 0.3, -0.2, 0.9, 0.1, 0.7])
    _value, grad = model.criterion_grad(th)
    np.testing.assert_allclose(grad, _five_point_gradient(model.criterion, th), rtol=1e-6, atol=1e-6)


def test_ml_fit_is_the_glmer_gaussian_optimum() -> None:
    """The profiled ML optimum is the optimum of reference.glmer's joint Laplace (exact for the
    gaussian identity model) fit: same log-likelihood, β and σ."""
    from reference.glmm import glmer

    fit = next(f for f in FITS if f["id"] == "dyestuff-ml")
    frame = _frame(fit)
    ours = lmer(fit["formula"], frame, REML=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        other = glmer(fit["formula"], frame, family="gaussian", gaussian_profiled=False)  # the general Laplace path
    assert ours.loglik == pytest.approx(other.loglik, abs=1e-6)
    assert ours.loglik >= other.loglik - 1e-9
    np.testing.assert_allclose(ours.fixef, other.fixef, rtol=1e-5)
    assert ours.sigma == pytest.approx(other.sigma, rel=1e-4)
    np.testing.assert_allclose(ours.theta, other.theta, rtol=1e-4)


@pytest.mark.parametrize(
    ("formula", "kwargs"),
    [
        ("Reaction ~ Days + (Days | Subject)", {}),
        ("Reaction ~ Days + (1 | Subject)", {"weights": "w", "offset": "off"}),
    ],
    ids=["slope", "weights-offset"],
)
def test_glmer_gaussian_adapter_matches_glmer(formula: str, kwargs: dict[str, Any]) -> None:
    """glmer_gaussian (the fast path offered to reference.glmer) returns the glmer fit: same
    optimum, same fields, and lme4's SEs (which glmer's Hessian SEs match to ~1e-6)."""
    from reference.glmm import GLMMResult, glmer, glmer_gaussian

    d = _sleep()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        slow = glmer(formula, d, family="gaussian", gaussian_profiled=False, **kwargs)
    fast = glmer_gaussian(formula, d, **kwargs)
    assert isinstance(fast, GLMMResult)
    assert fast.loglik >= slow.loglik - 1e-9
    assert fast.loglik == pytest.approx(slow.loglik, abs=1e-6)
    np.testing.assert_allclose(fast.fixef, slow.fixef, rtol=1e-6)
    np.testing.assert_allclose(fast.theta, slow.theta, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast.se, slow.se, rtol=1e-4)
    assert (fast.npar, fast.nobs, fast.ngroups, fast.df_resid) == (slow.npar, slow.nobs, slow.ngroups, slow.df_resid)
    np.testing.assert_allclose(fast.fitted(), slow.fitted(), rtol=1e-6)
    np.testing.assert_allclose(fast.residuals("pearson"), slow.residuals("pearson"), atol=1e-4)
    key = next(iter(fast.ranef))
    np.testing.assert_allclose(fast.ranef[key].modes, slow.ranef[key].modes, atol=1e-4)
    np.testing.assert_allclose(fast.ranef[key].condvar, slow.ranef[key].condvar, rtol=1e-4)
    assert "Linear mixed model fit by maximum likelihood" in fast.summary()
    lm = lmer(formula, d, REML=False, **kwargs)
    assert fast.loglik == lm.loglik
    routed = glmer(formula, d, family="gaussian", **kwargs)  # glmer's default for gaussian identity
    assert routed.loglik == fast.loglik and routed.se.equals(fast.se)


def test_glmer_gaussian_adapter_checks_nagq() -> None:
    import reference.lmm
    from reference.glmm import NAGQError, glmer_gaussian

    assert reference.lmm.glmer_gaussian is glmer_gaussian  # its old home still finds it
    d = _sleep()
    with pytest.raises(NAGQError, match="single, scalar"):
        glmer_gaussian("Reaction ~ Days + (Days | Subject)", d, nAGQ=5)
    with pytest.raises(NAGQError, match="integer"):
        glmer_gaussian("Reaction ~ Days + (1 | Subject)", d, nAGQ=-1)
    five = glmer_gaussian("Reaction ~ Days + (1 | Subject)", d, nAGQ=5)
    assert five.nagq == 5  # the gaussian integral is exact for every nAGQ: same fit
    assert five.loglik == glmer_gaussian("Reaction ~ Days + (1 | Subject)", d).loglik


# ----------------------------------------------------------------------------- behaviour


def _sleep() -> pd.DataFrame:
    return _frame(next(f for f in FITS if f["model"] == "sleep_int"))


def test_summary_text_like_lme4() -> None:
    d = _sleep()
    reml = lmer("Reaction ~ Days + (Days | Subject)", d).summary()
    assert "Linear mixed model fit by REML" in reml
    assert "REML criterion at convergence: 1743.6" in reml
    assert "Number of obs: 180, groups:  Subject, 18" in reml
    assert "t value" in reml and "36.838" in reml
    ml = lmer("Reaction ~ Days + (Days | Subject)", d, REML=False).summary()
    assert "Linear mixed model fit by maximum likelihood" in ml
    assert "1763.9" in ml and "-876.0" in ml and "174" in ml


def test_predict_and_residuals_consistent() -> None:
    d = _sleep()
    res = lmer("Reaction ~ Days + (Days | Subject)", d, weights="w", offset="off")
    np.testing.assert_allclose(res.predict(d), res.fitted(), rtol=1e-12)
    np.testing.assert_allclose(res.residuals(), d["Reaction"] - res.fitted(), rtol=1e-12)
    np.testing.assert_allclose(res.residuals("pearson"), np.sqrt(d["w"]) * res.residuals(), rtol=1e-12)
    beta = res.fixef.to_numpy()
    np.testing.assert_allclose(res.predict(d, re=False), beta[0] + beta[1] * d["Days"] + d["off"], rtol=1e-12)
    new = d.iloc[:3].assign(Subject=pd.Categorical(["new", "new", "new"]))
    np.testing.assert_allclose(res.predict(new), res.predict(new, re=False), rtol=1e-12)


def test_offset_in_formula_equals_offset_argument() -> None:
    d = _sleep()
    a = lmer("Reaction ~ Days + offset(off) + (1 | Subject)", d)
    b = lmer("Reaction ~ Days + (1 | Subject)", d, offset="off")
    c = lmer("Reaction ~ Days + (1 | Subject)", d, offset=d["off"].to_numpy())
    assert a.loglik == pytest.approx(b.loglik, rel=1e-12)
    assert c.loglik == pytest.approx(b.loglik, rel=1e-12)


def test_singular_fit_warns() -> None:
    fit = next(f for f in FITS if f["id"] == "dyestuff2-reml")
    with pytest.warns(ConvergenceWarning, match="singular"):
        res = lmer(fit["formula"], _frame(fit))
    assert res.singular and res.theta.iloc[0] == 0.0 and res.converged
    assert res.loglik == pytest.approx(fit["tight"]["loglik"], rel=1e-12)


def test_boundary_probe_finds_interior_optimum() -> None:
    """Started at the bound θ = 0 (slope 0 there by symmetry), the fit still finds the interior optimum."""
    d = _sleep()
    model = _LMM("Reaction ~ Days + (1 | Subject)", d, True, None, None, LMMOptions())
    from reference.lmm import _newton, _optimize

    stuck = _newton(model.criterion, np.array([0.0]), model.lower, model.opts)
    assert stuck.x[0] == 0.0  # plain Newton cannot leave θ = 0
    best = _optimize(model)
    assert best.x[0] == pytest.approx(next(f for f in FITS if f["id"] == "sleep_int-reml")["tight"]["theta"][0], rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"weights": "nope"}, (FormulaError, ModelInputError), "nope"),
        ({"weights": -1.0}, InvalidResponseError, "positive"),
        ({"weights": np.ones(3)}, InvalidResponseError, "length 3"),
        ({"offset": np.full(180, np.inf)}, InvalidResponseError, "offset"),
        ({"REML": "yes"}, ModelInputError, "REML must be"),
        ({"bogus_option": 1}, ModelInputError, "unknown option"),
        ({"blas_threads": 0}, ModelInputError, "blas_threads must be"),
        ({"options": object()}, ModelInputError, "options must be an LMMOptions"),
    ],
)
def test_bad_input(kwargs: dict[str, Any], error: Any, match: str) -> None:
    with pytest.raises(error, match=match):
        lmer("Reaction ~ Days + (1 | Subject)", _sleep(), **kwargs)


def test_bad_models() -> None:
    d = _sleep()
    with pytest.raises(ModelInputError, match="no random-effect"):
        lmer("Reaction ~ Days", d)
    with pytest.raises(DesignMatrixError, match="rank deficient"):
        lmer("Reaction ~ Days + D2 + (1 | Subject)", d.assign(D2=2 * d["Days"]))
    with pytest.raises(GroupingFactorError):
        lmer("Reaction ~ Days + (1 | row)", d.assign(row=np.arange(len(d)).astype(str)))


@pytest.mark.needs_r
def test_live_lmer_matches(tmp_path: Path) -> None:
    """Run lme4 now on simulated crossed data with a random slope and compare."""
    require_rscript()
    d = _crossed_slope_data(11, n=400, ng=40, nh=12)
    path = tmp_path / "crossed.csv"
    d.to_csv(path, index=False, float_format="%.17g")
    form = "y ~ x + (x | g) + (1 | h)"
    for reml in (True, False):
        live = run_rscript_json("lmer_bench.R", str(path), form, str(reml).upper(), "1", timeout=120)
        ours = lmer(form, d, REML=reml)
        assert ours.loglik >= live["loglik"] - 1e-8
        assert ours.loglik == pytest.approx(live["loglik"], abs=1e-6)
        np.testing.assert_allclose(ours.fixef, live["fixef"], rtol=1e-5)
        np.testing.assert_allclose(ours.theta, live["theta"], atol=2e-3)


def _blas_thread_counts() -> list[int]:
    from threadpoolctl import threadpool_info

    return [int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]


@pytest.mark.parametrize("n", [1, 3, None])
def test_blas_thread_limit_during_fit_is_restored(n: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """blas_threads holds every loaded BLAS to n threads during the fit only (None: untouched)."""
    from threadpoolctl import threadpool_limits

    import reference.lmm as lmm_mod

    seen: list[list[int]] = []
    real_optimize = lmm_mod._optimize

    def spy(model: Any) -> Any:
        seen.append(_blas_thread_counts())
        return real_optimize(model)

    monkeypatch.setattr(lmm_mod, "_optimize", spy)
    with threadpool_limits(limits=2, user_api="blas"):  # a known outside setting, different from n
        outside = _blas_thread_counts()
        assert outside and set(outside) == {2}, "no BLAS library that threadpoolctl can control"
        lmer("Reaction ~ Days + (1 | Subject)", _sleep(), blas_threads=n)
        assert seen == [[2 if n is None else n] * len(outside)]
        assert _blas_thread_counts() == outside


def test_blas_thread_limit_is_restored_after_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from threadpoolctl import threadpool_limits

    import reference.lmm as lmm_mod

    def broken(model: Any) -> Any:
        assert set(_blas_thread_counts()) == {1}
        raise RuntimeError("inside the fit")

    monkeypatch.setattr(lmm_mod, "_optimize", broken)
    with threadpool_limits(limits=2, user_api="blas"):
        outside = _blas_thread_counts()
        with pytest.raises(RuntimeError, match="inside the fit"):
            lmer("Reaction ~ Days + (1 | Subject)", _sleep())
        assert _blas_thread_counts() == outside
