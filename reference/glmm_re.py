"""Random-effects structures for the GLMM engine: ``Z Λθ`` and the penalised system.

lme4's parametrisation: ``b = Λθ u`` with ``u ~ N(0, I_q)``; ``Λθ`` is block diagonal with
one lower-triangular ``p×p`` block per level of each term, its entries taken column-wise
from ``θ`` (diagonals bounded below by 0). Each structure offers the operations the
penalised IRLS needs:

* ``zlam_u(lam, u)``     — the linear predictor contribution ``Z Λ u`` (length n);
* ``zlam_t(lam, r)``     — ``Λᵀ Zᵀ r`` (length q);
* ``factor(lam, w)``     — a factorisation of ``A = Λᵀ Zᵀ W Z Λ + I`` with ``solve``,
  ``solve_mat`` and ``logdet``;
* ``cross_x(lam, w, X)`` — ``Λᵀ Zᵀ W X`` (q × p), for the joint (β, u) system of nAGQ = 0.

Two implementations:

* :class:`BlockRE` — one grouping factor. Rows are sorted by cluster, so ``A`` is block
  diagonal with one ``p×p`` block per cluster; everything is vectorised over clusters with
  ``np.add.reduceat`` segment sums and batched small matrices (no Python loop over
  clusters, no sparse matrices). Memory is O(n·p).
* :class:`SparseRE` — several terms (nested, crossed, or several terms on one factor).
  ``Z Λ`` has a fixed sparsity pattern (``width`` entries per row); all index maps are
  computed once and every per-iteration product is a gather or an ``np.bincount`` segment
  sum (no sparse-matrix objects in the iterations). ``A`` is factorised by eliminating the
  first (largest) term, whose part ``A11`` is block diagonal: ``log det A = log det A11 +
  log det S`` with the Schur complement ``S = A22 − A12ᵀ A11⁻¹ A12``. For a scalar first term
  with a sparse ``A12`` (nested factors, observation-level terms) ``S`` is assembled from
  products of the nonzeros of ``A12`` in the same row, and factorised by sparse LU when it is
  sparse itself, by dense Cholesky otherwise (up to ``schur_max`` columns). Dense Cholesky of
  all of ``A`` (``q ≤ dense_max``) and scipy's sparse LU of ``A`` (SuperLU, symmetric
  minimum-degree ordering, diagonal pivots: for an SPD matrix a Cholesky-like ``LDLᵀ``; the
  log-determinant is the sum of ``log U_jj``) are the fall-backs.

BLAS threads: on a machine whose cores are busy, a multi-threaded OpenBLAS makes small dense
products and Cholesky factors 10-100× slower (a 181×181 Cholesky: 66 ms with two threads,
1 ms with one, on the 2-core development machine). :func:`single_threaded_blas` holds BLAS to one
thread during a fit when ``threadpoolctl`` is installed; without it the dense Schur complement is
kept to :data:`UNCONTROLLED_SCHUR_MAX` columns and the sparse products are preferred.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import NDArray

__all__ = [
    "BlockRE",
    "RandomEffects",
    "SparseRE",
    "batched_cholesky",
    "lower_index",
    "single_threaded_blas",
    "theta_lower_bounds",
    "theta_start",
    "theta_to_lambda",
]

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class RandomEffects:
    """Conditional modes ``b = Λ u*`` (DataFrame: levels × columns) and their conditional
    covariance matrices (array levels × p × p), per grouping factor."""

    modes: pd.DataFrame
    condvar: F64


@lru_cache(maxsize=1)
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


#: without a way to hold BLAS to one thread, the dense Schur complement is kept this small
UNCONTROLLED_SCHUR_MAX = 100
#: a Schur complement with more columns than SPARSE_S_MIN and at most this share of nonzeros is
#: factorised as a sparse matrix (nested factors, observation-level terms), up to SPARSE_S_MAX columns
SPARSE_S_DENSITY = 0.1
SPARSE_S_MIN = 64
SPARSE_S_MAX = 20_000


def blas_threads_controllable() -> bool:
    """Whether :func:`single_threaded_blas` can hold BLAS to one thread (threadpoolctl installed)."""
    return _blas_controller() is not None


def single_threaded_blas() -> contextlib.AbstractContextManager[Any]:
    """A context in which BLAS/LAPACK run on one thread (no-op without ``threadpoolctl``).

    The matrices here are small (a few hundred rows at most); a multi-threaded OpenBLAS
    spends far more on waking and synchronising its threads than on the arithmetic, and on a
    machine whose cores are busy that costs 10-100× (measured on 2 loaded cores: a 181×181
    Cholesky 66 ms with threads, 1 ms without; a 500×50 Gram matrix 16 ms vs 0.07 ms).
    lme4 runs single-threaded too.
    """
    ctl = _blas_controller()
    if ctl is None:
        return contextlib.nullcontext()
    return ctl.limit(limits=1, user_api="blas")


@lru_cache(maxsize=32)
def lower_index(p: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Row and column indices of the lower triangle in lme4's column-wise θ order."""
    rows, cols = np.tril_indices(p)
    order = np.lexsort((rows, cols))
    r, c = rows[order], cols[order]
    r.setflags(write=False)
    c.setflags(write=False)
    return r, c


