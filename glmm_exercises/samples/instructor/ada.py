"""Ada's solution: both exercises."""

import numpy as np


def marginal_mean(x, beta0, beta1, tau2):
    # E(Y) = E[exp(eta + gamma)] = exp(eta) E[exp(gamma)] = exp(eta + tau2 / 2)
    eta = beta0 + beta1 * np.asarray(x, dtype=float)
    return np.exp(eta + 0.5 * tau2)


def marginal_variance(x, beta0, beta1, tau2):
    # total variance: E[Var(Y|g)] + Var[E(Y|g)] = mu + mu^2 (e^tau2 - 1)
    mu = marginal_mean(x, beta0, beta1, tau2)
    return mu + mu * mu * np.expm1(tau2)


def _logistic(t):
    return 1.0 / (1.0 + np.exp(-t))


def not_mean_curve(x, beta0, beta1):
    return _logistic(beta0 + beta1 * np.asarray(x, dtype=float))


def _nodes(K):
    # probabilists' Hermite rule: weight exp(-z^2 / 2), weights sum to sqrt(2 pi)
    z, w = np.polynomial.hermite_e.hermegauss(K)
    return z, w / w.sum()


def marginal_probability(x, beta0, beta1, tau2, K):
    z, w = _nodes(K)
    eta = beta0 + beta1 * np.asarray(x, dtype=float)
    return _logistic(eta[..., None] + np.sqrt(tau2) * z) @ w


def attenuation(eta, tau2, K):
    z, w = _nodes(K)
    p_k = _logistic(np.asarray(eta, dtype=float)[..., None] + np.sqrt(tau2) * z)
    p = p_k @ w
    return (p_k * (1.0 - p_k)) @ w / (p * (1.0 - p))


def explain_above_not_mean():
    return """exp is convex, so by Jensen's inequality E[exp(eta + gamma)] > exp(E[eta + gamma]) = exp(eta).
The random effect's spread lifts the mean by the factor exp(tau2 / 2) > 1 at every x."""
