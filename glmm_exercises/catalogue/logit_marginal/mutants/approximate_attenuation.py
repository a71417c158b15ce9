"""Mutant: returns the textbook approximation 1/sqrt(1 + c^2 tau^2) instead of the quadrature derivative."""

import numpy as np


def expit(eta):
    return 1.0 / (1.0 + np.exp(-eta))


def not_mean_curve(x, beta0, beta1):
    return expit(beta0 + beta1 * np.asarray(x, dtype=float))


def marginal_probability(x, beta0, beta1, tau2, K):
    t, w = np.polynomial.hermite.hermgauss(K)
    eta = beta0 + beta1 * np.asarray(x, dtype=float)
    return np.sum(w / np.sqrt(np.pi) * expit(eta[..., None] + np.sqrt(2 * tau2) * t), axis=-1)


def attenuation(eta, tau2, K):
    c = 16 * np.sqrt(3) / (15 * np.pi)
    return np.zeros_like(np.asarray(eta, dtype=float)) + 1 / np.sqrt(1 + c**2 * tau2)