def theta_to_lambda(theta: F64, p: int) -> F64:
    """Lower-triangular ``p×p`` factor filled column-wise from ``theta`` (length p(p+1)/2)."""
    if p == 1:
        return np.reshape(np.asarray(theta, dtype=np.float64), (1, 1))
    lam = np.zeros((p, p))
    r, c = lower_index(p)
    lam[r, c] = theta
    return lam


def theta_lower_bounds(p: int) -> F64:
    """0 for the diagonal entries of Λ, −inf for the off-diagonal ones (column-wise order)."""
    r, c = lower_index(p)
    return np.where(r == c, 0.0, -np.inf)


def theta_start(p: int) -> F64:
    """lme4's start: Λ = I."""
    r, c = lower_index(p)
    return np.where(r == c, 1.0, 0.0)


# --------------------------------------------------------------------------- block case


@dataclass
class BlockFactor:
    """Factor of the block-diagonal ``A`` (clusters × p × p)."""

    chol: F64  # (l, p, p) lower Cholesky factors, or (l,) diagonal when p == 1
    p: int

    @property
    def logdet(self) -> float:
        if self.p == 1:
            return float(np.sum(np.log(self.chol)))
        d = np.diagonal(self.chol, axis1=1, axis2=2)
        return float(2.0 * np.sum(np.log(d)))

    def solve(self, rhs: F64) -> F64:
        if self.p == 1:
            return rhs / self.chol
        r = rhs.reshape(-1, self.p, 1)
        return _chol_solve(self.chol, r).reshape(-1)

    def solve_mat(self, mat: F64) -> F64:
        """Solve ``A X = mat`` for a (q, m) right-hand side."""
        if self.p == 1:
            return mat / self.chol[:, None]
        m = mat.shape[1]
        r = mat.reshape(-1, self.p, m)
        return _chol_solve(self.chol, r).reshape(-1, m)

    def diag_inverse_blocks(self) -> F64:
        """The (l, p, p) blocks of ``A⁻¹`` (conditional covariance of u per cluster)."""
        if self.p == 1:
            return (1.0 / self.chol)[:, None, None]
        eye = np.broadcast_to(np.eye(self.p), self.chol.shape)
        return _chol_solve(self.chol, np.array(eye))


# Small-matrix linear algebra vectorised over the leading (cluster) axis. numpy's batched
# LAPACK wrappers make one call per 2×2 block, which costs more than the arithmetic; the
# loops below run over the p ≤ a-few matrix entries, each step one array operation.


def batched_cholesky(a: F64) -> F64:
    """Lower Cholesky factors of a stack (l, p, p) of SPD matrices.

    Raises:
        np.linalg.LinAlgError: when a block is not positive definite.
    """
    p = a.shape[-1]
    low = np.zeros_like(a)
    for j in range(p):
        d = a[:, j, j] - np.einsum("ik,ik->i", low[:, j, :j], low[:, j, :j])
        if np.any(~(d > 0)):
            raise np.linalg.LinAlgError("a block of the penalised system is not positive definite")
        ljj = np.sqrt(d)
        low[:, j, j] = ljj
        for i in range(j + 1, p):
            low[:, i, j] = (a[:, i, j] - np.einsum("ik,ik->i", low[:, i, :j], low[:, j, :j])) / ljj
    return low


