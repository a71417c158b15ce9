"""Mutant: the probability uses hermgauss weights as they are (they sum to sqrt(pi), not 1).

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def not_mean_curve(x, beta0, beta1):
    return expit(beta0 + beta1 * np.asarray(x, dtype=float))


def marginal_probability(x, beta0, beta1, tau2, K):
    t, w = np.polynomial.hermite.hermgauss(K)
    eta = beta0 + beta1 * np.asarray(x, dtype=float)
    return np.sum(w * expit(eta[..., None] + np.sqrt(2 * tau2) * t), axis=-1)


def attenuation(eta, tau2, K):
    t, w = np.polynomial.hermite.hermgauss(K)
    w = w / np.sqrt(np.pi)
    p_k = expit(np.asarray(eta, dtype=float)[..., None] + np.sqrt(2 * tau2) * t)
    p = np.sum(w * p_k, axis=-1)
    return np.sum(w * p_k * (1 - p_k), axis=-1) / (p * (1 - p))
