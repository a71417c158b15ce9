"""The optimisers behind the GLMM fits (:mod:`reference.glmm`, :mod:`reference.glmm_nb`, and the
finite-difference Hessian of :mod:`reference.lmm`).

The problems are tiny — (β, θ[, φ or k]) — and each evaluation runs PIRLS, so everything here
counts evaluations: central and forward finite differences (:func:`fd_grad`, :func:`fd_hessian`),
a bounded BFGS with projection (:func:`minimize`), Newton steps with one finite-difference Hessian
(:func:`newton`), the probe of the interior near a θ bound (:func:`escape_boundary`), and the
stage that composes them on the Laplace / AGQ deviance (:func:`newton_stage`).
Objectives may offer ``set_center(x)`` to warm-start PIRLS around the point being differenced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference.errors import ConvergenceError
from reference.glmm_options import GLMMOptions

__all__ = [
    "NewtonStage",
    "Stage",
    "bfgs_update",
    "escape_boundary",
    "fd_grad",
    "fd_hessian",
    "fd_hessian_at",
    "hessian_evals",
    "minimize",
    "newton",
    "newton_stage",
    "safe_value",
]

F64 = NDArray[np.float64]



def _around(f: Any, x: F64 | None) -> None:
    """Tell an objective that the next evaluations are finite differences around ``x``."""
    center = getattr(f, "set_center", None)
    if center is not None:
        center(x)


def fd_grad(f: Any, x: F64, f0: float, lower: F64, rel: float, forward: bool = False) -> F64:
    _around(f, x)
    try:
        return _fd_grad_at(f, x, f0, lower, rel, forward)
    finally:
        _around(f, None)


def _fd_grad_at(f: Any, x: F64, f0: float, lower: F64, rel: float, forward: bool) -> F64:
    g = np.empty_like(x)
    for i in range(x.size):
        h = rel * max(abs(x[i]), 1.0)
        e = np.zeros_like(x)
        e[i] = h
        if forward:
            g[i] = (f(x + e) - f0) / h
        elif x[i] - h < lower[i]:
            g[i] = (-3.0 * f0 + 4.0 * f(x + e) - f(x + 2 * e)) / (2 * h)
        else:
            g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def fd_hessian(f: Any, x: F64, f0: float, rel: float) -> tuple[F64, F64]:
    """Central-difference gradient and Hessian (bounds ignored: the deviance is defined there)."""
    _around(f, x)
    try:
        return fd_hessian_at(f, x, f0, rel)
    finally:
        _around(f, None)


def fd_hessian_at(f: Any, x: F64, f0: float, rel: float, floor: float = 1.0) -> tuple[F64, F64]:
    """Central-difference gradient and Hessian with steps ``rel · max(|x|, floor)`` (2d + d(d−1)
    evaluations; also used by :mod:`reference.lmm`)."""
    d = x.size
    h = rel * np.maximum(np.abs(x), floor)
    fp = np.empty(d)
    fm = np.empty(d)
    for i in range(d):
        e = np.zeros(d)
        e[i] = h[i]
        fp[i] = f(x + e)
        fm[i] = f(x - e)
    g = (fp - fm) / (2 * h)
    H = np.empty((d, d))
    for i in range(d):
        H[i, i] = (fp[i] - 2 * f0 + fm[i]) / h[i] ** 2
        for j in range(i):
            ei = np.zeros(d)
            ej = np.zeros(d)
            ei[i] = h[i]
            ej[j] = h[j]
            # second order with two evaluations per pair (reuses f(x ± h_i e_i))
            both = f(x + ei + ej) + f(x - ei - ej)
            v = (both - fp[i] - fp[j] - fm[i] - fm[j] + 2 * f0) / (2 * h[i] * h[j])
            H[i, j] = H[j, i] = v
    return g, H


def hessian_evals(d: int) -> int:
    return 2 * d + d * (d - 1)


@dataclass
class _BoxResult:
    x: F64
    fun: float
    message: str
    success: bool


def _bfgs_box(fg: Any, x0: F64, lower: F64, *, maxiter: int, ftol: float, gtol: float) -> _BoxResult:
    """Quasi-Newton (BFGS) minimisation with lower bounds, by projection and an active set.

    Written out (instead of scipy's L-BFGS-B) because the problems are tiny (β, θ, φ) and
    scipy's L-BFGS-B calls BLAS level-1 routines that, with a multi-threaded OpenBLAS on a
    loaded machine, cost milliseconds per call — more than a deviance evaluation.
    Variables at their bound with a gradient pushing outwards are held fixed; a backtracking
    (Armijo) line search works on the projected path.
    """
    x = np.maximum(np.asarray(x0, dtype=np.float64), lower)
    fx, g = fg(x)
    d_n = x.size
    hinv = np.eye(d_n)
    scaled = False
    for _it in range(maxiter):
        at_lower = x <= lower
        free = ~(at_lower & (g > 0))
        pg = np.where(free, g, 0.0)
        if np.max(np.abs(pg)) <= gtol:
            return _BoxResult(x, fx, "projected gradient below gtol", True)
        d = np.zeros(d_n)
        idx = np.flatnonzero(free)
        d[idx] = -hinv[np.ix_(idx, idx)] @ g[idx]
        if not g[idx] @ d[idx] < 0:
            hinv = np.eye(d_n)
            scaled = False
            d = -pg
        if not scaled:
            # first step (or after a reset): a short step, at most 0.2 relative in the largest
            # coordinate, so one steepest-descent step cannot jump across the parameter space
            # (e.g. from θ = 1 straight onto the bound θ = 0)
            big = float(np.max(np.abs(d) / np.maximum(np.abs(x), 1.0)))
            if big > 0.2:
                d = d * (0.2 / big)
        t = 1.0
        while True:
            xn = np.maximum(x + t * d, lower)
            fn, gn = fg(xn)
            if np.isfinite(fn) and fn <= fx + 1e-4 * (g @ (xn - x)):
                break
            t *= 0.5
            if t < 1e-12:
                return _BoxResult(x, fx, "line search could not decrease the deviance further", True)
        s_ = xn - x
        y_ = gn - g
        sy = float(s_ @ y_)
        decrease = fx - fn
        x, fx, g = xn, fn, gn
        if sy > 1e-12 * float(np.sqrt((s_ @ s_) * (y_ @ y_))):
            if not scaled:
                hinv = np.eye(d_n) * (sy / float(y_ @ y_))
                scaled = True
            rho = 1.0 / sy
            v = np.eye(d_n) - rho * np.outer(s_, y_)
            hinv = v @ hinv @ v.T + rho * np.outer(s_, s_)
        if decrease <= ftol * max(abs(fx), 1.0):
            return _BoxResult(x, fx, "relative decrease below ftol", True)
    return _BoxResult(x, fx, "iteration limit reached", False)


@dataclass
class Stage:
    x: F64
    fun: float
    nfev: int
    message: str
    success: bool


def safe_value(f: Any) -> Any:
    """``f`` with PIRLS failures and non-finite values mapped to +inf."""

    def value(x: F64) -> float:
        try:
            v = f(x)
        except ConvergenceError:
            return math.inf
        return v if math.isfinite(v) else math.inf

    return value


def minimize(f: Any, x0: F64, lower: F64, opts: GLMMOptions, probe_step: F64, ftol: float | None = None) -> Stage:
    counter = {"n": 0}
    value = safe_value(f)

    def safe(x: F64) -> float:
        counter["n"] += 1
        return value(x)

    safe.set_center = getattr(f, "set_center", None)  # type: ignore[attr-defined]

    def fg(x: F64) -> tuple[float, F64]:
        f0 = safe(x)
        if not math.isfinite(f0):
            return 1e300, np.zeros_like(x)
        if opts.forward_differences:
            g = fd_grad(safe, x, f0, lower, opts.fd_forward_step, forward=True)
        else:
            g = fd_grad(safe, x, f0, lower, opts.fd_step)
        # a step that made PIRLS fail (deviance +inf) says "not this way": hold that coordinate
        # (an infinite component would turn the search direction into NaN)
        return f0, np.where(np.isfinite(g), g, 0.0)

    def run(start: F64) -> _BoxResult:
        return _bfgs_box(
            fg,
            start,
            lower,
            maxiter=opts.optimizer_maxiter,
            ftol=opts.optimizer_ftol if ftol is None else ftol,
            gtol=opts.optimizer_gtol,
        )

    res = run(x0)
    for _ in range(opts.boundary_restarts):
        better = escape_boundary(safe, res.x, res.fun, lower, probe_step, opts)
        if better is None:
            break
        res = run(better)
    return Stage(np.asarray(res.x, dtype=np.float64), float(res.fun), counter["n"], str(res.message), bool(res.success))


def escape_boundary(
    f: Any, x: F64, fx: float, lower: F64, probe_step: F64, opts: GLMMOptions
) -> F64 | None:
    """An interior point with a lower deviance than the (near-)boundary point ``x``, or None.

    The deviance is even in each column of Λ, so its derivative along a diagonal θ is exactly 0
    at the bound 0: every gradient test (projected gradient, Newton decrement, small steps)
    declares a stationary point there, even when the bound is a local *maximum* along θ (the
    one-sided second derivative is negative and the deviance falls on stepping inside). Hence a
    θ diagonal that ends within ``boundary_tol`` of its bound is accepted only after probing the
    interior: the θ's near the bound are set to each of ``boundary_probes`` (× ``probe_step``),
    the other parameters kept. Along θ the cross-derivatives with β vanish at the bound, so a
    small probe tests the curvature of the profiled deviance; the larger probes catch an
    interior minimum behind a bump. lme4's derivative-free bobyqa explores the same way.
    """
    near = np.isfinite(lower) & (x - lower <= opts.boundary_tol * probe_step)
    if not np.any(near):
        return None
    best, best_f = None, fx - 1e-10 * max(abs(fx), 1.0)
    for factor in opts.boundary_probes:
        probe = np.array(x, dtype=np.float64)
        probe[near] = lower[near] + factor * probe_step[near]
        f_probe = f(probe)
        if f_probe < best_f:
            best, best_f = probe, f_probe
    return best


def bfgs_update(H: F64, s: F64, y: F64, curvature_tol: float) -> F64:
    """The BFGS update of a Hessian approximation ``H`` for the step ``s`` and gradient change
    ``y``; ``H`` unchanged when the curvature ``sᵀy`` is not above ``curvature_tol · ‖s‖‖y‖``."""
    sy = float(s @ y)
    hs = H @ s
    shs = float(s @ hs)
    if sy > curvature_tol * float(np.linalg.norm(s) * np.linalg.norm(y)) and shs > 0:
        return H - np.outer(hs, hs) / shs + np.outer(y, y) / sy
    return H


def newton(
    obj: Any, x0: F64, lower: F64, opts: GLMMOptions
) -> tuple[F64, float, F64, F64, F64, int, bool]:
    """Newton iterations with one finite-difference Hessian (refreshed only if a step fails).

    Returns ``(x, f, g, H, x_at_H, evaluations, converged)``. Variables at their lower
    bound whose Newton step points outwards are held at the bound. ``converged`` is False
    when the Hessian is not positive definite or no step decreases the deviance, so the
    caller can fall back to the quasi-Newton search.
    """
    x = np.maximum(np.array(x0, dtype=np.float64), lower)
    try:
        f0 = obj(x)
    except ConvergenceError:
        return x, math.inf, np.zeros_like(x), np.eye(x.size), x.copy(), 1, False
    g, H_fd = fd_hessian(obj, x, f0, opts.hessian_step)
    H = H_fd.copy()
    evals = 1 + hessian_evals(x.size)
    x_hess = x.copy()
    for _ in range(opts.newton_maxit):
        free = ~((x <= lower) & (g > 0))
        idx = np.flatnonzero(free)
        step = np.zeros_like(x)
        try:
            cf = np.linalg.cholesky(H[np.ix_(idx, idx)])
        except np.linalg.LinAlgError:
            return x, f0, g, H_fd, x_hess, evals, False
        step[idx] = np.linalg.solve(cf.T, np.linalg.solve(cf, g[idx]))
        decrement = float(g[idx] @ step[idx])  # ≈ 2 × the deviance still to gain
        if decrement < opts.newton_dec_tol or np.max(np.abs(step) / np.maximum(np.abs(x), 1.0)) < opts.newton_xtol:
            return x, f0, g, H_fd, x_hess, evals, True
        t = 1.0
        accepted = False
        for _half in range(8):
            x_new = np.maximum(x - t * step, lower)
            try:
                f_new = obj(x_new)
            except ConvergenceError:
                f_new = math.inf
            evals += 1
            if f_new <= f0:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            # at the optimum up to the noise of the deviance, or a poor Hessian
            small = np.max(np.abs(step) / np.maximum(np.abs(x), 1.0)) < 1e-5
            return x, f0, g, H_fd, x_hess, evals, small
        g_new = fd_grad(obj, x_new, f_new, np.full(x.size, -np.inf), opts.hessian_step)
        evals += 2 * x.size
        # BFGS update of the working Hessian (the finite-difference one is kept for the SEs)
        H = bfgs_update(H, x_new - x, g_new - g, 1e-12)
        x, f0, g = x_new, f_new, g_new
    return x, f0, g, H_fd, x_hess, evals, False


@dataclass
class NewtonStage:
    """Result of :func:`newton_stage`: the optimum, the deviance, gradient and finite-difference
    Hessian there, the evaluations spent and how the stage ended."""

    x: F64
    fun: float
    gradient: F64
    hessian: F64
    nfev: int
    message: str


def newton_stage(obj: Any, x0: F64, lower: F64, probe_step: F64, opts: GLMMOptions, *, failure: str) -> NewtonStage:
    """Minimise ``obj`` from ``x0`` (near the optimum): Newton steps with one finite-difference
    Hessian, accepted when no interior probe near a θ bound is lower (Newton's tests are blind at
    θ = 0, where the gradient along θ vanishes); otherwise the bounded quasi-Newton search, then
    Newton again for the Hessian. The Hessian is recomputed when the optimum moved more than
    ``opts.hessian_refresh`` from where it was taken, and ``obj`` is evaluated last at the optimum
    (so an objective that remembers its last PIRLS result holds the optimum's).

    Raises:
        ConvergenceError: with ``failure`` as the message, when no finite deviance is found.
    """
    x, f0, g, H, x_hess, nfev, ok = newton(obj, x0, lower, opts)
    if ok:
        value = safe_value(obj)
        probes = [0]

        def counted(x_: F64) -> float:
            probes[0] += 1
            return value(x_)

        inside = escape_boundary(counted, x, f0, lower, probe_step, opts)
        nfev += probes[0]
        if inside is not None:
            ok = False
            x = inside
    if ok:
        message = "Newton steps with the finite-difference Hessian converged"
    else:
        st = minimize(obj, x, lower, opts, probe_step)
        nfev += st.nfev
        message = st.message
        if not math.isfinite(st.fun):
            raise ConvergenceError(failure)
        x, f0, g, H, x_hess, evals, _ = newton(obj, st.x, lower, opts)
        nfev += evals
    if np.max(np.abs(x - x_hess) / np.maximum(np.abs(x), 1.0)) > opts.hessian_refresh:
        f0 = obj(x)
        g, H = fd_hessian(obj, x, f0, opts.hessian_step)
        nfev += 1 + hessian_evals(x.size)
    f0 = obj(x)
    return NewtonStage(x, f0, g, H, nfev, message)
