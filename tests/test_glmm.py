"""reference.glmer: checks against independent computations (dense marginal likelihoods,
per-cluster Laplace formulas, numerical integration), input errors, result methods.

Agreement with lme4 / glmmTMB on real data sets is in tests/test_glmer_vs_r.py.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, special, stats

from reference import glmer
from reference.errors import (
    ConvergenceError,
    ConvergenceWarning,
    FormulaError,
    InvalidResponseError,
)
from reference.glmm import NAGQ_MESSAGE, GLMMOptions, NAGQError, glmer_deviance
from reference.glmm_formula import GroupingFactorError
from reference.glmm_re import BlockRE, SparseRE

RIKZ = Path(__file__).resolve().parents[2] / "shared" / "data" / "rikz.csv"


def _quiet_fit(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return glmer(*args, **kwargs)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- data


def _poisson_data(n_groups: int = 8, per: int = 6, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=g.size)
    b = rng.normal(scale=0.6, size=n_groups)
    y = rng.poisson(np.exp(0.5 + 0.4 * x + b[g]))
    return pd.DataFrame({"y": y.astype(float), "x": x, "g": g})


def _bernoulli_data(n_groups: int = 10, per: int = 8, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=g.size)
    b = rng.normal(scale=1.0, size=n_groups)
    y = rng.binomial(1, special.expit(-0.3 + 0.8 * x + b[g]))
    return pd.DataFrame({"y": y.astype(float), "x": x, "g": g})


def _gaussian_data(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(7), 5)
    x = rng.normal(size=g.size)
    y = 2.0 + 1.5 * x + rng.normal(scale=1.2, size=7)[g] + rng.normal(scale=0.8, size=g.size)
    return pd.DataFrame({"y": y, "x": x, "g": g})


# ----------------------------------------------------------------------------- the beaches data


@pytest.fixture(scope="module")
def rikz() -> pd.DataFrame:
    if not RIKZ.exists():
        pytest.skip(f"beaches data not found at {RIKZ} (read-only shared data, never copied into the repo)")
    return pd.read_csv(RIKZ)


def test_rikz_figures_of_the_lecture_notes(rikz: pd.DataFrame) -> None:
    res = glmer("Richness ~ NAP + (1 | Beach)", rikz, "poisson")
    assert round(res.aic, 1) == 220.8
    assert round(res.bic, 1) == 226.2
    assert res.loglik == pytest.approx(-107.3922, abs=1e-4)
    assert round(-2 * res.loglik, 1) == 214.8
    assert res.df_resid == 42
    assert res.nobs == 45
    assert res.ngroups == {"Beach": 9}
    text = res.summary()
    assert "220.8" in text and "226.2" in text and "-107.4" in text
    assert "Beach" in text and "(Intercept)" in text and "NAP" in text


# ----------------------------------------------------------------------------- Gaussian = ML LMM


def _dense_ml_lmm(y: np.ndarray, X: np.ndarray, Zs: list[np.ndarray]) -> tuple[float, np.ndarray, np.ndarray]:
    """Maximise the Gaussian marginal likelihood directly: V = Σ σ_k² Z_k Z_kᵀ + σ² I, β by GLS."""
    n = y.size

    def neg2ll(logsd: np.ndarray) -> tuple[float, np.ndarray]:
        sds = np.exp(logsd)
        V = sds[-1] ** 2 * np.eye(n)
        for s, Z in zip(sds[:-1], Zs, strict=True):
            V += s**2 * Z @ Z.T
        cf = np.linalg.cholesky(V)
        Xw = np.linalg.solve(cf, X)
        yw = np.linalg.solve(cf, y)
        beta, *_ = np.linalg.lstsq(Xw, yw, rcond=None)
        r = yw - Xw @ beta
        return n * math.log(2 * math.pi) + 2 * np.sum(np.log(np.diag(cf))) + r @ r, beta

    res = optimize.minimize(lambda v: neg2ll(v)[0], np.zeros(len(Zs) + 1), method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    value, beta = neg2ll(res.x)
    return -0.5 * value, beta, np.exp(res.x)


def _indicator(codes: np.ndarray) -> np.ndarray:
    return (codes[:, None] == np.unique(codes)[None, :]).astype(float)


@pytest.mark.parametrize("profiled", [True, False], ids=["profiled", "laplace"])
def test_gaussian_identity_is_the_ml_linear_mixed_model(profiled: bool) -> None:
    df = _gaussian_data()
    res = _quiet_fit("y ~ x + (1 | g)", df, "gaussian", gaussian_profiled=profiled)
    X = np.column_stack([np.ones(len(df)), df["x"]])
    ll, beta, sds = _dense_ml_lmm(df["y"].to_numpy(), X, [_indicator(df["g"].to_numpy())])
    assert res.loglik == pytest.approx(ll, abs=1e-6)
    np.testing.assert_allclose(res.fixef.to_numpy(), beta, rtol=1e-5)
    assert res.re_sd["g"].iloc[0] == pytest.approx(sds[0], rel=1e-4)
    assert res.sigma == pytest.approx(sds[1], rel=1e-4)
    # lme4's θ for a Gaussian model is relative to σ
    assert res.theta.iloc[0] == pytest.approx(sds[0] / sds[1], rel=1e-4)


@pytest.mark.parametrize("profiled", [True, False], ids=["profiled", "laplace"])
def test_gaussian_crossed_factors_match_the_dense_marginal_likelihood(profiled: bool) -> None:
    rng = np.random.default_rng(8)
    a = np.repeat(np.arange(6), 8)
    b = np.tile(np.arange(4), 12)
    x = rng.normal(size=a.size)
    y = 1 + 0.5 * x + rng.normal(scale=0.9, size=6)[a] + rng.normal(scale=0.6, size=4)[b] + rng.normal(size=a.size)
    df = pd.DataFrame({"y": y, "x": x, "a": a, "b": b})
    res = _quiet_fit("y ~ x + (1 | a) + (1 | b)", df, "gaussian", gaussian_profiled=profiled)
    X = np.column_stack([np.ones(a.size), x])
    ll, beta, sds = _dense_ml_lmm(y, X, [_indicator(a), _indicator(b)])
    assert res.loglik == pytest.approx(ll, abs=1e-6)
    np.testing.assert_allclose(res.fixef.to_numpy(), beta, rtol=1e-5)
    assert res.re_sd["a"].iloc[0] == pytest.approx(sds[0], rel=1e-3)
    assert res.re_sd["b"].iloc[0] == pytest.approx(sds[1], rel=1e-3)


# ----------------------------------------------------------------------------- Laplace and AGQ by hand


def test_laplace_deviance_equals_the_per_cluster_formula() -> None:
    df = _poisson_data(n_groups=5, per=4, seed=11)
    beta = np.array([0.3, 0.5])
    theta = 0.7
    total = 0.0
    for _, d in df.groupby("g"):
        y = d["y"].to_numpy()
        eta0 = beta[0] + beta[1] * d["x"].to_numpy()

        def h(u: float, y: np.ndarray = y, eta0: np.ndarray = eta0) -> float:
            return float(np.sum(stats.poisson.logpmf(y, np.exp(eta0 + theta * u))) + stats.norm.logpdf(u))

        mode = optimize.minimize_scalar(lambda u, h=h: -h(u), bounds=(-10, 10), method="bounded",
                                        options={"xatol": 1e-12}).x
        curvature = theta**2 * np.sum(np.exp(eta0 + theta * mode)) + 1.0  # −h''(mode)
        total += h(mode) + 0.5 * math.log(2 * math.pi) - 0.5 * math.log(curvature)
    dev = glmer_deviance("y ~ x + (1 | g)", df, "poisson", beta, [theta])
    assert dev == pytest.approx(-2 * total, abs=1e-8)


def _integrated_bernoulli_loglik(df: pd.DataFrame, beta: np.ndarray, sd: float) -> float:
    total = 0.0
    for _, d in df.groupby("g"):
        y = d["y"].to_numpy()
        eta0 = beta[0] + beta[1] * d["x"].to_numpy()

        def f(u: float, y: np.ndarray = y, eta0: np.ndarray = eta0) -> float:
            p = special.expit(eta0 + sd * u)
            return float(np.prod(np.where(y == 1, p, 1 - p)) * stats.norm.pdf(u))

        value, _ = integrate.quad(f, -12, 12, epsabs=1e-14, epsrel=1e-12, limit=200)
        total += math.log(value)
    return total


def test_agq25_loglik_equals_numerical_integration() -> None:
    df = _bernoulli_data()
    res = _quiet_fit("y ~ x + (1 | g)", df, "binomial", nAGQ=25)
    exact = _integrated_bernoulli_loglik(df, res.fixef.to_numpy(), float(res.theta.iloc[0]))
    assert res.loglik == pytest.approx(exact, abs=1e-7)
    # and away from the optimum too
    beta, sd = np.array([0.2, 0.5]), 1.7
    dev = glmer_deviance("y ~ x + (1 | g)", df, "binomial", beta, [sd], nAGQ=25)
    assert -0.5 * dev == pytest.approx(_integrated_bernoulli_loglik(df, beta, sd), abs=1e-7)


def test_laplace_is_the_one_node_case_and_agq_moves_towards_the_integral() -> None:
    df = _bernoulli_data(seed=5)
    beta, sd = np.array([-0.2, 0.6]), 1.3
    exact = _integrated_bernoulli_loglik(df, beta, sd)
    errors = [abs(-0.5 * glmer_deviance("y ~ x + (1 | g)", df, "binomial", beta, [sd], nAGQ=k) - exact)
              for k in (1, 3, 9)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-4


def test_nagq0_is_not_better_than_laplace() -> None:
    df = _poisson_data()
    lap = _quiet_fit("y ~ x + (1 | g)", df, "poisson")
    fast = _quiet_fit("y ~ x + (1 | g)", df, "poisson", nAGQ=0)
    assert fast.loglik <= lap.loglik + 1e-9
    assert fast.loglik == pytest.approx(lap.loglik, abs=0.05)
    np.testing.assert_allclose(fast.fixef.to_numpy(), lap.fixef.to_numpy(), atol=0.05)


# ----------------------------------------------------------------------------- structures


@pytest.mark.parametrize("p", [1, 2, 3])
def test_block_and_sparse_structures_agree(p: int) -> None:
    rng = np.random.default_rng(p)
    counts = rng.integers(2, 6, size=7)
    codes = np.repeat(np.arange(7), counts)
    Xr = np.column_stack([np.ones(codes.size)] + [rng.normal(size=codes.size) for _ in range(p - 1)])
    block = BlockRE(Xr, counts)
    sparse = SparseRE([(codes, Xr, 7)], dense_max=0)
    theta = rng.normal(size=p * (p + 1) // 2)
    w = rng.uniform(0.5, 2.0, size=codes.size)
    u = rng.normal(size=7 * p)
    r = rng.normal(size=codes.size)
    sb, ss = block.prepare(theta), sparse.prepare(theta)
    np.testing.assert_allclose(block.zlam_u(sb, u), sparse.zlam_u(ss, u), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(block.zlam_t(sb, r), sparse.zlam_t(ss, r), rtol=1e-12, atol=1e-12)
    fb, fs = block.factor(sb, w), sparse.factor(ss, w)
    assert fb.logdet == pytest.approx(fs.logdet, rel=1e-12)
    np.testing.assert_allclose(fb.solve(u), fs.solve(u), rtol=1e-10)
    X = rng.normal(size=(codes.size, 3))
    np.testing.assert_allclose(block.cross_x(sb, w, X), sparse.cross_x(ss, w, X), rtol=1e-10, atol=1e-12)
    # and against a dense computation of A = ΛᵀZᵀWZΛ + I
    Z = np.zeros((codes.size, 7 * p))
    for i, c in enumerate(codes):
        Z[i, c * p : (c + 1) * p] = Xr[i]
    lam = np.kron(np.eye(7), block.lam(theta))
    A = lam.T @ Z.T @ (w[:, None] * Z) @ lam + np.eye(7 * p)
    assert fb.logdet == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-12)


def test_nested_slash_equals_explicit_interaction_term() -> None:
    rng = np.random.default_rng(4)
    a = np.repeat(np.arange(5), 12)
    b = np.tile(np.repeat(np.arange(3), 4), 5)
    y = rng.poisson(np.exp(1 + rng.normal(scale=0.5, size=5)[a] + rng.normal(scale=0.4, size=15)[a * 3 + b]))
    df = pd.DataFrame({"y": y.astype(float), "a": a, "b": b})
    r1 = _quiet_fit("y ~ 1 + (1 | a/b)", df, "poisson")
    r2 = _quiet_fit("y ~ 1 + (1 | a) + (1 | a:b)", df, "poisson")
    assert r1.loglik == pytest.approx(r2.loglik, abs=1e-8)
    assert r1.ngroups == {"b:a": 15, "a": 5}  # lme4's label of the nested term


# ----------------------------------------------------------------------------- binomial with trials


def test_binomial_trials_column_equals_expanded_bernoulli_data() -> None:
    rng = np.random.default_rng(6)
    g = np.repeat(np.arange(6), 3)
    n = rng.integers(1, 6, size=g.size)
    y = rng.binomial(n, 0.4)
    agg = pd.DataFrame({"s": y.astype(float), "n": n.astype(float), "g": g})
    rows = [(1.0 if k < yi else 0.0, gi) for yi, ni, gi in zip(y, n, g, strict=True) for k in range(ni)]
    long = pd.DataFrame(rows, columns=["y", "g"])
    r_agg = _quiet_fit("s ~ 1 + (1 | g)", agg, "binomial", trials="n")
    r_long = _quiet_fit("y ~ 1 + (1 | g)", long, "binomial")
    np.testing.assert_allclose(r_agg.fixef.to_numpy(), r_long.fixef.to_numpy(), atol=1e-5)
    assert r_agg.theta.iloc[0] == pytest.approx(r_long.theta.iloc[0], abs=1e-4)
    # the log-likelihoods differ exactly by the binomial coefficients
    log_choose = float(np.sum(special.gammaln(n + 1) - special.gammaln(y + 1) - special.gammaln(n - y + 1)))
    assert r_agg.loglik == pytest.approx(r_long.loglik + log_choose, abs=1e-6)


# ----------------------------------------------------------------------------- errors


def test_nagq_above_one_needs_a_single_scalar_term() -> None:
    df = _poisson_data().assign(h=lambda d: d["g"] % 3)
    with pytest.raises(NAGQError, match="single, scalar random-effects term") as info:
        glmer("y ~ x + (1 + x | g)", df, "poisson", nAGQ=5)
    assert str(info.value) == NAGQ_MESSAGE
    with pytest.raises(NAGQError, match="single, scalar"):
        glmer("y ~ x + (1 | g) + (1 | h)", df, "poisson", nAGQ=5)
    with pytest.raises(NAGQError, match="integer"):
        glmer("y ~ x + (1 | g)", df, "poisson", nAGQ=-1)


def test_input_errors_are_typed_and_say_what_to_do() -> None:
    df = _poisson_data()
    with pytest.raises(GroupingFactorError, match="at least 2 groups"):
        glmer("y ~ x + (1 | one)", df.assign(one=1), "poisson")
    with pytest.raises(GroupingFactorError, match="one observation per level"):
        glmer("y ~ x + (1 + x | obs)", df.assign(obs=np.arange(len(df))), "poisson")
    with pytest.raises(FormulaError, match="'site'"):
        glmer("y ~ x + (1 | site)", df, "poisson")
    with pytest.raises(InvalidResponseError, match="trials must be positive"):
        glmer("y ~ x + (1 | g)", df.assign(n=np.where(np.arange(len(df)) == 3, 0, 10)), "binomial", trials="n")
    with pytest.raises(Exception, match="unknown option"):
        glmer("y ~ x + (1 | g)", df, "poisson", not_an_option=1)


def test_a_fit_that_cannot_converge_raises_convergence_error() -> None:
    df = _poisson_data()
    with pytest.raises(ConvergenceError, match=r"try|raise|rescale"):
        glmer("y ~ x + (1 | g)", df, "poisson", pirls_maxit=1)


def test_singular_fit_warns_with_advice() -> None:
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(10), 10)
    df = pd.DataFrame({"y": rng.poisson(3.0, size=g.size).astype(float), "g": g})
    with pytest.warns(ConvergenceWarning, match="singular"):
        res = glmer("y ~ 1 + (1 | g)", df, "poisson")
    assert res.optinfo["singular"]
    assert res.theta.iloc[0] < 1e-4


# ----------------------------------------------------------------------------- result object


def test_result_is_immutable_and_methods_agree() -> None:
    df = _poisson_data()
    res = _quiet_fit("y ~ x + (1 | g)", df, "poisson")
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.loglik = 0.0  # type: ignore[misc]
    np.testing.assert_allclose(res.predict(df, type="response").to_numpy(), res.fitted().to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(res.predict(df).to_numpy(), res.predict().to_numpy(), rtol=1e-10)
    fixed_only = res.fixef["(Intercept)"] + res.fixef["x"] * df["x"].to_numpy()
    np.testing.assert_allclose(res.predict(df, re=False).to_numpy(), fixed_only, rtol=1e-10)
    new = pd.DataFrame({"x": [0.5], "g": [999]})
    assert res.predict(new).iloc[0] == pytest.approx(res.fixef["(Intercept)"] + 0.5 * res.fixef["x"])
    # residuals
    mu, y = res.fitted().to_numpy(), df["y"].to_numpy()
    np.testing.assert_allclose(res.residuals("response").to_numpy(), y - mu)
    np.testing.assert_allclose(res.residuals("pearson").to_numpy(), (y - mu) / np.sqrt(mu))
    dev = res.residuals("deviance").to_numpy()
    assert np.all(np.sign(dev[y != mu]) == np.sign((y - mu)[y != mu]))
    # ranef: conditional modes b = Λu, one row per level
    modes = res.ranef["g"].modes
    assert modes.shape == (8, 1)
    eta = res.predict(df).to_numpy()
    np.testing.assert_allclose(eta - fixed_only, modes.to_numpy()[df["g"].to_numpy(), 0], atol=1e-10)
    assert np.all(res.ranef["g"].condvar > 0)
    # covariance and vcov
    assert res.varcorr["g"].iloc[0, 0] == pytest.approx(res.re_sd["g"].iloc[0] ** 2)
    np.testing.assert_allclose(np.sqrt(np.diag(res.vcov.to_numpy())), res.se.to_numpy())
    assert res.aic == pytest.approx(-2 * res.loglik + 2 * 3)
    assert res.bic == pytest.approx(-2 * res.loglik + math.log(len(df)) * 3)


def test_simulate_is_reproducible_and_respects_trials() -> None:
    rng = np.random.default_rng(9)
    g = np.repeat(np.arange(8), 4)
    n = rng.integers(2, 9, size=g.size).astype(float)
    df = pd.DataFrame({"s": rng.binomial(n.astype(int), 0.3).astype(float), "n": n, "g": g})
    res = _quiet_fit("s ~ 1 + (1 | g)", df, "binomial", trials="n")
    a = res.simulate(3, seed=5)
    b = res.simulate(3, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert a.shape == (len(df), 3)
    assert np.all((a.to_numpy() >= 0) & (a.to_numpy() <= n[:, None]))


def test_options_record_is_keyword_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        GLMMOptions(1e-10)  # type: ignore[misc]
    opts = GLMMOptions(pirls_tol=1e-16)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.pirls_tol = 1.0  # type: ignore[misc]


# ----------------------------------------------------------------------------- speed


@pytest.mark.slow
def test_speed_random_intercept_poisson_1e5_rows() -> None:
    rng = np.random.default_rng(12)
    n_groups = 5000
    g = np.repeat(np.arange(n_groups), 20)
    X = rng.normal(size=(g.size, 3))
    eta = 0.2 + X @ np.array([0.3, -0.2, 0.1]) + rng.normal(scale=0.5, size=n_groups)[g]
    df = pd.DataFrame({"y": rng.poisson(np.exp(eta)).astype(float), "x1": X[:, 0], "x2": X[:, 1], "x3": X[:, 2], "g": g})
    # CPU time, not wall time: the machines running the suite are often shared and loaded
    start = time.process_time()
    res = glmer("y ~ x1 + x2 + x3 + (1 | g)", df, "poisson")
    elapsed = time.process_time() - start
    np.testing.assert_allclose(res.fixef.to_numpy(), [0.2, 0.3, -0.2, 0.1], atol=0.03)
    assert res.theta.iloc[0] == pytest.approx(0.5, abs=0.03)
    assert elapsed < 10.0, f"1e5-row fit took {elapsed:.1f} s of CPU (lme4: about 10 s)"


def test_prior_weights_equal_duplicated_rows_within_clusters() -> None:
    df = _poisson_data(n_groups=6, per=5, seed=21)
    w = np.where(np.arange(len(df)) % 3 == 0, 2.0, 1.0)
    doubled = pd.concat([df, df[w == 2.0]]).sort_index(kind="stable")
    r_w = _quiet_fit("y ~ x + (1 | g)", df, "poisson", weights=w)
    r_d = _quiet_fit("y ~ x + (1 | g)", doubled, "poisson")
    np.testing.assert_allclose(r_w.fixef.to_numpy(), r_d.fixef.to_numpy(), atol=1e-6)
    assert r_w.theta.iloc[0] == pytest.approx(r_d.theta.iloc[0], abs=1e-6)
    assert r_w.loglik == pytest.approx(r_d.loglik, abs=1e-7)


def test_offset_shifts_the_intercept_exactly() -> None:
    df = _poisson_data(seed=22)
    base = _quiet_fit("y ~ x + (1 | g)", df, "poisson")
    shifted = _quiet_fit("y ~ x + (1 | g)", df, "poisson", offset=np.full(len(df), 0.7))
    assert shifted.fixef["(Intercept)"] == pytest.approx(base.fixef["(Intercept)"] - 0.7, abs=1e-6)
    assert shifted.loglik == pytest.approx(base.loglik, abs=1e-8)


@pytest.mark.parametrize("p1", [1, 2])
def test_schur_elimination_equals_sparse_lu_and_dense(p1: int) -> None:
    rng = np.random.default_rng(30 + p1)
    n = 60
    terms = [
        (rng.integers(0, 12, size=n), np.column_stack([np.ones(n)] + [rng.normal(size=n)] * (p1 - 1)), 12),
        (rng.integers(0, 5, size=n), np.column_stack([np.ones(n), rng.normal(size=n)]), 5),
        (rng.integers(0, 3, size=n), np.ones((n, 1)), 3),
    ]
    terms = [(c, x, max(int(c.max()) + 1, nl)) for c, x, nl in terms]
    schur = SparseRE(terms)
    lu = SparseRE(terms, dense_max=0, schur_max=0)
    assert schur.schur and not lu.schur
    theta = rng.uniform(0.2, 1.5, size=schur.ntheta)
    w = rng.uniform(0.3, 2.0, size=n)
    fs, fl = schur.factor(schur.prepare(theta), w), lu.factor(lu.prepare(theta), w)
    M = schur.prepare(theta).toarray()
    A = M.T @ (w[:, None] * M) + np.eye(schur.q)
    assert fs.logdet == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-12)
    assert fl.logdet == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-12)
    rhs = rng.normal(size=(schur.q, 3))
    np.testing.assert_allclose(fs.solve_mat(rhs), np.linalg.solve(A, rhs), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fs.solve(rhs[:, 0]), fl.solve(rhs[:, 0]), rtol=1e-9, atol=1e-12)


def test_cbind_response_equals_trials_argument() -> None:
    rng = np.random.default_rng(40)
    g = np.repeat(np.arange(7), 4)
    n = rng.integers(1, 9, size=g.size).astype(float)
    s = rng.binomial(n.astype(int), 0.35).astype(float)
    df = pd.DataFrame({"s": s, "f": n - s, "n": n, "g": g})
    r1 = _quiet_fit("cbind(s, f) ~ 1 + (1 | g)", df, "binomial")
    r2 = _quiet_fit("s ~ 1 + (1 | g)", df, "binomial", trials="n")
    assert r1.loglik == pytest.approx(r2.loglik, abs=1e-10)
    np.testing.assert_allclose(r1.fixef.to_numpy(), r2.fixef.to_numpy(), atol=1e-8)
    with pytest.raises(Exception, match="given twice"):
        glmer("cbind(s, f) ~ 1 + (1 | g)", df, "binomial", trials="n")


def test_rikz_nagq0_matches_lme4(rikz: pd.DataFrame) -> None:
    """lme4 1.1-31 (R 4.2.2), run for this test:
    glmer(Richness ~ NAP + (1 | Beach), rikz, family = poisson, nAGQ = 0):
    logLik -107.3974766, fixef 1.6801153560 -0.5036003082, theta 0.4744510767,
    SE 0.172865139 0.075679202 (from the penalised system, as ours for nAGQ = 0)."""
    res = glmer("Richness ~ NAP + (1 | Beach)", rikz, "poisson", nAGQ=0)
    assert res.loglik >= -107.3974766 - 1e-6
    assert res.loglik == pytest.approx(-107.3974766, abs=1e-4)
    np.testing.assert_allclose(res.fixef.to_numpy(), [1.6801153560, -0.5036003082], atol=1e-5)
    assert res.theta.iloc[0] == pytest.approx(0.4744510767, abs=1e-4)
    np.testing.assert_allclose(res.se.to_numpy(), [0.172865139, 0.075679202], rtol=1e-4)


def test_offset_column_and_formula_offset_predict_alike() -> None:
    df = _poisson_data(seed=23).assign(logt=lambda d: np.log(1 + np.arange(len(d)) % 4))
    r_col = _quiet_fit("y ~ x + (1 | g)", df, "poisson", offset="logt")
    r_formula = _quiet_fit("y ~ x + offset(logt) + (1 | g)", df, "poisson")
    assert r_col.loglik == pytest.approx(r_formula.loglik, abs=1e-10)
    np.testing.assert_allclose(r_col.predict(df).to_numpy(), r_formula.predict(df).to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(r_col.predict(df).to_numpy(), r_col.predict().to_numpy(), rtol=1e-8)
    r_arr = _quiet_fit("y ~ x + (1 | g)", df, "poisson", offset=df["logt"].to_numpy())
    with pytest.raises(Exception, match="offset given as an array"):
        r_arr.predict(df)


def test_double_bar_equals_separate_uncorrelated_terms() -> None:
    rng = np.random.default_rng(24)
    g = np.repeat(np.arange(12), 8)
    x = rng.normal(size=g.size)
    eta = 0.5 + 0.3 * x + rng.normal(scale=0.5, size=12)[g] + rng.normal(scale=0.3, size=12)[g] * x
    df = pd.DataFrame({"y": rng.poisson(np.exp(eta)).astype(float), "x": x, "g": g})
    r1 = _quiet_fit("y ~ x + (1 + x || g)", df, "poisson")
    r2 = _quiet_fit("y ~ x + (1 | g) + (0 + x | g)", df, "poisson")
    assert r1.loglik == pytest.approx(r2.loglik, abs=1e-8)
    np.testing.assert_allclose(r1.theta.to_numpy(), r2.theta.to_numpy(), atol=1e-5)
    assert list(r1.varcorr) == ["g", "g.1"]


def test_unchecked_adaptive_log_integral_is_the_checked_formula() -> None:
    """The trusted entry point used inside the deviance gives the public function's values,
    and both are exact for a normal integrand (log ∫ exp(−(u−m)²/(2s²)) du = log(s√(2π)))."""
    from reference.quadrature import adaptive_log_integral, adaptive_log_integral_unchecked

    m = np.array([-1.0, 0.0, 2.5])
    s = np.array([0.3, 1.0, 2.0])

    def logf(u: np.ndarray) -> np.ndarray:
        return -0.5 * ((u - m[:, None]) / s[:, None]) ** 2 + 0.1 * np.cos(u)

    exact_normal = np.log(s * math.sqrt(2 * math.pi))
    for k in (1, 2, 7, 25):
        checked = adaptive_log_integral(logf, m, s, k)
        assert adaptive_log_integral_unchecked(logf, m, s, k) == pytest.approx(checked, rel=1e-14, abs=1e-14)
        normal = adaptive_log_integral_unchecked(lambda u: -0.5 * ((u - m[:, None]) / s[:, None]) ** 2, m, s, k)
        assert normal == pytest.approx(exact_normal, abs=1e-12)