def _chol_solve(low: F64, rhs: F64) -> F64:
    """Solve ``L Lᵀ x = rhs`` per block; ``rhs`` is (l, p, m)."""
    p = low.shape[-1]
    y = np.empty_like(rhs, dtype=np.float64)
    for i in range(p):
        acc = rhs[:, i, :] - np.einsum("ik,ikm->im", low[:, i, :i], y[:, :i, :])
        y[:, i, :] = acc / low[:, i, i][:, None]
    x = np.empty_like(y)
    for i in range(p - 1, -1, -1):
        acc = y[:, i, :] - np.einsum("ki,ikm->im", low[:, i + 1 :, i].T, x[:, i + 1 :, :])
        x[:, i, :] = acc / low[:, i, i][:, None]
    return x


class BlockRE:
    """One grouping factor with ``p`` random-effect columns; rows must be sorted by cluster."""

    kind = "block"

    def __init__(self, Xr: F64, counts: NDArray[np.intp]) -> None:
        self.Xr = np.ascontiguousarray(Xr, dtype=np.float64)
        self.n, self.p = self.Xr.shape
        self.counts = np.asarray(counts, dtype=np.intp)
        self.nlev = self.counts.size
        self.q = self.nlev * self.p
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.intp)
        self.intercept_only = self.p == 1 and bool(np.all(self.Xr[:, 0] == 1.0))
        pairs = [(a, b) for a in range(self.p) for b in range(a, self.p)]
        self._pairs = pairs
        # products x_a x_b for the per-cluster cross-products
        self._xx = np.stack([self.Xr[:, a] * self.Xr[:, b] for a, b in pairs], axis=1)
        self.ntheta = self.p * (self.p + 1) // 2

    def segsum(self, values: F64) -> F64:
        """Per-cluster sums of a length-n (or n × m) array."""
        return np.add.reduceat(values, self.starts, axis=0)

    def expand(self, per_cluster: F64) -> F64:
        """Repeat per-cluster values (l, ...) to rows (n, ...)."""
        return np.repeat(per_cluster, self.counts, axis=0)

    def lam(self, theta: F64) -> F64:
        return theta_to_lambda(np.asarray(theta, dtype=np.float64), self.p)

    def zlam_u(self, lam: F64, u: F64) -> F64:
        if self.p == 1:
            b = self.expand(u * lam[0, 0])
            return b if self.intercept_only else b * self.Xr[:, 0]
        b = u.reshape(-1, self.p) @ lam.T  # (l, p): b_j = Λ u_j
        return np.einsum("ij,ij->i", self.Xr, self.expand(b))

    def zlam_t(self, lam: F64, r: F64) -> F64:
        if self.p == 1:
            s = self.segsum(r if self.intercept_only else r * self.Xr[:, 0])
            return s * lam[0, 0]
        s = self.segsum(r[:, None] * self.Xr)  # (l, p) = Zᵀ r per cluster
        return (s @ lam).reshape(-1)  # Λᵀ s_j as rows: s_j Λ

    def cross_blocks(self, w: F64) -> F64:
        """Per-cluster ``Σ w x xᵀ`` as (l, p, p)."""
        if self.p == 1:
            s = self.segsum(w if self.intercept_only else w * self._xx[:, 0])
            return s[:, None, None]
        sums = self.segsum(w[:, None] * self._xx)
        out = np.empty((self.nlev, self.p, self.p))
        for k, (a, b) in enumerate(self._pairs):
            out[:, a, b] = sums[:, k]
            out[:, b, a] = sums[:, k]
        return out

    def factor(self, lam: F64, w: F64) -> BlockFactor:
        if self.p == 1:
            s = self.segsum(w if self.intercept_only else w * self._xx[:, 0])
            return BlockFactor(1.0 + lam[0, 0] ** 2 * s, 1)
        cb = self.cross_blocks(w)
        a = lam.T @ cb @ lam + np.eye(self.p)
        return BlockFactor(batched_cholesky(a), self.p)

    def cross_x(self, lam: F64, w: F64, X: F64) -> F64:
        """``Λᵀ Zᵀ W X`` as (q, pX)."""
        wx = w[:, None] * X
        if self.p == 1:
            s = self.segsum(wx if self.intercept_only else wx * self.Xr[:, :1])
            return s * lam[0, 0]
        # s[j, a, :] = Σ_i x_ra w_i X_i
        s = np.stack([self.segsum(wx * self.Xr[:, a : a + 1]) for a in range(self.p)], axis=1)
        out = np.einsum("ba,jbk->jak", lam, s)  # Λᵀ s_j
        return out.reshape(self.q, X.shape[1])


