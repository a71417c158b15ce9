"""Linear mixed models fitted like ``lme4::lmer``: :func:`lmer` and :class:`LMMResult`.

Model (lme4's parametrisation, Bates et al. 2015, JSS 67(1), sections 3.1-3.4)::

    y = offset + X β + Z Λθ u + ε,   u ~ N(0, σ² I_q),   ε ~ N(0, σ² W⁻¹)

with prior weights ``W`` and ``Λθ`` block diagonal, one lower-triangular block per level of
each random-effects term, filled column-wise from θ (diagonal entries ≥ 0). θ is *relative*:
the random-effects covariance of a term is ``σ² Λ Λᵀ``.

**Profiled criterion.** For a given θ, β and u solve the penalised least-squares problem
``min ‖W½(y − offset − Xβ − ZΛu)‖² + ‖u‖²``. With the sufficient statistics ``ZᵀWZ``,
``ZᵀW[X y]`` and ``[X y]ᵀW[X y]`` computed once, each θ needs only

* ``L Lᵀ = Λᵀ ZᵀWZ Λ + I`` (Cholesky; q × q),
* ``R = L⁻¹ Λᵀ ZᵀW[X y]`` and the Schur complement ``S = [X y]ᵀW[X y] − Rᵀ R``,
* the Cholesky factor of ``S`` ((k+1) × (k+1)), whose leading block is lme4's ``RX``
  (``RX RXᵀ = S_XX``), whose last row gives ``β̂`` and whose last diagonal entry squared is the
  penalised weighted residual sum of squares ``r²``;

so one evaluation costs nothing that grows with the number of rows. σ² is profiled out in
closed form (``r²/n`` for ML, ``r²/(n − k)`` for REML) and the criteria are

* ML:   ``d(θ) = log|L|² − Σ log wᵢ + n (1 + log(2π r²/n))``,
* REML: ``d_R(θ) = log|L|² + log|RX|² − Σ log wᵢ + (n−k)(1 + log(2π r²/(n−k)))``,

minimised over θ only (bounded: diagonal entries ≥ 0).

**Structures** (chosen automatically):

* one grouping factor (one term, or several terms on the same factor such as
  ``(Days || Subject)``): rows are grouped by level and ``ZᵀWZ`` is block diagonal with one
  ``p × p`` block per level — everything is batched small-matrix algebra over the levels, no
  sparse matrices;
* several grouping factors (crossed, nested): ``ZᵀWZ`` is a scipy sparse matrix; ``Λᵀ ZᵀWZ Λ + I``
  is factorised by a dense Cholesky when q ≤ ``dense_max``, otherwise by eliminating the first
  (largest) term, whose block is block diagonal, when the remaining terms have at most
  ``schur_max`` columns, otherwise by scipy's sparse LU (SuperLU with a symmetric ordering and
  diagonal pivoting, i.e. an LDLᵀ in disguise; CHOLMOD is not available).

**Optimiser.** θ has few entries. With one grouping factor the criterion's gradient is exact
(closed form from the per-level blocks, see :meth:`_BlockLMM.gradient_parts`) and a projected
quasi-Newton method runs on it (first Hessian by forward differences of the gradient, then BFGS
updates); with several factors a projected Newton method uses central finite-difference
Hessians (BFGS updates between them when θ has 4 or more entries). Both stop at a Newton
decrement of ~1e-17 relative, far tighter than lme4's default BOBYQA (``ftol_abs = 1e-8``):
the criterion matches lme4 run with a tight optimizer to ~1e-12 and θ to ~1e-6 (the criterion
is flat along θ). A diagonal θ that ends at its bound 0 is accepted only if probes at interior
values do not lower the criterion (the criterion is even in each column of Λ, so its slope
there is 0 whether or not 0 is a minimum), and a diagonal θ a rounding error from 0 is set to 0.

**BLAS threads.** The dense pieces are small or medium matrices, for which a multi-threaded
OpenBLAS on busy cores is slower than one thread (a 1156 × 1156 Cholesky: 0.13 s with 2
threads, 0.04 s with 1 on this 2-core machine under load). ``LMMOptions.blas_threads`` (default
1) limits BLAS through threadpoolctl during the fit and restores it afterwards (``None`` leaves
it alone); it changes process-wide state meanwhile, so other threads running
BLAS at the same moment are limited too.

**Relation to** :func:`reference.glmm.glmer` ``(family="gaussian")``: that fits the same ML model by
the general Laplace route (β, θ, σ jointly); the ML fit here reaches the same optimum, faster.
Standard errors differ in kind: lme4 (and this module) report ``σ² S_XX⁻¹``, conditional on θ.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike, NDArray
from scipy.linalg.lapack import dpotrf, dtrtri, dtrtrs
from threadpoolctl import threadpool_limits

from reference.errors import (
    ConvergenceError,
    ConvergenceWarning,
    DesignMatrixError,
    InvalidResponseError,
    ModelInputError,
)
from reference.families import Family, get_family
from reference.glmm_formula import (
    GLMMDesign,
    GroupingFactorError,
    RandomTerm,
    build_design,
    group_columns,
    group_labels,
    parse_formula,
)
from reference.glmm_inputs import column_or_array, term_keys
from reference.glmm_optim import bfgs_update, fd_hessian_at
from reference.glmm_options import with_overrides
from reference.glmm_re import (
    RandomEffects,
    batched_cholesky,
    lower_index,
    single_threaded_blas,
    theta_lower_bounds,
    theta_start,
    theta_to_lambda,
)
from reference.links import Link

__all__ = ["LMMOptions", "LMMResult", "lmer", "lmer_criterion"]  # glmer_gaussian: see __getattr__

F64 = NDArray[np.float64]
LOG_2PI = math.log(2.0 * math.pi)


@contextmanager
def _blas_threads(n: int | None) -> Iterator[None]:
    """Limit BLAS to ``n`` threads inside the block (None: leave it alone); threadpoolctl restores
    the previous settings on exit, also when the block raises."""
    if n is None:
        yield
        return
    if n == 1:  # the engine's one way, shared with glmer
        with single_threaded_blas():
            yield
        return
    with threadpool_limits(limits=int(n), user_api="blas"):
        yield


@dataclass(frozen=True, kw_only=True)
class LMMOptions:
    """All tolerances of :func:`lmer` in one place (keyword-only)."""

    maxiter: int = 200  # Newton iterations
    xtol: float = 1e-10  # stop when every θ step is below this (relative to max(|θ|, 1))
    ftol: float = 1e-13  # … or the criterion falls by less than this (relative) with a small step
    noise_tol: float = 1e-11  # exact gradient: a step promising less than this (relative) is taken on the gradient's word
    dec_tol: float = 1e-17  # … or the Newton decrement gᵀH⁻¹g (≈ 2 × what is left to gain) is below this (relative)
    hessian_step: float = 1e-4  # step of the finite-difference Hessian, × max(|θ|, 0.1)
    gradient_hessian_step: float = 1e-6  # … of the Hessian from exact gradients (one grouping factor)
    exact_gradient: bool = True  # one grouping factor: exact gradient (else finite differences)
    bfgs_min_dim: int = 4  # finite differences with this many θ or more: BFGS updates between Hessians …
    bfgs_polish: float = 1e-3  # … while the steps are larger than this (relative); Newton below
    singular_tol: float = 1e-4  # lme4's boundary tolerance: a diagonal θ below this is "singular"
    boundary_probes: tuple[float, ...] = (1e-3, 0.1, 0.5, 1.0)  # interior probes of a θ at 0
    boundary_restarts: int = 3
    blas_threads: int | None = 1  # BLAS threads during the fit (None: leave as is); see below
    dense_max: int = 40  # several factors: dense Cholesky of Λᵀ ZᵀWZ Λ + I up to this q, else …
    schur_max: int = 400  # … block elimination of the first term when the others have ≤ this many columns
    schur_sparse_max: int = 2000  # … (scalar terms: with a sparse A12) up to this many; sparse LU beyond


# ----------------------------------------------------------------------------- structures


@dataclass
class _Eval:
    """Everything one θ gives: the Cholesky factor of the Schur complement and log|L|²."""

    theta: F64
    ldL2: float
    ls: F64  # lower Cholesky factor of S ((k+1) × (k+1))
    factor: Any  # structure-specific factor, for u and conditional variances


def _tri_solve(low: F64, rhs: F64, trans: bool = False) -> F64:
    """Solve ``L x = rhs`` (or ``Lᵀ x = rhs``) for a dense lower-triangular ``L`` (LAPACK trtrs;
    numpy's general solve would factorise L again)."""
    x, info = dtrtrs(low, rhs, lower=1, trans=1 if trans else 0)
    if info != 0:
        raise np.linalg.LinAlgError("singular triangular factor")
    return x


def _fwd_batched(low: F64, rhs: F64) -> F64:
    """Solve ``L x = rhs`` for a stack of lower-triangular (l, p, p) and rhs (l, p, m)."""
    p = low.shape[-1]
    x = np.empty_like(rhs)
    for i in range(p):
        acc = rhs[:, i, :] - np.einsum("ik,ikm->im", low[:, i, :i], x[:, :i, :])
        x[:, i, :] = acc / low[:, i, i][:, None]
    return x


def _bwd_batched(low: F64, rhs: F64) -> F64:
    """Solve ``Lᵀ x = rhs`` for a stack of lower-triangular (l, p, p) and rhs (l, p, m)."""
    p = low.shape[-1]
    x = np.empty_like(rhs)
    for i in range(p - 1, -1, -1):
        acc = rhs[:, i, :] - np.einsum("ki,ikm->im", low[:, i + 1 :, i].T, x[:, i + 1 :, :])
        x[:, i, :] = acc / low[:, i, i][:, None]
    return x


class _BlockLMM:
    """One grouping factor: per-level ``p×p`` blocks of ZᵀWZ, ``p×(k+1)`` blocks of ZᵀW[X y].

    ``term_ps`` lists the terms on this factor (``(Days || g)`` gives two terms of one column);
    Λ of a level is block diagonal with one block per term.
    """

    def __init__(self, Zs: F64, XYs: F64, counts: NDArray[np.intp], term_ps: list[int]) -> None:
        self.p = Zs.shape[1]
        self.m = XYs.shape[1]
        self.nlev = counts.size
        self.q = self.nlev * self.p
        self.term_ps = term_ps
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
        n = Zs.shape[0]
        p, m = self.p, self.m
        if p == 1:
            self.a = np.add.reduceat(Zs[:, 0] ** 2, starts)
            self.b = np.add.reduceat(Zs[:, :1] * XYs, starts, axis=0)  # (l, m)
        else:
            zz = (Zs[:, :, None] * Zs[:, None, :]).reshape(n, p * p)
            self.a = np.add.reduceat(zz, starts, axis=0).reshape(self.nlev, p, p)
            zx = (Zs[:, :, None] * XYs[:, None, :]).reshape(n, p * m)
            self.b = np.add.reduceat(zx, starts, axis=0).reshape(self.nlev, p, m)
        offs = np.cumsum([0, *[q * (q + 1) // 2 for q in term_ps]])
        self._theta_slices = [slice(int(offs[i]), int(offs[i + 1])) for i in range(len(term_ps))]
        # (row, column) in the level's Λ block of every θ entry, for the gradient
        rs, cs = [], []
        base = 0
        for q in term_ps:
            r, c = lower_index(q)
            rs.append(r + base)
            cs.append(c + base)
            base += q
        self._theta_rc = (np.concatenate(rs), np.concatenate(cs))

    has_gradient = True

    def lam(self, theta: F64) -> F64:
        if len(self.term_ps) == 1:
            return theta_to_lambda(theta, self.p)
        return sla.block_diag(*[theta_to_lambda(theta[s], q) for s, q in zip(self._theta_slices, self.term_ps, strict=True)])

    def evaluate(self, theta: F64, C: F64) -> tuple[float, F64, Any]:
        """log|L|², S = C − RᵀR and the per-level factor."""
        lam = self.lam(theta)
        if self.p == 1:
            lv = float(lam[0, 0])
            t = 1.0 + lv * lv * self.a
            r = self.b * (lv / np.sqrt(t))[:, None]
            return float(np.log(t).sum()), C - r.T @ r, (lv, t)
        if self.p == 2:
            # closed form of the 2×2 blocks: fewer array operations than the general loops
            l00, l10, l11 = float(lam[0, 0]), float(lam[1, 0]), float(lam[1, 1])
            a00, a01, a11 = self.a[:, 0, 0], self.a[:, 0, 1], self.a[:, 1, 1]
            t00 = 1.0 + l00 * l00 * a00 + 2.0 * l00 * l10 * a01 + l10 * l10 * a11
            t01 = l11 * (l00 * a01 + l10 * a11)
            t11 = 1.0 + l11 * l11 * a11
            c00 = np.sqrt(t00)
            c10 = t01 / c00
            d11 = t11 - c10 * c10
            if np.any(~(d11 > 0)):
                raise np.linalg.LinAlgError("a block of the penalised system is not positive definite")
            c11 = np.sqrt(d11)
            b0, b1 = self.b[:, 0, :], self.b[:, 1, :]
            r0 = (l00 * b0 + l10 * b1) / c00[:, None]
            r1 = (l11 * b1 - c10[:, None] * r0) / c11[:, None]
            low = np.zeros((self.nlev, 2, 2))
            low[:, 0, 0], low[:, 1, 0], low[:, 1, 1] = c00, c10, c11
            ld = 2.0 * float(np.log(c00 * c11).sum())
            return ld, C - r0.T @ r0 - r1.T @ r1, (lam, low, (t00, t01, t11))
        t = lam.T @ self.a @ lam
        t[:, np.arange(self.p), np.arange(self.p)] += 1.0
        low = batched_cholesky(t)
        r = _fwd_batched(low, lam.T @ self.b)
        s = C - np.einsum("lpa,lpb->ab", r, r)
        ld = 2.0 * float(np.log(np.diagonal(low, axis1=1, axis2=2)).sum())
        return ld, s, (lam, low)

    def gradient_parts(self, factor: Any, coef: F64, sxx_inv: F64) -> tuple[F64, F64, F64]:
        """Derivatives along θ of log|L|², of r² and of log|RX|² (exact, per θ entry).

        With T = ΛᵀAΛ + I, M = ΛᵀB, G = T⁻¹M, K = B − AΛG (per level) and ∂Λ/∂θⱼ = e_r e_cᵀ:
        ∂ log|T| = 2 Σ (T⁻¹ΛᵀA)[c, r]; ∂S = −Σ (K_rᵀ G_c + G_cᵀ K_r); then ∂r² = coefᵀ ∂S coef
        (β is optimal) and ∂ log|S_XX| = tr(S_XX⁻¹ ∂S_XX).
        """
        k = sxx_inv.shape[0]
        r_idx, c_idx = self._theta_rc
        if self.p == 1:
            lv, t = factor
            bc = self.b @ coef
            g_ld = np.array([2.0 * lv * float((self.a / t).sum())])
            g_r2 = np.array([-2.0 * lv * float((bc * bc / (t * t)).sum())])
            bx = self.b[:, :k] / t[:, None]  # K = b/T, G = λ b/T
            g_rx = np.array([-2.0 * lv * float(np.einsum("la,ab,lb->", bx, sxx_inv, self.b[:, :k] / t[:, None]))])
            return g_ld, g_r2, g_rx
        if self.p == 2:
            return self._gradient_parts2(factor, coef, sxx_inv)
        lam, low = factor[:2]
        # W = T⁻¹ΛᵀA, G = T⁻¹ΛᵀB (per level), via the Cholesky factors
        lta = lam.T @ self.a
        w = _bwd_batched(low, _fwd_batched(low, lta))
        g = _bwd_batched(low, _fwd_batched(low, lam.T @ self.b))
        kk = self.b - self.a @ lam @ g
        g_ld = 2.0 * w.sum(axis=0)[c_idx, r_idx]
        kc = kk @ coef
        gc = g @ coef
        g_r2 = -2.0 * np.einsum("lr,lc->rc", kc, gc)[r_idx, c_idx]
        g_rx = -2.0 * np.einsum("lra,ab,lcb->rc", kk[:, :, :k], sxx_inv, g[:, :, :k])[r_idx, c_idx]
        return g_ld, g_r2, g_rx

    def _gradient_parts2(self, factor: Any, coef: F64, sxx_inv: F64) -> tuple[F64, F64, F64]:
        """:meth:`gradient_parts` for 2×2 blocks in closed form (explicit T⁻¹ per level)."""
        lam, _low, (t00, t01, t11) = factor
        k = sxx_inv.shape[0]
        l00, l10, l11 = float(lam[0, 0]), float(lam[1, 0]), float(lam[1, 1])
        a00, a01, a11 = self.a[:, 0, 0], self.a[:, 0, 1], self.a[:, 1, 1]
        det = t00 * t11 - t01 * t01
        i00, i01, i11 = t11 / det, -t01 / det, t00 / det
        # ΛᵀA per level, then the entries of W = T⁻¹ΛᵀA that θ needs: W[0,0], W[0,1], W[1,1]
        x00, x01 = l00 * a00 + l10 * a01, l00 * a01 + l10 * a11
        x10, x11 = l11 * a01, l11 * a11
        w00 = i00 * x00 + i01 * x10
        w01 = i00 * x01 + i01 * x11
        w11 = i01 * x01 + i11 * x11
        wsum = {(0, 0): w00.sum(), (0, 1): w01.sum(), (1, 1): w11.sum()}
        b0, b1 = self.b[:, 0, :], self.b[:, 1, :]
        m0, m1 = l00 * b0 + l10 * b1, l11 * b1
        g0 = i00[:, None] * m0 + i01[:, None] * m1
        g1 = i01[:, None] * m0 + i11[:, None] * m1
        lg0, lg1 = l00 * g0, l10 * g0 + l11 * g1
        k0 = b0 - a00[:, None] * lg0 - a01[:, None] * lg1
        k1 = b1 - a01[:, None] * lg0 - a11[:, None] * lg1
        kc = (k0 @ coef, k1 @ coef)
        gc = (g0 @ coef, g1 @ coef)
        kp = (k0[:, :k] @ sxx_inv, k1[:, :k] @ sxx_inv)
        gx = (g0[:, :k], g1[:, :k])
        # (row, column) of θ's entries in Λ: (0,0), (1,0), (1,1) for one 2×2 term, (0,0), (1,1)
        # for two scalar terms on the same factor
        pairs = list(zip(self._theta_rc[0].tolist(), self._theta_rc[1].tolist(), strict=True))
        g_ld = np.array([2.0 * float(wsum[(c, r)]) for r, c in pairs])
        g_r2 = np.array([-2.0 * float(kc[r] @ gc[c]) for r, c in pairs])
        g_rx = np.array([-2.0 * float(np.einsum("la,la->", kp[r], gx[c])) for r, c in pairs])
        return g_ld, g_r2, g_rx

    def modes(self, factor: Any, coef: F64) -> F64:
        """u = (LLᵀ)⁻¹ Λᵀ ZᵀW(y − Xβ), as (levels, p); ``coef`` = (−β, 1)."""
        if self.p == 1:
            lv, t = factor
            return ((self.b @ coef) * lv / t)[:, None]
        lam, low = factor[:2]
        rhs = (lam.T @ self.b) @ coef  # (l, p)
        y = _fwd_batched(low, rhs[:, :, None])
        return _bwd_batched(low, y)[:, :, 0]

    def condvar(self, factor: Any) -> F64:
        """Blocks (levels, p, p) of (LLᵀ)⁻¹ = Var(u | y) / σ²."""
        if self.p == 1:
            return (1.0 / factor[1])[:, None, None]
        low = factor[1]
        eye = np.broadcast_to(np.eye(self.p), low.shape).copy()
        return _bwd_batched(low, _fwd_batched(low, eye))


@dataclass
class _SchurFactor:
    l1: F64  # (l1, p1, p1) Cholesky blocks of the first term, or (l1,) for p1 == 1
    f: Any  # L1⁻¹ Λ1ᵀ A12 Λ2 (q1 × q2; dense, or CSR for scalar terms with many columns)
    l22: F64  # dense Cholesky of Λ2ᵀ A22 Λ2 + I − Fᵀ F
    q1: int
    p1: int


class _SparseLMM:
    """Several grouping factors: ZᵀWZ (q × q), ZᵀW[X y] (q × (k+1)), computed once.

    Per θ, small problems use dense algebra (numpy only: scipy's BLAS calls cost milliseconds
    on a machine with oversubscribed OpenBLAS threads); the first term is eliminated when the
    others have few columns; sparse LU otherwise.
    """

    def __init__(self, terms: list[RandomTerm], sw: F64, XYs: F64, opts: LMMOptions) -> None:
        n = sw.size
        self.ps = [t.p for t in terms]
        self.nlevs = [t.nlevels for t in terms]
        sizes = [p * nl for p, nl in zip(self.ps, self.nlevs, strict=True)]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
        self.q = int(self.offsets[-1])
        width = sum(self.ps)
        cols = np.empty((n, width), dtype=np.intp)
        vals = np.empty((n, width))
        k = 0
        for i, t in enumerate(terms):
            for a in range(t.p):
                cols[:, k] = self.offsets[i] + t.codes * t.p + a
                vals[:, k] = t.Xr[:, a] * sw
                k += 1
        z = sp.csr_matrix(
            (vals.reshape(-1), cols.reshape(-1), np.arange(0, n * width + 1, width)), shape=(n, self.q)
        )
        A = (z.T @ z).tocsr()
        A.sum_duplicates()
        self.B = np.asarray(z.T @ XYs)
        # Λ pattern: one lower-triangular block per level of each term, θ entries column-wise
        rows_l, cols_l, tix = [], [], []
        th_off = 0
        for i, (p, nl) in enumerate(zip(self.ps, self.nlevs, strict=True)):
            r, c = lower_index(p)
            base = self.offsets[i] + np.arange(nl)[:, None] * p
            rows_l.append((base + r[None, :]).reshape(-1))
            cols_l.append((base + c[None, :]).reshape(-1))
            tix.append(np.tile(np.arange(r.size) + th_off, nl))
            th_off += r.size
        self._lrows = np.concatenate(rows_l)
        self._lcols = np.concatenate(cols_l)
        self._tix = np.concatenate(tix)
        self.q1 = int(self.offsets[1])
        self.q2 = self.q - self.q1
        self.p1 = self.ps[0]
        self.nl1 = self.nlevs[0]
        if self.q <= opts.dense_max:
            self.method = "dense"
            self.A = A.toarray()
            self._eye = np.eye(self.q)
        elif (self.q2 <= opts.schur_max and self.q1 * self.q2 <= 4_000_000) or (
            self.q2 <= opts.schur_sparse_max and self.p1 == 1 and all(p == 1 for p in self.ps[1:])
        ):
            self.method = "schur"
            p1, nl1, q1 = self.p1, self.nl1, self.q1
            sub = A[:q1, :q1].tocoo()
            blocks = np.zeros((nl1, p1, p1))
            blocks[sub.row // p1, sub.row % p1, sub.col % p1] = sub.data
            self.a11 = blocks[:, 0, 0].copy() if p1 == 1 else blocks
            a12 = A[:q1, q1:].tocsr()
            # many columns after the first term: keep A12 sparse (scalar terms only)
            self.sparse12 = not (self.q2 <= opts.schur_max and self.q1 * self.q2 <= 4_000_000)
            if self.sparse12:
                a12.sort_indices()
                self.a12 = a12
                self._a12_rows = np.repeat(np.arange(q1), np.diff(a12.indptr))
            else:
                self.a12 = a12.toarray()
            self.a22 = A[q1:, q1:].toarray()
            self._eye2 = np.eye(self.q2)
            self.scalar2 = all(p == 1 for p in self.ps[1:])
            if self.scalar2:  # Λ₂ is diagonal: θ index of each of its diagonal entries, in row order
                self._tix2 = self._tix[self._lrows >= q1]
        else:
            self.method = "splu"
            self.A = A

    def lam_dense(self, theta: F64, lo: int = 0) -> F64:
        """Λ as a dense matrix, rows and columns from ``lo`` on."""
        keep = self._lrows >= lo
        out = np.zeros((self.q - lo, self.q - lo))
        out[self._lrows[keep] - lo, self._lcols[keep] - lo] = theta[self._tix[keep]]
        return out

    def lam_sparse(self, theta: F64) -> sp.csr_matrix:
        return sp.csr_matrix((theta[self._tix], (self._lrows, self._lcols)), shape=(self.q, self.q))

    def evaluate(self, theta: F64, C: F64) -> tuple[float, F64, Any]:
        if self.method == "dense":
            lam = self.lam_dense(theta)
            t = lam.T @ self.A @ lam + self._eye
            low = np.linalg.cholesky(t)
            r = _tri_solve(low, lam.T @ self.B)
            ld = 2.0 * float(np.log(np.diag(low)).sum())
            return ld, C - r.T @ r, ("dense", lam, low)
        if self.method == "schur":
            return self._evaluate_schur(theta, C)
        lam = self.lam_sparse(theta)
        m_ = np.asarray(lam.T @ self.B)
        t = (lam.T @ self.A @ lam).tocsc() + sp.identity(self.q, format="csc")
        lu = spla.splu(t, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        d = lu.U.diagonal()
        if np.any(~(d > 0)):
            raise np.linalg.LinAlgError("the penalised system is not positive definite")
        x = lu.solve(m_)
        return float(np.log(d).sum()), C - m_.T @ x, ("splu", lam, lu)

    def _evaluate_schur(self, theta: F64, C: F64) -> tuple[float, F64, Any]:
        # products over the q1 rows use einsum (one C loop) instead of BLAS: a multi-threaded
        # OpenBLAS on busy cores took 7 ms for a 500 × 40 Gram matrix that einsum forms in 0.8 ms
        q1, p1, nl1 = self.q1, self.p1, self.nl1
        lam1 = theta_to_lambda(theta[: p1 * (p1 + 1) // 2], p1)
        if self.scalar2:
            d2 = theta[self._tix2]  # the diagonal of Λ₂, without building it
        else:
            lam2 = self.lam_dense(theta, q1)
        if self.sparse12:
            # scalar terms only: Λ is diagonal, F = diag(λ₁/l₁) A12 diag(λ₂) has A12's pattern
            l1v = float(lam1[0, 0])
            t1 = 1.0 + l1v * l1v * self.a11
            low1 = np.sqrt(t1)
            scale = l1v / low1
            a12 = self.a12
            f = sp.csr_matrix(
                (a12.data * scale[self._a12_rows] * d2[a12.indices], a12.indices, a12.indptr), shape=a12.shape
            )
            r1 = self.B[:q1] * scale[:, None]
            s22 = self.a22 * np.outer(d2, d2) + self._eye2 - (f.T @ f).toarray()
            low22 = np.linalg.cholesky(s22)
            m2 = d2[:, None] * self.B[q1:]
            r2 = _tri_solve(low22, m2 - np.asarray(f.T @ r1))
            ld = float(np.log(t1).sum()) + 2.0 * float(np.log(np.diag(low22)).sum())
            s = C - np.einsum("ia,ib->ab", r1, r1) - r2.T @ r2
            return ld, s, ("schur", theta.copy(), _SchurFactor(low1, f, low22, q1, p1))
        if self.scalar2:
            a12l = self.a12 * d2[None, :]
            s22 = self.a22 * np.outer(d2, d2) + self._eye2
            m2 = d2[:, None] * self.B[q1:]
        else:
            a12l = np.einsum("ij,jk->ik", self.a12, lam2)
            s22 = lam2.T @ self.a22 @ lam2 + self._eye2
            m2 = lam2.T @ self.B[q1:]
        if p1 == 1:
            l1v = float(lam1[0, 0])
            t1 = 1.0 + l1v * l1v * self.a11
            low1 = np.sqrt(t1)
            scale = l1v / low1
            f = a12l * scale[:, None]
            r1 = self.B[:q1] * scale[:, None]
            ld1 = float(np.log(t1).sum())
        else:
            t1 = lam1.T @ self.a11 @ lam1
            t1[:, np.arange(p1), np.arange(p1)] += 1.0
            low1 = batched_cholesky(t1)
            f = _fwd_batched(low1, lam1.T @ a12l.reshape(nl1, p1, self.q2)).reshape(q1, self.q2)
            r1 = _fwd_batched(low1, lam1.T @ self.B[:q1].reshape(nl1, p1, -1)).reshape(q1, -1)
            ld1 = 2.0 * float(np.log(np.diagonal(low1, axis1=1, axis2=2)).sum())
        s22 = s22 - np.einsum("ia,ib->ab", f, f)
        low22 = np.linalg.cholesky(s22)
        r2 = _tri_solve(low22, m2 - np.einsum("ia,ib->ab", f, r1))
        ld = ld1 + 2.0 * float(np.log(np.diag(low22)).sum())
        s = C - np.einsum("ia,ib->ab", r1, r1) - r2.T @ r2
        return ld, s, ("schur", theta.copy(), _SchurFactor(low1, f, low22, q1, p1))

    def _solve(self, factor: Any, rhs: F64) -> F64:
        """Solve (Λᵀ ZᵀWZ Λ + I) x = rhs (rhs q × m)."""
        kind, _lam, fac = factor
        if kind == "dense":
            return _tri_solve(fac, _tri_solve(fac, rhs), trans=True)
        if kind == "splu":
            return fac.solve(np.asarray(rhs, dtype=np.float64))
        q1, p1 = fac.q1, fac.p1
        m = rhs.shape[1]
        if p1 == 1:
            y1 = rhs[:q1] / fac.l1[:, None]
        else:
            y1 = _fwd_batched(fac.l1, rhs[:q1].reshape(-1, p1, m)).reshape(q1, m)
        if sp.issparse(fac.f):
            y2 = _tri_solve(fac.l22, rhs[q1:] - np.asarray(fac.f.T @ y1))
            x2 = _tri_solve(fac.l22, y2, trans=True)
            z1 = y1 - np.asarray(fac.f @ x2)
        else:
            y2 = _tri_solve(fac.l22, rhs[q1:] - np.einsum("ia,ib->ab", fac.f, y1))
            x2 = _tri_solve(fac.l22, y2, trans=True)
            z1 = y1 - np.einsum("ia,ab->ib", fac.f, x2)
        if p1 == 1:
            x1 = z1 / fac.l1[:, None]
        else:
            x1 = _bwd_batched(fac.l1, z1.reshape(-1, p1, m)).reshape(q1, m)
        return np.vstack([x1, x2])

    @property
    def has_gradient(self) -> bool:
        """Exact gradient available: scalar terms only, dense or block-elimination solver."""
        return all(p == 1 for p in self.ps) and self.method in ("dense", "schur")

    def _a_times(self, v: F64) -> F64:
        """ZᵀWZ @ v for a (q, m) array."""
        if self.method == "schur":
            q1 = self.q1
            top = self.a11[:, None] * v[:q1] + np.asarray(self.a12 @ v[q1:])
            bottom = np.asarray(self.a12.T @ v[:q1]) + self.a22 @ v[q1:]
            return np.vstack([top, bottom])
        return np.asarray(self.A @ v)

    def _tinv_diag(self, factor: Any) -> F64:
        """Diagonal of (ΛᵀZᵀWZΛ + I)⁻¹ (scalar terms)."""
        kind, _lam, fac = factor
        if kind == "dense":
            linv = dtrtri(fac, lower=1)[0]
            return np.einsum("ki,ki->i", linv, linv)
        l22inv = dtrtri(fac.l22, lower=1)[0]
        d2 = np.einsum("ki,ki->i", l22inv, l22inv)  # diag of S22⁻¹ = L22⁻ᵀ L22⁻¹
        y = np.asarray(fac.f @ l22inv.T)  # rows: F_i L22⁻ᵀ
        t1 = fac.l1 * fac.l1
        d1 = (1.0 + np.einsum("ia,ia->i", y, y)) / t1
        return np.concatenate([d1, d2])

    def gradient_parts(self, factor: Any, coef: F64, sxx_inv: F64, theta: F64) -> tuple[F64, F64, F64]:
        """Derivatives along θ of log|L|², r² and log|RX|² for scalar terms (Λ = diag(d)).

        diag(T⁻¹ΛA)ᵢ = (1 − (T⁻¹)ᵢᵢ)/dᵢ (from ΛAΛ = T − I); G = T⁻¹ΛB, K = B − AΛG; each θ sums
        its rows i: ∂ log|T| = 2 Σ diag(T⁻¹ΛA)ᵢ, ∂r² = −2 Σ (Kᵢ·c)(Gᵢ·c), ∂ log|S_XX| = −2 Σ Kᵢ P Gᵢᵀ.
        """
        k = sxx_inv.shape[0]
        d = theta[self._tix]
        g = self._solve(factor, d[:, None] * self.B)
        kk = self.B - self._a_times(d[:, None] * g)
        tinv = self._tinv_diag(factor)
        with np.errstate(divide="ignore", invalid="ignore"):
            ld = np.where(d != 0.0, (1.0 - tinv) / d, 0.0)
        nt = theta.size
        g_ld = 2.0 * np.bincount(self._tix, weights=ld, minlength=nt)
        g_r2 = -2.0 * np.bincount(self._tix, weights=(kk @ coef) * (g @ coef), minlength=nt)
        rx = np.einsum("ia,ia->i", kk[:, :k] @ sxx_inv, g[:, :k])
        g_rx = -2.0 * np.bincount(self._tix, weights=rx, minlength=nt)
        return g_ld, g_r2, g_rx

    def modes(self, factor: Any, coef: F64) -> F64:
        lam = self.lam_sparse(factor[1]) if factor[0] == "schur" else factor[1]
        rhs = np.asarray(lam.T @ (self.B @ coef)).reshape(-1)
        return self._solve(factor, rhs[:, None])[:, 0]

    def condvar_blocks(self, factor: Any) -> list[F64]:
        """Per-term (levels, p, p) diagonal blocks of (Λᵀ ZᵀWZ Λ + I)⁻¹."""
        out = []
        for i, (p, nl) in enumerate(zip(self.ps, self.nlevs, strict=True)):
            blocks = np.empty((nl, p, p))
            start = int(self.offsets[i])
            chunk = max(1, 256 // p)
            for lo in range(0, nl, chunk):
                hi = min(nl, lo + chunk)
                cols = np.arange(start + lo * p, start + hi * p)
                e = np.zeros((self.q, cols.size))
                e[cols, np.arange(cols.size)] = 1.0
                sol = self._solve(factor, e)[cols, :]
                for j in range(hi - lo):
                    blocks[lo + j] = sol[j * p : (j + 1) * p, j * p : (j + 1) * p]
            out.append(blocks)
        return out


# ----------------------------------------------------------------------------- the model


def _rank_deficient(xtx: F64) -> bool:
    """True when the columns of X are (numerically) linearly dependent or one is zero."""
    d = np.sqrt(np.diag(xtx))
    if np.any(~(d > 0)):
        return True
    corr = xtx / np.outer(d, d)
    return bool(np.linalg.eigvalsh(corr)[0] < 1e-10)


class _LMM:
    """The set-up model: design, sufficient statistics and the criterion of θ."""

    def __init__(
        self, formula: str, data: pd.DataFrame, reml: bool, weights: Any, offset: Any, opts: LMMOptions
    ) -> None:
        if not isinstance(reml, bool | np.bool_):
            raise ModelInputError(f"REML must be True or False, got {reml!r}")
        parsed = parse_formula(formula)
        if not parsed.terms:
            raise ModelInputError(
                f"formula {formula!r} has no random-effects term such as (1 | g); use reference.glm for a linear model"
            )
        extra = tuple(v for v in (weights, offset) if isinstance(v, str))
        design = build_design(parsed, data, extra_columns=extra)
        n = design.y.size
        y = design.y
        if not np.all(np.isfinite(y)):
            raise InvalidResponseError("the response has non-finite values; drop or fix those rows")
        pw = column_or_array(weights, "weights", data, design.rows)
        if pw is not None and (np.any(~np.isfinite(pw)) or np.any(pw <= 0)):
            raise InvalidResponseError(
                "prior weights must be positive and finite; drop rows with zero weight before fitting"
            )
        off = column_or_array(offset, "offset", data, design.rows)
        if off is not None and np.any(~np.isfinite(off)):
            raise InvalidResponseError("the offset has non-finite values; fix or drop those rows")
        off = np.zeros(n) if off is None else off
        if design.offset is not None:
            off = off + design.offset
        X = design.X
        k = X.shape[1]
        if not np.all(np.isfinite(X)):
            raise DesignMatrixError("the fixed-effects model matrix has non-finite values; check the predictors")
        if k > 0 and _rank_deficient(X.T @ X):
            raise DesignMatrixError(
                "the fixed-effects model matrix is rank deficient (aliased columns); drop redundant predictors"
            )
        if n <= k:
            raise ModelInputError(f"{n} observations for {k} fixed effects; the model needs more data")
        for t in design.terms:
            if t.nlevels * t.p >= n:
                raise GroupingFactorError(
                    f"grouping factor {t.group!r} has {t.nlevels} levels (× {t.p} effects) for {n} observations; "
                    "the random effects are confounded with the residual (drop or simplify the term)"
                )
        self.formula = formula
        self.design = design
        self.reml = bool(reml)
        self.opts = opts
        self.n = n
        self.k = k
        self.weights_given = pw is not None
        self.pw = np.ones(n) if pw is None else pw
        self.offset = off
        self.offset_arg = offset
        self.ldW = float(np.sum(np.log(self.pw))) if pw is not None else 0.0
        self.terms = list(design.terms)
        self.term_ps = [t.p for t in self.terms]
        self.ntheta = sum(p * (p + 1) // 2 for p in self.term_ps)
        sw = np.sqrt(self.pw)
        XYs = np.column_stack([X, y - off]) * sw[:, None]
        self.C = XYs.T @ XYs
        groups = {t.group for t in self.terms}
        if len(groups) == 1:
            codes = self.terms[0].codes
            order = np.argsort(codes, kind="stable").astype(np.intp)
            counts = np.bincount(codes, minlength=self.terms[0].nlevels)
            Zs = np.column_stack([t.Xr for t in self.terms])[order] * sw[order, None]
            self.struct: Any = _BlockLMM(Zs, XYs[order], counts, self.term_ps)
        else:
            self.struct = _SparseLMM(self.terms, sw, XYs, opts)
        self.lower = np.concatenate([theta_lower_bounds(p) for p in self.term_ps])
        self.nfev = 0

    # -- criterion
    def evaluate(self, theta: F64) -> _Eval:
        ld, s, fac = self.struct.evaluate(np.asarray(theta, dtype=np.float64), self.C)
        ls, info = dpotrf(s, lower=1, clean=1)
        if info != 0:
            raise np.linalg.LinAlgError("the Schur complement of the fixed effects is not positive definite")
        return _Eval(np.array(theta, dtype=np.float64), ld, ls, fac)

    def pieces(self, ev: _Eval) -> tuple[float, float]:
        """(log|RX|², r²)."""
        k = self.k
        ldrx = 2.0 * float(np.log(np.diag(ev.ls)[:k]).sum())
        return ldrx, float(ev.ls[k, k] ** 2)

    def criterion_of(self, ev: _Eval, reml: bool | None = None) -> float:
        reml = self.reml if reml is None else reml
        ldrx, r2 = self.pieces(ev)
        if reml:
            nmp = self.n - self.k
            return ev.ldL2 + ldrx - self.ldW + nmp * (1.0 + LOG_2PI + math.log(r2 / nmp))
        return ev.ldL2 - self.ldW + self.n * (1.0 + LOG_2PI + math.log(r2 / self.n))

    def criterion(self, theta: F64) -> float:
        self.nfev += 1
        try:
            ev = self.evaluate(theta)
        except np.linalg.LinAlgError:
            return math.inf
        with np.errstate(divide="ignore", invalid="ignore"):
            v = self.criterion_of(ev)
        return v if math.isfinite(v) else math.inf

    @property
    def has_gradient(self) -> bool:
        return bool(self.struct.has_gradient)

    def criterion_grad(self, theta: F64) -> tuple[float, F64]:
        """Criterion and its exact gradient (one grouping factor only)."""
        self.nfev += 1
        try:
            ev = self.evaluate(theta)
        except np.linalg.LinAlgError:
            return math.inf, np.zeros(np.size(theta))
        with np.errstate(divide="ignore", invalid="ignore"):
            v = self.criterion_of(ev)
        if not math.isfinite(v):
            return math.inf, np.zeros(np.size(theta))
        k = self.k
        _ldrx, r2 = self.pieces(ev)
        beta = self.beta(ev)
        coef = np.concatenate([-beta, [1.0]])
        rx_inv = np.linalg.inv(ev.ls[:k, :k])
        if isinstance(self.struct, _BlockLMM):
            g_ld, g_r2, g_rx = self.struct.gradient_parts(ev.factor, coef, rx_inv.T @ rx_inv)
        else:
            g_ld, g_r2, g_rx = self.struct.gradient_parts(ev.factor, coef, rx_inv.T @ rx_inv, ev.theta)
        if self.reml:
            return v, g_ld + g_rx + (self.n - k) * g_r2 / r2
        return v, g_ld + self.n * g_r2 / r2

    def beta(self, ev: _Eval) -> F64:
        k = self.k
        return np.linalg.solve(ev.ls[:k, :k].T, ev.ls[k, :k])


# ----------------------------------------------------------------------------- optimiser


def _fd_grad_hess(f: Any, x: F64, f0: float, step: float) -> tuple[F64, F64]:
    """Central-difference gradient and Hessian of the criterion (steps relative to max(|θ|, 0.1))."""
    return fd_hessian_at(f, x, f0, step, floor=0.1)


@dataclass
class _OptResult:
    x: F64
    fun: float
    iterations: int
    converged: bool
    message: str


def _fd_grad(f: Any, x: F64, step: float) -> F64:
    """Central-difference gradient (2d evaluations)."""
    d = x.size
    h = step * np.maximum(np.abs(x), 0.1)
    g = np.empty(d)
    for i in range(d):
        e = np.zeros(d)
        e[i] = h[i]
        g[i] = (f(x + e) - f(x - e)) / (2.0 * h[i])
    return g


def _grad_hess_from(fg: Any, x: F64, g: F64, step: float) -> F64:
    """Forward-difference Jacobian of the exact gradient ``g`` (already known at ``x``):
    d more gradient evaluations."""
    d = x.size
    h = step * np.maximum(np.abs(x), 0.1)
    H = np.empty((d, d))
    for i in range(d):
        e = np.zeros(d)
        e[i] = h[i]
        H[:, i] = (fg(x + e)[1] - g) / h[i]
    return 0.5 * (H + H.T)


def _newton(f: Any, x0: F64, lower: F64, opts: LMMOptions) -> _OptResult:
    """Projected Newton with a finite-difference Hessian made positive definite (|eigenvalues|).

    With d ≥ ``bfgs_min_dim`` θ entries, BFGS updates replace the finite-difference Hessian while
    the steps are large (the exact-gradient case is :func:`_newton_exact`).
    """
    x = np.maximum(np.asarray(x0, dtype=np.float64), lower)
    fx = f(x)
    if not math.isfinite(fx):
        raise ConvergenceError("the criterion is not finite at the starting values; check the data for extreme values")
    quasi = x.size >= opts.bfgs_min_dim
    g, H = _fd_grad_hess(f, x, fx, opts.hessian_step)
    for it in range(1, opts.maxiter + 1):
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
            return _OptResult(x, fx, it, False, "non-finite derivatives")
        free = ~((x <= lower) & (g >= 0))
        idx = np.flatnonzero(free)
        d = np.zeros_like(x)
        if idx.size:
            w, V = np.linalg.eigh(H[np.ix_(idx, idx)])
            floor = 1e-8 * max(1.0, float(np.max(np.abs(w))))
            w = np.maximum(np.abs(w), floor)
            d[idx] = -(V @ ((V.T @ g[idx]) / w))
        scale = np.maximum(np.abs(x), 1.0)
        if np.max(np.abs(d) / scale) < opts.xtol or -float(g @ d) < opts.dec_tol * max(abs(fx), 1.0):
            return _OptResult(x, fx, it, True, "converged (Newton decrement)")
        # a diagonal θ may fall at most to a tenth of its value per step unless it is already
        # small: one long Newton step from far away must not land on the bound 0, where the
        # slope along θ vanishes by symmetry and the search would stall
        floor = np.where(np.isfinite(lower) & (x > 1e-3), 0.1 * x, lower)
        t = 1.0
        while True:
            xn = np.maximum(x + t * d, floor)
            fn = f(xn)
            if fn <= fx + 1e-4 * float(g @ (xn - x)) or (fn <= fx and t < 1.0):
                break
            t *= 0.5
            if t < 1e-12:
                small = np.max(np.abs(d) / scale) < 1e-6
                return _OptResult(x, fx, it, bool(small), "no decrease along the Newton direction")
        step = np.max(np.abs(xn - x) / scale)
        dec = fx - fn
        s_ = xn - x
        x, fx = xn, fn
        if step < opts.xtol or (dec <= opts.ftol * max(abs(fx), 1.0) and step < 1e-6):
            return _OptResult(x, fx, it, True, "converged")
        if quasi and t == 1.0 and step > opts.bfgs_polish:
            # far from the optimum with many θ: carry the Hessian forward by a BFGS update from
            # central-difference gradients (2d evaluations instead of 2d + d(d−1)); near the
            # optimum (small steps) the finite-difference Hessian is recomputed, because there
            # gradient differences are dominated by rounding noise
            g_new = _fd_grad(f, x, opts.hessian_step)
            H = bfgs_update(H, s_, g_new - g, 1e-10)
            g = g_new
        else:
            g, H = _fd_grad_hess(f, x, fx, opts.hessian_step)
    return _OptResult(x, fx, opts.maxiter, False, "iteration limit reached")


def _newton_exact(fg: Any, x0: F64, lower: F64, opts: LMMOptions) -> _OptResult:
    """Quasi-Newton with the exact gradient: the first Hessian is the forward-difference
    Jacobian of the gradient, later ones BFGS updates (exact gradients make them reliable),
    so an iteration costs one criterion-and-gradient evaluation plus the line search."""
    x = np.maximum(np.asarray(x0, dtype=np.float64), lower)
    fx, g = fg(x)
    if not math.isfinite(fx):
        raise ConvergenceError("the criterion is not finite at the starting values; check the data for extreme values")
    H = _grad_hess_from(fg, x, g, opts.gradient_hessian_step)
    fresh = True  # H is a finite-difference Jacobian at x (not a BFGS update)
    for it in range(1, opts.maxiter + 1):
        free = ~((x <= lower) & (g >= 0))
        idx = np.flatnonzero(free)
        d = np.zeros_like(x)
        if idx.size:
            w, V = np.linalg.eigh(H[np.ix_(idx, idx)])
            w = np.maximum(np.abs(w), 1e-8 * max(1.0, float(np.max(np.abs(w)))))
            d[idx] = -(V @ ((V.T @ g[idx]) / w))
        scale = np.maximum(np.abs(x), 1.0)
        if np.max(np.abs(d) / scale) < opts.xtol or -float(g @ d) < opts.dec_tol * max(abs(fx), 1.0):
            if fresh:
                return _OptResult(x, fx, it, True, "converged (Newton decrement)")
            # a BFGS Hessian can understate what is left: confirm with a fresh one
            H = _grad_hess_from(fg, x, g, opts.gradient_hessian_step)
            fresh = True
            continue
        floor = np.where(np.isfinite(lower) & (x > 1e-3), 0.1 * x, lower)
        # near the optimum the decrease a Newton step promises is below the rounding noise of
        # the criterion (~1e-13 relative): there the exact gradient, not the criterion, decides
        noise = opts.noise_tol * max(abs(fx), 1.0)
        tiny = -0.5 * float(g @ d) < noise
        t = 1.0
        while True:
            xn = np.maximum(x + t * d, floor)
            fn, gn = fg(xn)
            if fn <= fx + 1e-4 * float(g @ (xn - x)) or (fn <= fx and t < 1.0):
                break
            if tiny and fn <= fx + noise:
                break
            t *= 0.5
            if t < 1e-12:
                small = np.max(np.abs(d) / scale) < 1e-6
                return _OptResult(x, fx, it, bool(small), "no decrease along the Newton direction")
        s_ = xn - x
        step = np.max(np.abs(s_) / scale)
        dec = fx - fn
        y_ = gn - g
        x, fx, g = xn, fn, gn
        if step < opts.xtol or (dec <= opts.ftol * max(abs(fx), 1.0) and step < 1e-6):
            if fresh:
                return _OptResult(x, fx, it, True, "converged")
            H = _grad_hess_from(fg, x, g, opts.gradient_hessian_step)
            fresh = True
            continue
        fresh = False
        sy = float(s_ @ y_)
        hs = H @ s_
        shs = float(s_ @ hs)
        if sy > 1e-12 * float(np.linalg.norm(s_) * np.linalg.norm(y_)) and shs > 0:
            H = H - np.outer(hs, hs) / shs + np.outer(y_, y_) / sy
        else:
            H = _grad_hess_from(fg, x, g, opts.gradient_hessian_step)
            fresh = True
    return _OptResult(x, fx, opts.maxiter, False, "iteration limit reached")


def _optimize(model: _LMM) -> _OptResult:
    opts = model.opts
    f = model.criterion
    lower = model.lower
    x0 = np.concatenate([theta_start(p) for p in model.term_ps])
    fg = model.criterion_grad if (model.has_gradient and opts.exact_gradient) else None

    def run(start: F64) -> _OptResult:
        return _newton(f, start, lower, opts) if fg is None else _newton_exact(fg, start, lower, opts)

    res = run(x0)
    diag = np.isfinite(lower)
    for _ in range(opts.boundary_restarts):
        near = diag & (res.x - lower <= 1e-3)
        if not np.any(near):
            break
        best, best_f = None, res.fun - 1e-10 * max(abs(res.fun), 1.0)
        for factor in opts.boundary_probes:
            probe = res.x.copy()
            probe[near] = factor
            fp = f(probe)
            if fp < best_f:
                best, best_f = probe, fp
        if best is None:
            break
        res2 = run(best)
        res = _OptResult(res2.x, res2.fun, res.iterations + res2.iterations, res2.converged, res2.message)
    # a diagonal θ that ends a rounding error away from 0 is set to 0 when that is no worse
    tiny = diag & (res.x > lower) & (res.x < 1e-6)
    if np.any(tiny):
        snapped = np.where(tiny, 0.0, res.x)
        fs = f(snapped)
        if fs <= res.fun + 1e-12 * max(abs(res.fun), 1.0):
            res = _OptResult(snapped, fs, res.iterations, res.converged, res.message)
    return res


# ----------------------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class LMMResult:
    """An immutable fitted linear mixed model (see :func:`lmer`).

    ``theta`` is lme4's relative θ (Λ entries in units of σ); ``varcorr``, ``re_sd`` and
    ``re_corr`` are on the absolute scale. ``loglik`` is the REML log-likelihood for REML fits
    (as lme4's ``logLik``) and ``reml_crit`` = −2 × it; ``deviance`` is the ML deviance at the
    fitted parameters (lme4's ``deviance(fit, REML = FALSE)``; −2 ``loglik`` for ML fits).
    """

    formula: str
    reml: bool
    fixef: pd.Series
    se: pd.Series
    vcov: pd.DataFrame
    theta: pd.Series
    sigma: float
    varcorr: dict[str, pd.DataFrame]
    re_sd: dict[str, pd.Series]
    re_corr: dict[str, pd.DataFrame]
    loglik: float
    deviance: float
    reml_crit: float | None
    nobs: int
    npar: int
    ngroups: dict[str, int]
    ranef: dict[str, RandomEffects]
    converged: bool
    singular: bool
    optinfo: dict[str, Any]
    _fitted: F64 = field(repr=False)
    _y: F64 = field(repr=False)
    _wt: F64 = field(repr=False)
    _offset: F64 = field(repr=False)
    _offset_arg: Any = field(repr=False)
    _index: pd.Index = field(repr=False)
    _design: GLMMDesign = field(repr=False)

    @property
    def family(self) -> Family:
        """The Gaussian family (so that code written for GLMMResult reads this result too)."""
        return get_family("gaussian")

    @property
    def link(self) -> Link:
        return get_family("gaussian").link_object(None)

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.npar

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + math.log(self.nobs) * self.npar

    @property
    def df_resid(self) -> int:
        return self.nobs - self.npar

    def fitted(self) -> pd.Series:
        """``offset + Xβ̂ + Z b̂`` (lme4's ``fitted``), in data order."""
        return pd.Series(self._fitted, index=self._index, name="fitted")

    def residuals(self, kind: str = "response", scaled: bool = False) -> pd.Series:
        """``response`` (lme4's default for lmer) or ``pearson`` (× √weight) residuals; ``scaled``
        divides by σ."""
        r = self._y - self._fitted
        if kind == "pearson":
            r = r * np.sqrt(self._wt)
        elif kind != "response":
            raise ModelInputError(f"unknown residual kind {kind!r}; use response or pearson")
        if scaled:
            r = r / self.sigma
        return pd.Series(r, index=self._index, name=f"{kind} residuals")

    def predict(self, newdata: pd.DataFrame | None = None, re: bool = True) -> pd.Series:
        """Predictions; ``re=False`` leaves out the random effects; levels not seen in the fit get
        random effect 0 (lme4's ``allow.new.levels = TRUE``)."""
        beta = self.fixef.to_numpy()
        if newdata is None:
            if re:
                return self.fitted().rename("predicted")
            out = self._design.X @ beta + self._offset
            return pd.Series(out, index=self._index, name="predicted")
        X, off = self._design.fixed_spec.matrix(newdata)
        out = X @ beta + (0.0 if off is None else off)
        if isinstance(self._offset_arg, str):
            out = out + np.asarray(newdata[self._offset_arg], dtype=np.float64)
        elif self._offset_arg is not None:
            raise ModelInputError(
                "the fit used an offset given as an array, which cannot be evaluated on newdata; "
                "pass offset as a column name or write offset(...) in the formula"
            )
        if re:
            for term, key in zip(self._design.terms, self.ranef, strict=True):
                spec, idx = term.spec
                Xr = np.asarray(spec.get_model_matrix(newdata), dtype=np.float64)[:, list(idx)]
                labels = group_labels(newdata, group_columns(term.group))
                modes = self.ranef[key].modes.reindex(labels.to_numpy()).to_numpy()
                out = out + np.einsum("ij,ij->i", Xr, np.nan_to_num(modes, nan=0.0))
        return pd.Series(out, index=newdata.index, name="predicted")

    def simulate(self, n: int = 1, seed: int | None = None) -> pd.DataFrame:
        """``n`` new responses (new random effects and residuals; see :func:`reference.inference.simulate_lmm`)."""
        from reference.inference import simulate_lmm

        return simulate_lmm(self, n, seed)

    def confint(self, method: str = "profile", level: float = 0.95, **kwargs: Any) -> pd.DataFrame:
        """Confidence intervals as lme4's ``confint(m, oldNames = FALSE)``: ``profile``, ``Wald`` or
        ``boot`` (see :func:`reference.inference.confint`)."""
        from reference.inference import confint

        return confint(self, method, level, **kwargs)

    def summary(self) -> str:
        """A text summary laid out like lme4's ``summary(lmer(...))``."""
        from reference.lmm_display import format_lmm_summary

        return format_lmm_summary(self)

    def __str__(self) -> str:
        return self.summary()


def _build_result(model: _LMM, opt: _OptResult) -> LMMResult:
    design = model.design
    n, k = model.n, model.k
    theta = opt.x
    ev = model.evaluate(theta)
    ldrx, r2 = model.pieces(ev)
    crit = model.criterion_of(ev)
    ml_dev = model.criterion_of(ev, reml=False)
    sigma2 = r2 / (n - k if model.reml else n)
    sigma = math.sqrt(sigma2)
    beta = model.beta(ev)
    rx = ev.ls[:k, :k]
    rxinv = np.linalg.inv(rx)
    vcov_m = sigma2 * (rxinv.T @ rxinv)
    names = list(design.fixed_names)
    coef = np.concatenate([-beta, [1.0]])
    keys = term_keys([t.group for t in design.terms])
    st = model.struct
    # conditional modes u per term, as (levels, p)
    u_terms: list[F64] = []
    cv_terms: list[F64] = []
    if isinstance(st, _BlockLMM):
        u_all = st.modes(ev.factor, coef)  # (levels, p_total), rows in level order
        cv_all = st.condvar(ev.factor)
        col = 0
        for t in model.terms:
            u_terms.append(u_all[:, col : col + t.p])
            cv_terms.append(cv_all[:, col : col + t.p, col : col + t.p])
            col += t.p
    else:
        u = st.modes(ev.factor, coef)
        for i, t in enumerate(model.terms):
            u_terms.append(u[st.offsets[i] : st.offsets[i + 1]].reshape(t.nlevels, t.p))
        cv_terms = st.condvar_blocks(ev.factor)
    theta_names: list[str] = []
    varcorr: dict[str, pd.DataFrame] = {}
    re_sd: dict[str, pd.Series] = {}
    re_corr: dict[str, pd.DataFrame] = {}
    ranef: dict[str, RandomEffects] = {}
    fitted = design.X @ beta + model.offset
    pos = 0
    singular = False
    for t, key, u_t, cv in zip(model.terms, keys, u_terms, cv_terms, strict=True):
        nt = t.p * (t.p + 1) // 2
        th = theta[pos : pos + nt]
        pos += nt
        lam = theta_to_lambda(th, t.p)
        for r_, c_ in zip(*lower_index(t.p), strict=True):
            # lme4 names θ by the grouping factor (not by the VarCorr key "g.1" of a second term)
            theta_names.append(f"{t.group}.{t.columns[r_]}" if r_ == c_ else f"{t.group}.{t.columns[r_]}.{t.columns[c_]}")
        if np.any(np.abs(np.diag(lam)) < model.opts.singular_tol):
            singular = True
        cov = sigma2 * (lam @ lam.T)
        sd = np.sqrt(np.diag(cov))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = cov / np.outer(sd, sd)
        cols = list(t.columns)
        varcorr[key] = pd.DataFrame(cov, index=cols, columns=cols)
        re_sd[key] = pd.Series(sd, index=cols, name="Std.Dev.")
        re_corr[key] = pd.DataFrame(corr, index=cols, columns=cols)
        b = u_t @ lam.T
        condvar = sigma2 * (lam[None, :, :] @ cv @ lam.T[None, :, :])
        ranef[key] = RandomEffects(pd.DataFrame(b, index=pd.Index(list(t.levels), name=t.group), columns=cols), condvar)
        fitted = fitted + np.einsum("ij,ij->i", t.Xr, b[t.codes])
    npar = k + model.ntheta + 1
    msgs: list[str] = []
    if singular:
        msgs.append("boundary (singular) fit: see help('isSingular')")
    if not opt.converged:
        msgs.append(f"the optimiser did not converge: {opt.message}; simplify the random effects or rescale the predictors")
    for msg in msgs:
        warnings.warn(msg, ConvergenceWarning, stacklevel=3)
    loglik = -0.5 * crit
    return LMMResult(
        formula=model.formula,
        reml=model.reml,
        fixef=pd.Series(beta, index=names, name="Estimate"),
        se=pd.Series(np.sqrt(np.diag(vcov_m)), index=names, name="Std. Error"),
        vcov=pd.DataFrame(vcov_m, index=names, columns=names),
        theta=pd.Series(theta, index=theta_names, name="theta"),
        sigma=sigma,
        varcorr=varcorr,
        re_sd=re_sd,
        re_corr=re_corr,
        loglik=loglik,
        deviance=ml_dev,
        reml_crit=crit if model.reml else None,
        nobs=n,
        npar=npar,
        ngroups={t.group: t.nlevels for t in design.terms},  # per grouping factor, as lme4's ngrps
        ranef=ranef,
        converged=bool(opt.converged),
        singular=singular,
        optinfo={
            "message": opt.message,
            "iterations": opt.iterations,
            "nfev": model.nfev,
            "structure": "block" if isinstance(st, _BlockLMM) else f"sparse ({st.method})",
            "log_det_L2": ev.ldL2,
            "log_det_RX2": ldrx,
            "pwrss": r2,
            "warnings": msgs,
        },
        _fitted=fitted,
        _y=design.y,
        _wt=model.pw,
        _offset=model.offset,
        _offset_arg=model.offset_arg,
        _index=design.rows,
        _design=design,
    )


# ----------------------------------------------------------------------------- entry points


def _options(options: LMMOptions | None, overrides: dict[str, Any]) -> LMMOptions:
    if options is not None and not isinstance(options, LMMOptions):
        raise ModelInputError(f"options must be an LMMOptions, got {type(options).__name__}")
    opts = with_overrides(options or LMMOptions(), overrides)
    n = opts.blas_threads
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ModelInputError(f"blas_threads must be a positive whole number or None (leave BLAS as is), got {n!r}")
    return opts


def lmer(
    formula: str,
    data: pd.DataFrame,
    REML: bool = True,
    weights: str | ArrayLike | None = None,
    offset: str | ArrayLike | None = None,
    *,
    options: LMMOptions | None = None,
    **option_overrides: Any,
) -> LMMResult:
    """Fit a linear mixed model like ``lme4::lmer`` (REML by default, or ML).

    Args:
        formula: lme4-style formula, e.g. ``"y ~ x + (1 | g)"``, ``"y ~ x + (x | g)"``,
            ``"y ~ x + (x || g)"``, ``"y ~ (1 | a/b)"``, ``"y ~ (1 | a) + (1 | b)"``.
        data: a DataFrame; rows with a missing value in a model column are dropped.
        REML: True (default) for the REML criterion, False for maximum likelihood.
        weights: prior weights (column name or array; positive): Var(εᵢ) = σ²/wᵢ.
        offset: known term added to the linear predictor (column name or array); ``offset(x)``
            inside the formula works too.
        options: an :class:`LMMOptions`; keyword overrides of its fields are accepted too.

    Returns:
        An :class:`LMMResult`. A singular (boundary) fit or a failed convergence check is
        reported as :class:`~reference.errors.ConvergenceWarning`.

    Raises:
        FormulaError, GroupingFactorError, InvalidResponseError, DesignMatrixError: bad input.
        ConvergenceError: the criterion could not be evaluated at the start.
    """
    opts = _options(options, option_overrides)
    with _blas_threads(opts.blas_threads):
        model = _LMM(formula, data, REML, weights, offset, opts)
        opt = _optimize(model)
        return _build_result(model, opt)


def lmer_criterion(
    formula: str,
    data: pd.DataFrame,
    theta: ArrayLike,
    REML: bool = True,
    weights: str | ArrayLike | None = None,
    offset: str | ArrayLike | None = None,
) -> float:
    """The profiled criterion at a given θ (lme4's ``devFunOnly = TRUE`` function): the REML
    criterion, or the ML deviance −2 log L(θ, β̂(θ), σ̂(θ)) for ``REML=False``."""
    model = _LMM(formula, data, REML, weights, offset, LMMOptions())
    th = np.asarray(theta, dtype=np.float64).reshape(-1)
    if th.size != model.ntheta:
        raise ModelInputError(f"expected {model.ntheta} theta values (lme4's order), got {th.size}")
    return model.criterion_of(model.evaluate(th))


def __getattr__(name: str) -> Any:
    """``reference.lmm.glmer_gaussian``: the name it had before it moved to :mod:`reference.glmm`
    (which imports this module, not the other way round)."""
    if name == "glmer_gaussian":
        from reference.glmm import glmer_gaussian

        return glmer_gaussian
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
