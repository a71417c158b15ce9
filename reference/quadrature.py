"""Gauss–Hermite quadrature for one-dimensional random effects.

Three pieces, used by the GLMM fitter (:mod:`reference.glmm`) and by the teaching
primitives (:mod:`reference.marginal`):

* :func:`gauss_hermite` — the probabilists' rule: nodes ``z`` and log weights ``log w``
  with ``∫ φ(z) f(z) dz ≈ Σ_k w_k f(z_k)``, ``φ`` the standard normal density and
  ``Σ_k w_k = 1``. Rules are computed once per ``k`` and cached (read-only arrays).
* :func:`adaptive_log_integral` — adaptive Gauss–Hermite quadrature (AGHQ) of
  ``log ∫ exp(logf_i(u)) du`` for many clusters at once, with nodes placed at
  ``u = mode_i + scale_i·z_k``. With ``k = 1`` this is exactly the Laplace approximation.
* :func:`nonadaptive_log_integral` — the plain rule for ``∫ exp(ℓ(γ)) φ(γ; 0, σ²) dγ``,
  kept as the teaching contrast to the adaptive rule.

All integrals are returned on the log scale and summed with log-sum-exp, so clusters whose
conditional likelihood underflows (large clusters, extreme responses) stay finite.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import logsumexp, roots_hermitenorm

from reference.errors import ModelInputError

__all__ = [
    "HALF_LOG_2PI",
    "QuadratureError",
    "adaptive_log_integral",
    "adaptive_log_integral_unchecked",
    "gauss_hermite",
    "nonadaptive_log_integral",
]

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

#: Largest number of nodes accepted. Far beyond any practical need (lme4 stops at 25).
MAX_NODES = 1000

LogIntegrand = Callable[[NDArray[np.float64]], NDArray[np.float64]]


class QuadratureError(ModelInputError):
    """The quadrature request is malformed (bad number of nodes, bad mode/scale shapes or values)."""


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise QuadratureError(f"number of quadrature nodes must be an integer, got {k!r}; pass e.g. k=25")
    if not 1 <= int(k) <= MAX_NODES:
        raise QuadratureError(
            f"number of quadrature nodes must be between 1 and {MAX_NODES}, got {k}; "
            "use k=1 for the Laplace approximation or k between 5 and 25 for AGHQ"
        )
    return int(k)


def _orthonormal_tail(x: NDArray[np.float64], k: int) -> tuple[NDArray, NDArray, NDArray]:
    """Evaluate p_{k-1}(x), p_k(x) of the orthonormal probabilists' Hermite polynomials.

    ``p_n = He_n / sqrt(n!)`` satisfies ``p_{n+1} = (x p_n − sqrt(n) p_{n−1}) / sqrt(n+1)``.
    The pair is rescaled whenever it grows large; the common log scale is returned, so
    ``p_{k-1}(x) = prev · exp(log_scale)`` without overflow even for large ``k`` and ``|x|``.
    """
    prev = np.zeros_like(x)
    cur = np.ones_like(x)
    log_scale = np.zeros_like(x)
    for n in range(k):
        nxt = (x * cur - math.sqrt(n) * prev) / math.sqrt(n + 1)
        prev, cur = cur, nxt
        big = np.abs(cur) > 1e100
        if np.any(big):
            factor = np.where(big, np.abs(cur), 1.0)
            prev = prev / factor
            cur = cur / factor
            log_scale = log_scale + np.log(factor)
    return prev, cur, log_scale


@lru_cache(maxsize=64)
def _rule(k: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if k == 1:
        z = np.zeros(1)
        logw = np.zeros(1)
    else:
        z, _ = roots_hermitenorm(k)
        z = np.asarray(z, dtype=np.float64)
        # Two Newton steps on p_k polish the nodes: p_k' = sqrt(k) p_{k-1}.
        for _ in range(2):
            prev, cur, _scale = _orthonormal_tail(z, k)
            z = z - cur / (math.sqrt(k) * prev)
        # Exact symmetry: average each node with the mirror of its partner.
        z = 0.5 * (z - z[::-1])
        if k % 2 == 1:
            z[k // 2] = 0.0
        # Christoffel weight for the normalised measure: w = 1 / (k p_{k-1}(z)^2).
        prev, _cur, log_scale = _orthonormal_tail(z, k)
        logw = -math.log(k) - 2.0 * (np.log(np.abs(prev)) + log_scale)
        # Remove the last rounding-level drift so Σ w = 1 to machine precision.
        logw = logw - logsumexp(logw)
        logw = 0.5 * (logw + logw[::-1])
    z.setflags(write=False)
    logw.setflags(write=False)
    return z, logw


def gauss_hermite(k: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Nodes and log weights of the ``k``-point probabilists' Gauss–Hermite rule.

    The rule integrates against the standard normal density:
    ``∫ φ(z) f(z) dz ≈ Σ_j exp(logw[j]) · f(z[j])``, exact when ``f`` is a polynomial of
    degree at most ``2k − 1``; the weights sum to one. Nodes are sorted increasingly and
    symmetric about zero. The arrays are cached and read-only (copy before modifying).

    Args:
        k: number of nodes, 1 ≤ k ≤ 1000 (k = 1 gives the single node 0 with weight 1).

    Returns:
        ``(z, logw)``, both float64 arrays of length ``k``.

    Raises:
        QuadratureError: if ``k`` is not an integer in the accepted range.
    """
    return _rule(_check_k(k))


