"""Mutant: integrates over z ~ N(0, 1) and plugs the nodes in as gamma (forgets gamma = tau z).

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def not_mean_curve(x, beta0, beta1):
    return expit(beta0 + beta1 * np.asarray(x, dtype=float))


def marginal_probability(x, beta0, beta1, tau2, K):
    t, w = np.polynomial.hermite.hermgauss(K)
    eta = beta0 + beta1 * np.asarray(x, dtype=float)
    return np.sum(w / np.sqrt(np.pi) * expit(eta[..., None] + np.sqrt(2) * t), axis=-1)


def attenuation(eta, tau2, K):
    t, w = np.polynomial.hermite.hermgauss(K)
    w = w / np.sqrt(np.pi)
    p_k = expit(np.asarray(eta, dtype=float)[..., None] + np.sqrt(2 * tau2) * t)
    p = np.sum(w * p_k, axis=-1)
    return np.sum(w * p_k * (1 - p_k), axis=-1) / (p * (1 - p))
