"""Penalised IRLS for the conditional modes, and the GLMM deviance (−2 log-likelihood).

Given θ (through a random-effects structure of :mod:`reference.glmm_re`), the conditional
mode ``u*`` minimises the penalised deviance ``Σ dev_i(μ(η)) / φ + ‖u‖²`` with
``η = offset + Xβ + ZΛu``. Each iteration solves ``A δ = Λᵀ Zᵀ r − u`` with
``A = Λᵀ Zᵀ W Z Λ + I``, Fisher weights ``w = wt·μ'(η)² / (φ V(μ))`` and scores
``r = wt·(y − μ)·μ'(η) / (φ V(μ))`` (lme4's PIRLS), halving the step while the penalised
deviance does not decrease. In ``joint`` mode β is updated together with u (lme4's nAGQ = 0
stage), through the Schur complement of the u-block.

The deviance at the mode is the Laplace approximation

    −2 log L ≈ −2 Σ log f(y_i | μ_i*) + ‖u*‖² + log det A(u*),

with every normalising constant of ``log f`` included. For one scalar random-effects term
it is computed through :func:`reference.quadrature.adaptive_log_integral_unchecked` (Laplace = one
node; ``nAGQ`` nodes otherwise), so the Laplace approximation and adaptive Gauss–Hermite
quadrature share one code path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference.errors import ConvergenceError
from reference.quadrature import HALF_LOG_2PI, adaptive_log_integral_unchecked

__all__ = ["PirlsResult", "Response", "deviance", "pirls"]

F64 = NDArray[np.float64]


_RANGE_LINKS = {
    "binomial": ("logit", "probit", "cauchit", "cloglog", "loglog"),
    "poisson": ("log",),
    "gaussian": ("identity", "log"),
    "gamma": ("log",),
    "inverse_gaussian": ("log",),
    "negative_binomial": ("log",),
}


class Response:
    """The conditional distribution of y given η: family, link, weights, offset.

    ``wt`` is the prior weight times the number of trials (binomial), ``y`` the proportion
    for binomial data (R's convention). For families with a fixed dispersion (binomial,
    Poisson) ``−2 log f`` equals the deviance residual plus a term free of μ, which is
    computed once at the starting means, so no log-gamma is evaluated inside the iterations.
    """

    def __init__(self, family: Any, link: Any, y: F64, wt: F64, offset: F64) -> None:
        self.family = family
        self.link = link
        self.y = y
        self.wt = wt
        self.offset = offset
        self.fixed_dispersion = bool(family.fixed_dispersion)
        self.unit_wt = bool(np.all(wt == 1.0))
        # links whose inverse always lands in the family's range need no per-step check
        self.always_valid = link.name in _RANGE_LINKS.get(family.name, ())
        self.canonical = family.is_canonical(link)
        self.theta_identity = (family.name, link.name) in _THETA_IDENTITY
        self.mustart = np.asarray(family.initialize(y, wt), dtype=np.float64)
        # 0/1 binomial data: the family's bit-identical binary deviance kernel (one log per row)
        self.success: NDArray[np.bool_] | None = None
        if family.name == "binomial" and bool(np.all((y == 0.0) | (y == 1.0))):
            self.success = y == 1.0
        if self.fixed_dispersion:
            ll0 = np.asarray(family.logpdf(y, self.mustart, 1.0, wt), dtype=np.float64)
            dev0 = np.asarray(family.dev_resids(y, self.mustart, wt), dtype=np.float64)
            self.const = ll0 + 0.5 * dev0
        else:
            self.const = None

    def mu(self, eta: F64) -> F64:
        return self.link.inverse(eta)

    def valid(self, eta: F64, mu: F64) -> bool:
        if self.always_valid:
            return bool(np.isfinite(mu).all())
        return bool(
            np.all(np.isfinite(mu))
            and np.all(self.family.valid_mu(mu))
            and np.all(self.link.valid_eta(eta))
        )

    def dev_obs(self, mu: F64) -> F64:
        return self._dev(self.y, mu, self.wt, self.success)

    def _dev(self, y: F64, mu: F64, wt: F64, success: NDArray[np.bool_] | None) -> F64:
        if success is None:
            return self.family.dev_resids(y, mu, wt)
        with np.errstate(all="ignore"):
            return self.family._dev_resids_binary(success, mu, wt)

    def logf_obs(self, mu: F64, phi: float, dev: F64 | None = None) -> F64:
        """Per-observation ``log f(y | μ)`` (2-D ``mu`` allowed: rows = observations)."""
        if self.fixed_dispersion:
            if dev is None:
                y, wt, c, s = self.y, self.wt, self.const, self.success
                if mu.ndim == 2:
                    y, wt, c = y[:, None], wt[:, None], c[:, None]
                    s = None if s is None else s[:, None]
                dev = self._dev(y, mu, wt, s)
                return c - 0.5 * dev
            return self.const - 0.5 * dev
        y, wt = self.y, self.wt
        if mu.ndim == 2:
            y, wt = y[:, None], wt[:, None]
        return self.family.logpdf(y, mu, phi, wt)

    def weights(self, eta: F64, mu: F64, phi: float) -> tuple[F64, F64]:
        """Fisher weights and η-scores, both divided by φ."""
        if self.theta_identity:
            v, r = self.family.variance(mu), self.y - mu
            if self.unit_wt and phi == 1.0:  # multiplying by 1 changes nothing: skip it
                return v, r
            wv = self.wt / phi
            return wv * v, wv * r
        me = self.link.mu_eta(eta)
        v = self.family.variance(mu)
        wv = self.wt * me / (v * phi)
        return wv * me, wv * (self.y - mu)


    def observed_weights(self, eta: F64, mu: F64, phi: float, w_fisher: F64) -> F64:
        """``−d² log f / dη²`` per observation: the Fisher weight minus ``wt (y − μ) k'(η) / φ``
        with ``k = μ'(η) / V(μ)``; ``k'`` by a central difference (k is constant for canonical links)."""
        if self.canonical:
            return w_fisher
        h = 1e-5 * np.maximum(np.abs(eta), 1.0)

        def k(e: F64) -> F64:
            return self.link.mu_eta(e) / self.family.variance(self.link.inverse(e))

        dk = (k(eta + h) - k(eta - h)) / (2.0 * h)
        return w_fisher - self.wt * (self.y - mu) * dk / phi


#: Newton decrement below which a full PIRLS step is taken without checking the deviance
_UNCHECKED_DECREMENT = 1e-6
#: … or when no component of the step δu (u has unit prior scale) exceeds this
_UNCHECKED_STEP = 0.05

#: (family, link) pairs whose link is the identity in the canonical parameter, so μ'(η) = V(μ)
_THETA_IDENTITY = {("binomial", "logit"), ("poisson", "log"), ("gaussian", "identity")}


@dataclass
class PirlsResult:
    u: F64
    beta: F64
    eta: F64
    mu: F64
    dev_obs: F64
    pdev: float
    factor: Any
    w: F64
    iterations: int
    schur: F64 | None = None  # joint mode: X'WX − C'A⁻¹C (β-block precision)


def pirls(
    struct: Any,
    state: Any,
    resp: Response,
    X: F64,
    beta: F64,
    u0: F64 | None,
    phi: float,
    *,
    joint: bool,
    tol: float,
    maxit: int,
    eta_fixed: F64 | None = None,
    polish_tol: float = math.inf,
) -> PirlsResult:
    """Conditional modes of u (and β when ``joint``) for the random-effects ``state``.

    Stops when the Newton decrement falls below ``tol``. That bounds the error of the penalised
    deviance (quadratic in the distance to the mode), but ``log det A`` moves linearly with u:
    a decrement of 1e-19 leaves u ~3e-10 from the mode and the Laplace deviance ~1e-9 off,
    which a finite-difference Hessian with steps of 1e-4 turns into errors of 10 %. So when
    the decrement that met ``tol`` is still above ``polish_tol``, one more (full) Newton step is
    taken, after which the error is of the order of that decrement.

    Raises:
        ConvergenceError: when no valid linear predictor can be found or the iteration
            does not settle within ``maxit`` steps.
    """
    q = struct.q
    u = np.zeros(q) if u0 is None else np.array(u0, dtype=np.float64)
    beta = np.array(beta, dtype=np.float64)
    if eta_fixed is None or joint:
        eta_fixed = resp.offset + X @ beta

    def mean_at(u_: F64, eta_f: F64) -> tuple[F64, F64] | None:
        eta_ = eta_f + struct.zlam_u(state, u_)
        mu_ = resp.mu(eta_)
        if not resp.valid(eta_, mu_):
            return None
        return eta_, mu_

    def pdev(mu_: F64, u_: F64) -> tuple[F64, float]:
        d_ = resp.dev_obs(mu_)
        return d_, float(np.sum(d_) / phi + u_ @ u_)

    cur = mean_at(u, eta_fixed)
    if cur is None and u0 is not None:
        u = np.zeros(q)
        cur = mean_at(u, eta_fixed)
    if cur is None:
        if resp.always_valid:  # the link cannot leave the range: the means overflowed
            raise ConvergenceError(
                "the linear predictor overflows (non-finite means) at the starting values; check the "
                "predictors for extreme values and the response for separation"
            )
        raise ConvergenceError(
            f"the {resp.link.name} link gives means outside the {resp.family.name} family's range at the "
            "starting values; try another link or check the response"
        )
    eta, mu = cur
    # the penalised deviance is computed lazily: near the mode (small Newton decrement) full
    # steps are taken without the step-halving check, which saves most deviance evaluations
    dev: F64 | None = None
    pd = math.nan
    schur = None
    polished = False
    for it in range(1, maxit + 1):
        w, r = resp.weights(eta, mu, phi)
        fac = struct.factor(state, w)
        rhs_u = struct.zlam_t(state, r) - u
        if joint:
            C = struct.cross_x(state, w, X)
            ainv_c = fac.solve_mat(C)
            schur = (X * w[:, None]).T @ X - C.T @ ainv_c
            rhs_b = X.T @ r
            ainv_r = fac.solve(rhs_u)
            try:
                d_beta = np.linalg.solve(schur, rhs_b - C.T @ ainv_r)
            except np.linalg.LinAlgError:
                raise ConvergenceError(
                    "the fixed-effects system is singular; check for collinear or constant predictors"
                ) from None
            d_u = ainv_r - ainv_c @ d_beta
            dec = float(rhs_u @ d_u + rhs_b @ d_beta)
        else:
            d_u = fac.solve(rhs_u)
            d_beta = None
            dec = float(rhs_u @ d_u)
        if not np.isfinite(dec):
            raise ConvergenceError(
                "penalised IRLS produced non-finite values; check the predictors for extreme values"
                + ("" if joint else " or try nAGQ=0")
            )
        if dec < tol and (polished or dec <= polish_tol):
            if dev is None:
                dev, pd = pdev(mu, u)
            return PirlsResult(u, beta, eta, mu, dev, pd, fac, w, it, schur)
        if dec < tol:
            polished = True  # one more step (tiny, hence taken in full just below)
        if dec < _UNCHECKED_DECREMENT or float(np.max(np.abs(d_u), initial=0.0)) < _UNCHECKED_STEP:
            u_new = u + d_u
            b_new = beta + d_beta if joint else beta
            eta_f_new = resp.offset + X @ b_new if joint else eta_fixed
            new = mean_at(u_new, eta_f_new)
            if new is not None:
                u, beta, eta_fixed = u_new, b_new, eta_f_new
                eta, mu = new
                dev = None
                continue
        if dev is None:
            dev, pd = pdev(mu, u)
        step = 1.0
        for _ in range(30):
            u_new = u + step * d_u
            if joint:
                b_new = beta + step * d_beta
                eta_f_new = resp.offset + X @ b_new
            else:
                b_new, eta_f_new = beta, eta_fixed
            new = mean_at(u_new, eta_f_new)
            if new is not None:
                d_new, pd_new = pdev(new[1], u_new)
                if pd_new <= pd + 1e-12 * abs(pd):
                    break
            step *= 0.5
        else:
            # no decrease possible: we are at the optimum up to rounding
            return PirlsResult(u, beta, eta, mu, dev, pd, fac, w, it, schur)
        u, beta, eta_fixed = u_new, b_new, eta_f_new
        eta, mu = new
        dev, pd = d_new, pd_new
    raise ConvergenceError(
        f"penalised IRLS did not converge in {maxit} iterations; raise options pirls_maxit"
        + ("" if joint else " or try nAGQ=0")
    )


def deviance(
    struct: Any,
    state: Any,
    resp: Response,
    pr: PirlsResult,
    phi: float,
    nagq: int,
) -> float:
    """−2 log-likelihood at the conditional modes ``pr`` (Laplace, or AGQ for one scalar term)."""
    fac = laplace_factor(struct, state, resp, pr, phi)
    if getattr(struct, "kind", "") == "block" and struct.p == 1:
        ll = log_integrals(struct, state, resp, pr, phi, nagq, fac)
        return float(-2.0 * np.sum(ll))
    logf = resp.logf_obs(pr.mu, phi, pr.dev_obs if resp.fixed_dispersion else None)
    return float(-2.0 * np.sum(logf) + pr.u @ pr.u + fac.logdet)


def laplace_factor(struct: Any, state: Any, resp: Response, pr: PirlsResult, phi: float) -> Any:
    """Factor of the exact Hessian ``Λᵀ Zᵀ W_obs Z Λ + I`` of ``−log p(y, u)`` at the mode.

    PIRLS iterates with Fisher weights (lme4), which only moves the path, not the mode; the
    Laplace approximation itself uses the observed information, as glmmTMB does. For
    canonical links the two coincide; for others (probit, Gamma–log, …) lme4's Fisher-weight
    Laplace value is a slightly different (lower, in the stored cases) approximation. Falls
    back to the Fisher factor if the observed one is not positive definite.
    """
    if resp.canonical:
        return pr.factor
    w_obs = resp.observed_weights(pr.eta, pr.mu, phi, pr.w)
    try:
        fac = struct.factor(state, w_obs)
    except np.linalg.LinAlgError:
        return pr.factor
    if getattr(fac, "p", 0) == 1 and not np.all(fac.chol > 0):
        return pr.factor
    if not np.isfinite(fac.logdet):
        return pr.factor
    return fac


def log_integrals(
    struct: Any, state: Any, resp: Response, pr: PirlsResult, phi: float, nagq: int, fac: Any = None
) -> F64:
    """Per-cluster log marginal likelihoods for one scalar term (adaptive Gauss–Hermite)."""
    lam = float(state[0, 0])
    mode = pr.u
    fac = pr.factor if fac is None else fac
    scale = 1.0 / np.sqrt(fac.chol)  # p == 1: 'chol' holds the 1×1 block A_j itself
    eta_fixed = pr.eta - struct.zlam_u(state, pr.u) if nagq > 1 else pr.eta
    logf_mode = struct.segsum(resp.logf_obs(pr.mu, phi, pr.dev_obs if resp.fixed_dispersion else None))
    xr = None if struct.intercept_only else struct.Xr[:, :1]

    def logf(U: F64) -> F64:
        if U.shape[1] == 1:  # one node: it is the mode itself (Laplace), where logf is known
            vals = logf_mode[:, None]
        else:
            shift = struct.expand(U * lam)
            if xr is not None:
                shift = shift * xr
            eta = eta_fixed[:, None] + shift
            mu = resp.mu(eta)
            vals = struct.segsum(resp.logf_obs(mu, phi))
        return vals - 0.5 * U * U - HALF_LOG_2PI

    # trusted call: the mode is PIRLS's (finite), scale > 0 (laplace_factor keeps a positive 1×1 block)
    return adaptive_log_integral_unchecked(logf, mode, scale, nagq)