# --------------------------------------------------------------------------- sparse case


@dataclass
class DenseFactor:
    cf: tuple
    logdet: float

    def solve(self, rhs: F64) -> F64:
        return sla.cho_solve(self.cf, rhs, check_finite=False)

    def solve_mat(self, mat: F64) -> F64:
        return sla.cho_solve(self.cf, mat, check_finite=False)


@dataclass
class LUFactor:
    lu: spla.SuperLU
    logdet: float

    def solve(self, rhs: F64) -> F64:
        return self.lu.solve(rhs)

    def solve_mat(self, mat: F64) -> F64:
        return self.lu.solve(np.asarray(mat, dtype=np.float64))


@dataclass
class SchurFactor:
    """``A`` factorised by eliminating the block-diagonal first term, ``A12`` held dense."""

    a11: BlockFactor
    b: F64  # A11⁻¹ A12 (q1 × q2)
    cf: tuple  # Cholesky factor of S = A22 − A12ᵀ A11⁻¹ A12 (scipy cho_factor)
    q1: int
    logdet: float

    def solve(self, rhs: F64) -> F64:
        r1, r2 = rhs[: self.q1], rhs[self.q1 :]
        x2 = sla.cho_solve(self.cf, r2 - self.b.T @ r1, check_finite=False)
        x1 = self.a11.solve(r1) - self.b @ x2
        return np.concatenate([x1, x2])

    def solve_mat(self, mat: F64) -> F64:
        r1, r2 = mat[: self.q1], mat[self.q1 :]
        x2 = sla.cho_solve(self.cf, r2 - self.b.T @ r1, check_finite=False)
        x1 = self.a11.solve_mat(r1) - self.b @ x2
        return np.vstack([x1, x2])


@dataclass
class SparseSchurFactor:
    """As :class:`SchurFactor` for a scalar first term, with ``B = A11⁻¹ A12`` kept sparse.

    ``B`` is stored by its nonzeros: entry ``k`` sits at row ``rows[k]``, column ``cols[k]``
    (row-major order, ``indptr`` the row starts), so its products are segment sums.
    """

    a11: F64  # (q1,) diagonal of A11
    rows: NDArray[np.intp]
    cols: NDArray[np.intp]
    indptr: NDArray[np.intp]
    bvals: F64
    cf: tuple | None  # dense Cholesky of S (cho_factor) …
    s_lu: spla.SuperLU | None  # … or sparse LU of S with diagonal pivots
    q1: int
    q2: int
    logdet: float

    def _b_csr(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.bvals, self.cols, self.indptr), shape=(self.q1, self.q2))

    def _s_solve(self, rhs: F64) -> F64:
        if self.s_lu is not None:
            return self.s_lu.solve(np.asarray(rhs, dtype=np.float64))
        return sla.cho_solve(self.cf, rhs, check_finite=False)

    def solve(self, rhs: F64) -> F64:
        r1, r2 = rhs[: self.q1], rhs[self.q1 :]
        bt_r1 = np.bincount(self.cols, self.bvals * r1[self.rows], minlength=self.q2)
        x2 = self._s_solve(r2 - bt_r1)
        x1 = r1 / self.a11 - np.bincount(self.rows, self.bvals * x2[self.cols], minlength=self.q1)
        return np.concatenate([x1, x2])

    def solve_mat(self, mat: F64) -> F64:
        r1, r2 = mat[: self.q1], mat[self.q1 :]
        b = self._b_csr()
        x2 = self._s_solve(r2 - np.asarray(b.T @ r1))
        x1 = r1 / self.a11[:, None] - np.asarray(b @ x2)
        return np.vstack([x1, x2])


