"""Ben's solution: runs, but with two classic mistakes."""

import numpy as np


def marginal_mean(x, beta0, beta1, tau2):
    return np.exp(beta0 + beta1 * np.asarray(x, dtype=float) + tau2 / 2)


def marginal_variance(x, beta0, beta1, tau2):
    # forgot the Poisson part E[Var(Y | gamma)]
    mu = marginal_mean(x, beta0, beta1, tau2)
    return mu**2 * (np.exp(tau2) - 1)


def expit(t):
    return 1 / (1 + np.exp(-t))


def not_mean_curve(x, beta0, beta1):
    return expit(beta0 + beta1 * np.asarray(x, dtype=float))


def marginal_probability(x, beta0, beta1, tau2, K):
    # averages over z ~ N(0, 1) but never scales z by tau
    z, w = np.polynomial.hermite_e.hermegauss(K)
    w = w / np.sqrt(2 * np.pi)
    eta = beta0 + beta1 * np.asarray(x, dtype=float)
    return np.sum(w * expit(eta[..., None] + z), axis=-1)


def attenuation(eta, tau2, K):
    z, w = np.polynomial.hermite_e.hermegauss(K)
    w = w / np.sqrt(2 * np.pi)
    p_k = expit(np.asarray(eta, dtype=float)[..., None] + np.sqrt(tau2) * z)
    p = np.sum(w * p_k, axis=-1)
    return np.sum(w * p_k * (1 - p_k), axis=-1) / (p * (1 - p))


def explain_above_not_mean():
    return "Because the random effect adds <noise> to the mean, so it goes up."
