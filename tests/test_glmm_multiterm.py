"""Several random-effects terms: every factorisation of the penalised system agrees with dense algebra.

``reference.glmm_re.SparseRE`` picks one of four ways to factorise ``A = Λᵀ Zᵀ W Z Λ + I``
(sparse Schur complement, dense Schur complement, dense Cholesky, sparse LU). Each is checked
here against ``A`` built densely from ``Z``, and the Laplace deviance of ``glmer`` on a crossed and
a nested design against an independent dense computation (Newton iterations for the conditional
modes written out below with dense matrices, log-densities from scipy.stats).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reference.glmm import GLMMOptions, glmer_deviance_function
from reference.glmm_re import SparseRE


def _dense_z(terms: list[tuple[np.ndarray, np.ndarray, int]]) -> np.ndarray:
    n = terms[0][0].size
    blocks = []
    for codes, Xr, nl in terms:
        p = Xr.shape[1]
        Z = np.zeros((n, nl * p))
        for a in range(p):
            Z[np.arange(n), codes * p + a] = Xr[:, a]
        blocks.append(Z)
    return np.hstack(blocks)


def _dense_lambda(struct: SparseRE, theta: np.ndarray) -> np.ndarray:
    lams = struct.lam(theta)
    return np.asarray(
        np.block(
            [
                [np.kron(np.eye(nl), lam) if i == j else np.zeros((nl * lam.shape[0], nl2 * lam2.shape[0]))
                 for j, (lam2, nl2) in enumerate(zip(lams, struct.nlevs, strict=True))]
                for i, (lam, nl) in enumerate(zip(lams, struct.nlevs, strict=True))
            ]
        )
    )


def _design(kind: str, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Terms (codes, Xr, levels), largest first as glmer orders them."""
    if kind == "crossed_sparse":  # 200 × 40 levels, 2 rows per level of the first: A12 mostly zero
        n = 400
        return [(rng.permutation(np.repeat(np.arange(200), 2)), np.ones((n, 1)), 200),
                (rng.integers(0, 40, n), np.ones((n, 1)), 40)]
    if kind == "crossed_dense":  # every pair of levels observed: A12 dense
        a, b = np.meshgrid(np.arange(30), np.arange(6), indexing="ij")
        codes_a, codes_b = np.tile(a.ravel(), 3), np.tile(b.ravel(), 3)
        n = codes_a.size
        return [(codes_a, np.ones((n, 1)), 30), (codes_b, np.ones((n, 1)), 6)]
    if kind == "nested":  # 120 classes in 12 schools
        n = 600
        cls = rng.integers(0, 120, n)
        return [(cls, np.ones((n, 1)), 120), (cls // 10, np.ones((n, 1)), 12)]
    if kind == "obs_level":  # grouseticks-like: one level per row, two crossed factors on top
        n = 300
        return [(np.arange(n), np.ones((n, 1)), n), (rng.integers(0, 50, n), np.ones((n, 1)), 50),
                (rng.integers(0, 20, n), np.ones((n, 1)), 20)]
    if kind == "obs_level_nested":  # one level per row over 240 broods in 80 locations: S is sparse
        n = 720
        brood = rng.permutation(np.repeat(np.arange(240), 3))
        return [(np.arange(n), np.ones((n, 1)), n), (brood, np.ones((n, 1)), 240),
                (brood // 3, np.ones((n, 1)), 80)]
    if kind == "slope_first":  # a random slope on the largest factor (vector first term)
        n = 500
        x = rng.normal(size=n)
        return [(rng.integers(0, 100, n), np.column_stack([np.ones(n), x]), 100),
                (rng.integers(0, 10, n), np.ones((n, 1)), 10)]
    raise AssertionError(kind)


# the way each design is meant to be factorised by default: (method, A12 by its nonzeros, S sparse)
EXPECTED = {
    "crossed_sparse": ("schur", True, False),
    "crossed_dense": ("schur", False, False),
    "nested": ("schur", True, False),
    "obs_level": ("schur", True, False),
    "obs_level_nested": ("schur", True, True),
    "slope_first": ("schur", False, False),
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_every_factorisation_equals_the_dense_system(kind: str) -> None:
    rng = np.random.default_rng(sorted(EXPECTED).index(kind))
    terms = _design(kind, rng)
    n = terms[0][0].size
    fast = SparseRE(terms)
    assert (fast.method, fast.sparse_schur, fast.sparse_s) == EXPECTED[kind]
    variants = [fast, SparseRE(terms, schur_max=0, dense_max=0), SparseRE(terms, schur_max=0, dense_max=10**6)]
    assert [v.method for v in variants[1:]] == ["lu", "dense"]
    theta = rng.uniform(0.3, 1.6, size=fast.ntheta)
    if kind == "slope_first":
        theta[1] = -0.4  # an off-diagonal entry of Λ
    w = rng.uniform(0.2, 3.0, size=n)
    Z = _dense_z(terms)
    M = Z @ _dense_lambda(fast, theta)
    A = M.T @ (w[:, None] * M) + np.eye(fast.q)
    logdet = np.linalg.slogdet(A)[1]
    u, r = rng.normal(size=fast.q), rng.normal(size=n)
    X = rng.normal(size=(n, 3))
    rhs = rng.normal(size=(fast.q, 4))
    for s in variants:
        st = s.prepare(theta)
        np.testing.assert_allclose(st.toarray(), M, rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(s.zlam_u(st, u), M @ u, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(s.zlam_t(st, r), M.T @ r, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(s.cross_x(st, w, X), M.T @ (w[:, None] * X), rtol=1e-12, atol=1e-12)
        fac = s.factor(st, w)
        assert fac.logdet == pytest.approx(logdet, rel=1e-12), s.method
        np.testing.assert_allclose(fac.solve(rhs[:, 0]), np.linalg.solve(A, rhs[:, 0]), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fac.solve_mat(rhs), np.linalg.solve(A, rhs), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["nested", "obs_level_nested"])
def test_sparse_schur_rejects_a_non_positive_system(kind: str) -> None:
    # observed-information weights can be negative; the factorisation must refuse, not return NaN
    rng = np.random.default_rng(5)
    terms = _design(kind, rng)
    s = SparseRE(terms)
    st = s.prepare(np.ones(s.ntheta))
    with pytest.raises(np.linalg.LinAlgError):
        s.factor(st, np.full(terms[0][0].size, -5.0))
    # first block positive, the rest of the system not: S has a negative pivot
    w = np.full(terms[0][0].size, 0.5)
    w[::2] = -0.45
    A = st.toarray().T @ (w[:, None] * st.toarray()) + np.eye(s.q)
    assert np.min(np.linalg.eigvalsh(A)) < 0
    with pytest.raises(np.linalg.LinAlgError):
        s.factor(st, w)


# ----------------------------------------------------------------------------- Laplace deviance


def _dense_laplace(y: np.ndarray, X: np.ndarray, Z: np.ndarray, beta: np.ndarray, lam_diag: np.ndarray,
                   family: str) -> float:
    """−2 log-likelihood (Laplace) with dense matrices: Newton for u*, then the formula."""
    M = Z * lam_diag[None, :]
    eta0 = X @ beta
    u = np.zeros(M.shape[1])

    def logf(mu: np.ndarray) -> np.ndarray:
        if family == "poisson":
            return stats.poisson.logpmf(y, mu)
        return stats.bernoulli.logpmf(y, mu)

    for _ in range(100):
        eta = eta0 + M @ u
        mu = np.exp(eta) if family == "poisson" else 1.0 / (1.0 + np.exp(-eta))
        w = mu if family == "poisson" else mu * (1.0 - mu)
        A = M.T @ (w[:, None] * M) + np.eye(u.size)
        step = np.linalg.solve(A, M.T @ (y - mu) - u)
        u = u + step
        if np.max(np.abs(step)) < 1e-13:
            break
    eta = eta0 + M @ u
    mu = np.exp(eta) if family == "poisson" else 1.0 / (1.0 + np.exp(-eta))
    w = mu if family == "poisson" else mu * (1.0 - mu)
    A = M.T @ (w[:, None] * M) + np.eye(u.size)
    return float(-2.0 * np.sum(logf(mu)) + u @ u + np.linalg.slogdet(A)[1])


def _crossed_frame(rng: np.random.Generator) -> pd.DataFrame:
    n = 500
    a, b = rng.integers(0, 150, n), rng.integers(0, 30, n)
    x = rng.normal(size=n)
    eta = -0.2 + 0.6 * x + rng.normal(0, 0.7, 150)[a] + rng.normal(0, 0.5, 30)[b]
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"y": y, "x": x, "a": [f"a{i}" for i in a], "b": [f"b{i}" for i in b]})


def _nested_frame(rng: np.random.Generator) -> pd.DataFrame:
    n = 600
    school, cls = rng.integers(0, 15, n), rng.integers(0, 8, n)
    x = rng.normal(size=n)
    eta = 0.3 + 0.4 * x + rng.normal(0, 0.5, 15)[school] + rng.normal(0, 0.4, 120)[school * 8 + cls]
    return pd.DataFrame(
        {"y": rng.poisson(np.exp(eta)).astype(float), "x": x, "school": school.astype(str), "cls": cls.astype(str)}
    )


@pytest.mark.parametrize("design", ["crossed", "nested"])
def test_laplace_deviance_of_fast_path_equals_lu_and_dense(design: str) -> None:
    rng = np.random.default_rng(11 if design == "crossed" else 12)
    if design == "crossed":
        df, formula, family = _crossed_frame(rng), "y ~ x + (1 | a) + (1 | b)", "binomial"
        first, second = df["a"], df["b"]
        beta, theta = np.array([-0.1, 0.5]), np.array([0.8, 0.45])
    else:
        df, formula, family = _nested_frame(rng), "y ~ x + (1 | school/cls)", "poisson"
        first, second = df["school"] + ":" + df["cls"], df["school"]  # cls:school has more levels: first
        beta, theta = np.array([0.25, 0.35]), np.array([0.35, 0.6])
    fast = glmer_deviance_function(formula, df, family)
    assert fast._m.struct.method == "schur" and fast._m.struct.sparse_schur
    lu = glmer_deviance_function(formula, df, family, options=GLMMOptions(schur_max=0, dense_max=0))
    assert lu._m.struct.method == "lu"
    terms = []
    for g in (first, second):
        codes, levels = pd.factorize(g)
        terms.append((codes, np.ones((len(df), 1)), levels.size))
    Z = _dense_z(terms)
    lam_diag = np.concatenate([np.full(nl, th) for (_, _, nl), th in zip(terms, theta, strict=True)])
    X = np.column_stack([np.ones(len(df)), df["x"].to_numpy()])
    expected = _dense_laplace(df["y"].to_numpy(), X, Z, beta, lam_diag, family)
    assert fast(beta, theta) == pytest.approx(expected, rel=1e-10)
    assert lu(beta, theta) == pytest.approx(expected, rel=1e-10)
    # the θ order matters (the check can fail): swapping the two terms' values changes the deviance
    assert abs(fast(beta, theta[::-1]) - expected) > 1e-3


def test_pirls_polish_makes_the_laplace_deviance_independent_of_the_start() -> None:
    # Started ~3e-11 from the mode, PIRLS passes its decrement test at once; log det A, linear
    # in u, is then still ~1e-10 off unless one more Newton step is taken (pirls polish_tol).
    from reference.glmm_pirls import deviance, pirls

    rng = np.random.default_rng(21)
    df = _crossed_frame(rng)
    f = glmer_deviance_function("y ~ x + (1 | a) + (1 | b)", df, "binomial")
    m = f._m
    beta, theta = np.array([-0.1, 0.5]), np.array([1.2, 0.7])
    state = m.struct.prepare(theta)

    def dev(u0: np.ndarray | None, polish: float) -> float:
        pr = pirls(m.struct, state, m.resp, m.X, beta, u0, 1.0, joint=False, tol=1e-18, maxit=60,
                   polish_tol=polish)
        return deviance(m.struct, state, m.resp, pr, 1.0, 1)

    cold = pirls(m.struct, state, m.resp, m.X, beta, None, 1.0, joint=False, tol=1e-28, maxit=60)
    exact = deviance(m.struct, state, m.resp, cold, 1.0, 1)
    near = cold.u + 3e-11 * rng.standard_normal(cold.u.size)
    assert dev(near, 1e-26) == pytest.approx(exact, abs=1e-11)
    assert abs(dev(near, math.inf) - exact) > 1e-11  # without the polish the start shows through
