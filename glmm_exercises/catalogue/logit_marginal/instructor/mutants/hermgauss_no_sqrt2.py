"""Mutant: uses numpy's hermgauss nodes without the factor sqrt(2) (weights divided by sqrt(pi)).

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def not_mean_curve(x, beta0, beta1):
    return expit(beta0 + beta1 * np.asarray(x, dtype=float))


def _rule(K):
    t, w = np.polynomial.hermite.hermgauss(K)
    return t, w / np.sqrt(np.pi)


def marginal_probability(x, beta0, beta1, tau2, K):
    z, w = _rule(K)
    eta = beta0 + beta1 * np.asarray(x, dtype=float)
    return np.sum(w * expit(eta[..., None] + np.sqrt(tau2) * z), axis=-1)


def attenuation(eta, tau2, K):
    z, w = _rule(K)
    p_k = expit(np.asarray(eta, dtype=float)[..., None] + np.sqrt(tau2) * z)
    p = np.sum(w * p_k, axis=-1)
    return np.sum(w * p_k * (1 - p_k), axis=-1) / (p * (1 - p))