class ZLam:
    """``Z Λθ`` on its fixed sparsity pattern: row ``i`` holds ``vals[i, k]`` in column ``cols[i, k]``."""

    def __init__(self, vals: F64, cols: NDArray[np.intp], q: int) -> None:
        self.vals = vals
        self.cols = cols
        self.q = q

    def tocsr(self) -> sp.csr_matrix:
        n, width = self.vals.shape
        indptr = np.arange(0, n * width + 1, width, dtype=np.intp)
        return sp.csr_matrix((self.vals.reshape(-1), self.cols.reshape(-1), indptr), shape=(n, self.q))

    def toarray(self) -> F64:
        return self.tocsr().toarray()


def _pairs_within_rows(indptr: NDArray[np.intp]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """All ordered pairs ``(k, l)`` of entries in the same row of a CSR pattern."""
    counts = np.diff(indptr)
    sq = counts * counts
    total = int(sq.sum())
    row = np.repeat(np.arange(counts.size), sq)
    t = np.arange(total, dtype=np.intp) - np.repeat(np.cumsum(sq) - sq, sq)
    c = counts[row]
    start = indptr[:-1][row]
    return start + t // c, start + t % c


class SparseRE:
    """Several random-effect terms: ``Z Λθ`` with a fixed sparsity pattern.

    All index maps are computed once; per θ only values change, and every product is a gather
    or a segment sum (``np.bincount``), so no sparse-matrix objects are built in the
    iterations. ``A = Λᵀ Zᵀ W Z Λ + I`` is factorised by the first applicable method:

    * ``schur``  — the terms after the first (largest) have at most ``schur_max`` columns
      (at most :data:`UNCONTROLLED_SCHUR_MAX` when BLAS threads cannot be limited):
      the first term's block-diagonal part is eliminated, leaving the dense Schur complement
      ``S = A22 − A12ᵀ A11⁻¹ A12`` (q2 × q2). For a scalar first term whose ``A12`` is sparse
      (nested factors, an observation-level term, sparsely crossed factors) ``A12`` is kept
      by its nonzeros and ``S`` is assembled from products of nonzeros in the same row;
      otherwise ``A12`` is dense and ``S`` is one matrix product. When ``S`` itself is sparse
      (at most :data:`SPARSE_S_DENSITY` nonzero, e.g. an observation-level term over factors
      that are nested in each other) it is factorised by sparse LU, whatever its size up to
      :data:`SPARSE_S_MAX` columns;
    * ``dense``  — ``q ≤ dense_max``: dense Cholesky;
    * ``lu``     — scipy's sparse LU of ``A`` (pattern precomputed).
    """

    kind = "sparse"

    def __init__(
        self,
        terms: list[tuple[NDArray[np.intp], F64, int]],
        dense_max: int = 64,
        schur_max: int = 500,
    ) -> None:
        """``terms``: one ``(codes, Xr, nlevels)`` per term, codes and Xr over the same n rows."""
        self.terms = [(np.asarray(c, np.intp), np.asarray(x, np.float64), int(nl)) for c, x, nl in terms]
        self.n = self.terms[0][0].size
        self.ps = [x.shape[1] for _, x, _ in self.terms]
        self.nlevs = [nl for _, _, nl in self.terms]
        sizes = [p * nl for p, nl in zip(self.ps, self.nlevs, strict=True)]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
        self.q = int(self.offsets[-1])
        self.ntheta_terms = [p * (p + 1) // 2 for p in self.ps]
        self.theta_offsets = np.concatenate([[0], np.cumsum(self.ntheta_terms)]).astype(np.intp)
        self.ntheta = int(self.theta_offsets[-1])
        self.dense_max = dense_max
        width = sum(self.ps)
        cols = np.empty((self.n, width), dtype=np.intp)
        k = 0
        for t, (codes, _x, _nl) in enumerate(self.terms):
            p = self.ps[t]
            for a in range(p):
                cols[:, k] = self.offsets[t] + codes * p + a
                k += 1
        self._cols = cols
        self._col_list = [np.ascontiguousarray(cols[:, k]) for k in range(width)]
        self._width = width
        self.q1 = int(self.offsets[1])
        self.q2 = self.q - self.q1
        self.sparse_schur = False  # A12 kept by its nonzeros
        self.sparse_s = False  # S factorised as a sparse matrix
        if not blas_threads_controllable():
            # a multi-threaded LAPACK Cholesky of a few hundred rows can take 100 ms on busy cores
            schur_max = min(schur_max, UNCONTROLLED_SCHUR_MAX)
        if self._setup_schur(schur_max):
            self.method = "schur"
        elif self.q <= dense_max:
            self.method = "dense"
            self._iaa = (cols[:, :, None] * self.q + cols[:, None, :]).reshape(-1)
        else:
            self.method = "lu"
            self._setup_lu()
        self.schur = self.method == "schur"

    # -- set-up of the factorisations (index maps, once)

    def _setup_schur(self, schur_max: int) -> bool:
        """Index maps for eliminating the first term; False when that does not pay."""
        p1, q2 = self.ps[0], self.q2
        if q2 == 0 or schur_max <= 0 or q2 > max(schur_max, SPARSE_S_MAX) or (p1 > 1 and q2 > schur_max):
            return False
        cols = self._cols
        col2 = cols[:, p1:] - self.q1  # (n, w2) columns of the other terms
        self._i22 = (col2[:, :, None] * q2 + col2[:, None, :]).reshape(-1)
        codes1 = self.terms[0][0]
        a_idx = np.arange(p1)
        row1 = codes1[:, None] * p1 + a_idx[None, :]  # (n, p1)
        key = (row1[:, :, None] * q2 + col2[:, None, :]).reshape(-1)
        uniq, inv = np.unique(key, return_inverse=True)
        rows = (uniq // q2).astype(np.intp)
        indptr = np.searchsorted(rows, np.arange(self.q1 + 1)).astype(np.intp)
        npairs = int(np.sum(np.diff(indptr) ** 2))
        # a gathered product costs ~30 BLAS flops on one thread: with BLAS held to one thread the
        # sparse products are used only when A12 is sparse enough; otherwise (threads uncontrolled,
        # where one dense product can cost 10-100× its single-thread time) whenever they are fewer
        ratio = 32 if blas_threads_controllable() else 1
        if p1 == 1 and npairs <= 5_000_000:
            nz_cols = (uniq % q2).astype(np.intp)
            pk, pl = _pairs_within_rows(indptr)
            ipair = nz_cols[pk] * q2 + nz_cols[pl]
            sparse_s = False
            if q2 > SPARSE_S_MIN:
                # S = A22 − A12ᵀ A11⁻¹ A12 has the nonzeros of A22, of the pairs and the diagonal
                diag = np.arange(q2, dtype=np.intp) * (q2 + 1)
                pattern = np.unique(np.concatenate([self._i22, ipair, diag]))
                sparse_s = pattern.size <= SPARSE_S_DENSITY * q2 * q2
            if not sparse_s and (q2 > schur_max or npairs * ratio >= self.q1 * q2 * q2):
                if q2 > schur_max:
                    return False
            else:
                self.sparse_schur = True
                self._inv12 = inv.reshape(-1).astype(np.intp)
                self._nz_rows = rows
                self._nz_cols = nz_cols
                self._nz_indptr = indptr
                self._pk, self._pl = pk, pl
                self._ipair = ipair
                if sparse_s:
                    # positions in S's pattern (row-major keys = a CSC of the symmetric S)
                    self.sparse_s = True
                    self._s_nnz = pattern.size
                    self._s_i22 = np.searchsorted(pattern, self._i22).astype(np.intp)
                    self._s_ipair = np.searchsorted(pattern, ipair).astype(np.intp)
                    self._s_diag = np.searchsorted(pattern, diag).astype(np.intp)
                    self._s_rows = (pattern % q2).astype(np.intp)
                    self._s_indptr = np.searchsorted(pattern // q2, np.arange(q2 + 1)).astype(np.intp)
                return True
        if q2 > schur_max:
            return False
        self._i11 = (
            codes1[:, None, None] * p1 * p1 + a_idx[None, :, None] * p1 + a_idx[None, None, :]
        ).reshape(-1)
        self._i12 = key
        return True

    def _setup_lu(self) -> None:
        q, cols = self.q, self._cols
        key = (cols[:, None, :] * q + cols[:, :, None]).reshape(-1)  # column-major: col * q + row
        diag = np.arange(q, dtype=np.int64) * (q + 1)
        uniq, inv = np.unique(np.concatenate([key, diag]), return_inverse=True)
        inv = inv.reshape(-1)
        self._lu_inv = inv[: key.size].astype(np.intp)
        self._lu_diag = inv[key.size :].astype(np.intp)
        self._lu_nnz = uniq.size
        self._lu_rows = (uniq % q).astype(np.intp)
        self._lu_indptr = np.searchsorted(uniq // q, np.arange(q + 1)).astype(np.intp)

    # -- per θ

    def lam(self, theta: F64) -> list[F64]:
        theta = np.asarray(theta, dtype=np.float64)
        return [
            theta_to_lambda(theta[self.theta_offsets[t] : self.theta_offsets[t + 1]], p)
            for t, p in enumerate(self.ps)
        ]

    def zlam(self, lams: list[F64]) -> ZLam:
        parts = [
            x * lam[0, 0] if x.shape[1] == 1 else x @ lam
            for (_, x, _), lam in zip(self.terms, lams, strict=True)
        ]
        return ZLam(np.concatenate(parts, axis=1), self._cols, self.q)

    def prepare(self, theta: F64) -> ZLam:
        return self.zlam(self.lam(theta))

    def _state(self, state: ZLam | list[F64]) -> ZLam:
        return state if isinstance(state, ZLam) else self.zlam(state)

    def zlam_u(self, state: ZLam | list[F64], u: F64) -> F64:
        v = self._state(state).vals
        out = v[:, 0] * u[self._col_list[0]]
        for k in range(1, self._width):
            out += v[:, k] * u[self._col_list[k]]
        return out

    def zlam_t(self, state: ZLam | list[F64], r: F64) -> F64:
        return self._col_sums(self._state(state).vals, r)

    def _col_sums(self, v: F64, r: F64) -> F64:
        """``Σ_i v[i, k] r[i]`` into column ``cols[i, k]``: one bincount per entry of a row
        (contiguous index arrays, no (n × width) temporaries)."""
        out = np.bincount(self._col_list[0], v[:, 0] * r, minlength=self.q)
        for k in range(1, self._width):
            out += np.bincount(self._col_list[k], v[:, k] * r, minlength=self.q)
        return out

    def cross_x(self, state: ZLam | list[F64], w: F64, X: F64) -> F64:
        """``Λᵀ Zᵀ W X`` as (q, pX)."""
        v = self._state(state).vals
        out = np.empty((self.q, X.shape[1]))
        for j in range(X.shape[1]):
            out[:, j] = self._col_sums(v, w * X[:, j])
        return out

    def factor(
        self, state: ZLam | list[F64], w: F64
    ) -> DenseFactor | LUFactor | SchurFactor | SparseSchurFactor:
        v = self._state(state).vals
        if self.method == "schur":
            return self._sparse_schur_factor(v, w) if self.sparse_schur else self._schur_factor(v, w)
        prods = (v[:, :, None] * (w[:, None] * v)[:, None, :]).reshape(-1)
        if self.method == "dense":
            a = np.bincount(self._iaa, prods, minlength=self.q * self.q).reshape(self.q, self.q)
            a += np.eye(self.q)
            cf = sla.cho_factor(a, lower=True, check_finite=False)
            return DenseFactor(cf, float(2.0 * np.sum(np.log(np.diag(cf[0])))))
        data = np.bincount(self._lu_inv, prods, minlength=self._lu_nnz)
        data[self._lu_diag] += 1.0
        a = sp.csc_matrix((data, self._lu_rows, self._lu_indptr), shape=(self.q, self.q))
        lu = spla.splu(a, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0)
        return LUFactor(lu, float(np.sum(np.log(np.abs(lu.U.diagonal())))))

    def _a22(self, v2: F64, w: F64) -> F64:
        q2 = self.q2
        prods = (v2[:, :, None] * (w[:, None] * v2)[:, None, :]).reshape(-1)
        a22 = np.bincount(self._i22, prods, minlength=q2 * q2).reshape(q2, q2)
        a22 += np.eye(q2)
        return a22

    def _finish_schur(self, s: F64) -> tuple[tuple, float]:
        cf = sla.cho_factor(s, lower=True, check_finite=False)
        return cf, float(2.0 * np.sum(np.log(np.diag(cf[0]))))

    def _sparse_schur_factor(self, v: F64, w: F64) -> SparseSchurFactor:
        q2 = self.q2
        wv1 = w * v[:, 0]
        v2 = v[:, 1:]
        a11 = 1.0 + np.bincount(self.terms[0][0], wv1 * v[:, 0], minlength=self.q1)
        if not np.all(a11 > 0):  # possible with observed (not Fisher) weights
            raise np.linalg.LinAlgError("a block of the penalised system is not positive definite")
        a12 = np.bincount(self._inv12, (wv1[:, None] * v2).reshape(-1), minlength=self._nz_rows.size)
        bvals = a12 / a11[self._nz_rows]
        pair_prods = a12[self._pk] * bvals[self._pl]
        cf, s_lu = None, None
        if self.sparse_s:
            prods = (v2[:, :, None] * (w[:, None] * v2)[:, None, :]).reshape(-1)
            data = np.bincount(self._s_i22, prods, minlength=self._s_nnz)
            data -= np.bincount(self._s_ipair, pair_prods, minlength=self._s_nnz)
            data[self._s_diag] += 1.0
            s_mat = sp.csc_matrix((data, self._s_rows, self._s_indptr), shape=(q2, q2))
            s_lu = spla.splu(s_mat, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0)
            pivots = s_lu.U.diagonal()
            if not np.all(pivots > 0):  # diagonal pivots of an SPD matrix are positive
                raise np.linalg.LinAlgError("the penalised system is not positive definite")
            logdet_s = float(np.sum(np.log(pivots)))
        else:
            s = self._a22(v2, w)
            s -= np.bincount(self._ipair, pair_prods, minlength=q2 * q2).reshape(q2, q2)
            cf, logdet_s = self._finish_schur(s)
        logdet = float(np.sum(np.log(a11))) + logdet_s
        return SparseSchurFactor(
            a11, self._nz_rows, self._nz_cols, self._nz_indptr, bvals, cf, s_lu, self.q1, q2, logdet
        )

    def _schur_factor(self, v: F64, w: F64) -> SchurFactor:
        p1 = self.ps[0]
        nl1 = self.nlevs[0]
        v1 = v[:, :p1]
        wv1 = w[:, None] * v1
        v2 = v[:, p1:]
        a11 = np.bincount(self._i11, (wv1[:, :, None] * v1[:, None, :]).reshape(-1), minlength=nl1 * p1 * p1)
        a11 = a11.reshape(nl1, p1, p1) + np.eye(p1)
        a12 = np.bincount(self._i12, (wv1[:, :, None] * v2[:, None, :]).reshape(-1), minlength=self.q1 * self.q2)
        a12 = a12.reshape(self.q1, self.q2)
        bf = BlockFactor(a11[:, 0, 0].copy(), 1) if p1 == 1 else BlockFactor(batched_cholesky(a11), p1)
        b = bf.solve_mat(a12)
        s = self._a22(v2, w) - a12.T @ b
        cf, logdet_s = self._finish_schur(s)
        return SchurFactor(bf, b, cf, self.q1, bf.logdet + logdet_s)


def _block_prepare(self: BlockRE, theta: F64) -> F64:
    return self.lam(theta)


BlockRE.prepare = _block_prepare  # type: ignore[attr-defined]
