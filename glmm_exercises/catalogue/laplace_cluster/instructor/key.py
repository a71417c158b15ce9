"""Answer key for laplace-cluster, written the way a student would."""

import numpy as np
from scipy.special import gammaln, logsumexp


def _cond_loglik(u, y, eta0, family):
    """sum_j log f(y_j | gamma = u) for an array of u values (Poisson log link or binary logit)."""
    eta = eta0[None, :] + np.asarray(u, dtype=float).reshape(-1, 1)
    if family == "poisson":
        ll = y * eta - np.exp(eta) - gammaln(y + 1)
    elif family == "binomial":
        ll = y * eta - np.logaddexp(0.0, eta)  # log(1 + e^eta) without overflow
    else:
        raise ValueError(f"unknown family {family!r}; use 'poisson' or 'binomial'")
    return ll.sum(axis=1)


def _g(u, y, eta0, tau, family):
    """log of the integrand f(y | u) phi(u; 0, tau^2)."""
    u = np.asarray(u, dtype=float)
    prior = -0.5 * (u / tau) ** 2 - np.log(tau) - 0.5 * np.log(2 * np.pi)
    return _cond_loglik(u, y, eta0, family).reshape(u.shape) + prior


def _derivs(u, y, eta0, tau, family):
    eta = eta0 + u
    if family == "poisson":
        mu = np.exp(eta)
        var = mu
    else:
        mu = 1.0 / (1.0 + np.exp(-eta))
        var = mu * (1 - mu)
    # canonical links: d loglik / d eta = y - mu, second derivative -V(mu)
    return np.sum(y - mu) - u / tau**2, -np.sum(var) - 1 / tau**2


def _mode(y, eta0, tau, family):
    """Newton's method with step halving (g is concave in u)."""
    u = 0.0
    gu = _g(u, y, eta0, tau, family)
    for _ in range(200):
        d1, d2 = _derivs(u, y, eta0, tau, family)
        step = -d1 / d2
        while True:
            new = u + step
            g_new = _g(new, y, eta0, tau, family)
            if g_new >= gu - 1e-12 * abs(gu) or abs(step) < 1e-14:
                break
            step /= 2
        u, gu = new, g_new
        if abs(step) < 1e-12 * max(1.0, abs(u)):
            break
    return u, _derivs(u, y, eta0, tau, family)[1]


def laplace_loglik(y, X, beta, tau, family):
    """g(mode) + 1/2 log(2 pi) - 1/2 log(-g''(mode))."""
    y = np.asarray(y, dtype=float)
    eta0 = np.asarray(X, dtype=float) @ np.asarray(beta, dtype=float)
    u, d2 = _mode(y, eta0, tau, family)
    return float(_g(u, y, eta0, tau, family) + 0.5 * np.log(2 * np.pi) - 0.5 * np.log(-d2))


def ghq_loglik(y, X, beta, tau, family, K):
    """Adaptive Gauss-Hermite: nodes mode + sqrt(2) sigma t_k (physicists' rule)."""
    y = np.asarray(y, dtype=float)
    eta0 = np.asarray(X, dtype=float) @ np.asarray(beta, dtype=float)
    u, d2 = _mode(y, eta0, tau, family)
    sigma = 1 / np.sqrt(-d2)
    t, w = np.polynomial.hermite.hermgauss(K)
    nodes = u + np.sqrt(2) * sigma * t
    # integral = sqrt(2) sigma sum_k w_k exp(t_k^2) exp(g(node_k))
    return float(np.log(np.sqrt(2) * sigma) + logsumexp(np.log(w) + t**2 + _g(nodes, y, eta0, tau, family)))