def _as_cluster_vector(name: str, value: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim > 1:
        raise QuadratureError(f"{name} must be a scalar or a 1-D array (one value per cluster), got shape {arr.shape}")
    arr = np.atleast_1d(arr)
    if not np.all(np.isfinite(arr)):
        raise QuadratureError(f"{name} holds NaN or infinite values; check the conditional-mode search")
    return arr


def _evaluate(logf: LogIntegrand, u: NDArray[np.float64]) -> NDArray[np.float64]:
    values = np.asarray(logf(u), dtype=np.float64)
    try:
        return np.broadcast_to(values, u.shape)
    except ValueError:
        raise QuadratureError(
            f"logf returned shape {values.shape} for nodes of shape {u.shape}; "
            "it must return one log-integrand value per node (same shape as its input)"
        ) from None


def adaptive_log_integral(
    logf: LogIntegrand, mode: ArrayLike, scale: ArrayLike, k: int
) -> NDArray[np.float64]:
    """Adaptive Gauss–Hermite approximation of ``log ∫ exp(logf_i(u)) du`` for each cluster ``i``.

    The integrand is rewritten around a normal density centred at ``mode_i`` with standard
    deviation ``scale_i``: with nodes ``u_ik = mode_i + scale_i·z_k``,

        log ∫ exp(logf_i(u)) du ≈ log(scale_i)
            + logsumexp_k( log w_k + logf_i(u_ik) + z_k²/2 + ½ log(2π) ).

    The rule is exact when ``exp(logf_i)`` is a normal density times a polynomial of degree
    at most ``2k − 1`` in ``u``; it is most accurate when ``mode_i`` is the maximiser of
    ``logf_i`` and ``scale_i = (−d²logf_i/du²)^(−1/2)`` there.

    **Laplace approximation.** With ``k = 1`` the single node is ``z = 0`` with weight 1,
    so the result is ``logf_i(mode_i) + ½ log(2π) + log(scale_i)``, which with the scale above is
    the textbook Laplace formula ``logf(û) + ½ log(2π) − ½ log(−logf''(û))``.

    Args:
        logf: maps an array of ``u`` values shaped ``(n_clusters, k)`` — row ``i`` holds the
            nodes of cluster ``i`` — to the log integrand at those values, same shape
            (values that broadcast to that shape are accepted).
        mode: centre per cluster, scalar or shape ``(n_clusters,)``.
        scale: positive spread per cluster, scalar or shape ``(n_clusters,)``.
        k: number of nodes (1 = Laplace; lme4 allows up to 25).

    Returns:
        Array of shape ``(n_clusters,)`` with the log integrals.

    Raises:
        QuadratureError: bad ``k``, non-finite mode or scale, non-positive scale, or a
            ``logf`` result that does not match the node array.
    """
    k = _check_k(k)
    mode_arr = _as_cluster_vector("mode", mode)
    scale_arr = _as_cluster_vector("scale", scale)
    if np.any(scale_arr <= 0.0):
        raise QuadratureError("scale must be positive: pass (−d²logf/du²)^(−1/2) at the mode")
    try:
        mode_arr, scale_arr = np.broadcast_arrays(mode_arr, scale_arr)
    except ValueError:
        raise QuadratureError(
            f"mode (length {mode_arr.size}) and scale (length {scale_arr.size}) must have one value per cluster"
        ) from None

    def checked(u: NDArray[np.float64]) -> NDArray[np.float64]:
        return _evaluate(logf, u)

    return adaptive_log_integral_unchecked(checked, mode_arr, scale_arr, k)


def adaptive_log_integral_unchecked(
    logf: LogIntegrand, mode: NDArray[np.float64], scale: NDArray[np.float64], k: int
) -> NDArray[np.float64]:
    """:func:`adaptive_log_integral` without input validation, for trusted internal callers.

    For callers inside an optimisation loop (the GLMM deviance), where the checks cost more
    than the arithmetic at small sizes. The caller guarantees: ``k`` an int in 1..1000,
    ``mode`` and ``scale`` finite float64 1-D arrays of equal length, ``scale > 0``, and
    ``logf`` returning an array of exactly the node array's shape ``(n_clusters, k)``.
    """
    z, logw = _rule(k)
    if k == 1:
        # one node z = 0 with weight 1: the log-sum-exp of a single term is the term itself
        return np.log(scale) + logf(mode[:, None])[:, 0] + HALF_LOG_2PI
    u = mode[:, None] + scale[:, None] * z[None, :]
    terms = logw + logf(u) + 0.5 * z * z + HALF_LOG_2PI
    return np.log(scale) + _logsumexp_rows(terms)


def nonadaptive_log_integral(loglik: LogIntegrand, sigma: ArrayLike, k: int) -> NDArray[np.float64]:
    """Plain Gauss–Hermite approximation of ``log ∫ exp(loglik_i(γ)) φ(γ; 0, σ_i²) dγ``.

    The nodes ``γ_k = σ_i·z_k`` ignore where the conditional likelihood lives, so the rule
    needs many nodes (and fails for large clusters or large ``σ``, where the likelihood is a
    narrow spike between nodes). It is kept to contrast with :func:`adaptive_log_integral`.

    Args:
        loglik: maps ``γ`` values shaped ``(n_clusters, k)`` (``n_clusters`` = length of
            ``sigma``) to the conditional log-likelihood of each cluster, same shape or
            broadcastable to ``(n, k)`` (a scalar ``sigma`` with an ``loglik`` returning
            ``(n, k)`` gives ``n`` clusters).
        sigma: standard deviation of the random effect, ``≥ 0``, scalar or one per cluster.
        k: number of nodes.

    Returns:
        Array of shape ``(n_clusters,)`` with the log integrals.
    """
    z, logw = gauss_hermite(k)
    sigma_arr = _as_cluster_vector("sigma", sigma)
    if np.any(sigma_arr < 0.0):
        raise QuadratureError("sigma must be non-negative: it is the standard deviation of the random effect")
    gamma = sigma_arr[:, None] * z[None, :]
    values = np.asarray(loglik(gamma), dtype=np.float64)
    if values.ndim == 0 or values.shape[-1] not in (1, z.size):
        raise QuadratureError(
            f"loglik returned shape {values.shape} for nodes of shape {gamma.shape}; "
            "it must return one value per node"
        )
    values = np.broadcast_to(values, np.broadcast_shapes(values.shape, gamma.shape))
    return _logsumexp_rows(logw + values)


def _logsumexp_rows(terms: NDArray[np.float64]) -> NDArray[np.float64]:
    """Row-wise log-sum-exp; a row that is all −inf gives −inf (a zero integral), NaN stays NaN."""
    top = np.max(terms, axis=-1)
    finite_top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        out = finite_top + np.log(np.sum(np.exp(terms - finite_top[..., None]), axis=-1))
    return np.where(np.isneginf(top), -np.inf, np.where(np.isposinf(top), np.inf, out))
