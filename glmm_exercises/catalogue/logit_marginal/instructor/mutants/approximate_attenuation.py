"""Mutant: returns the textbook approximation 1/sqrt(1 + c^2 tau^2) instead of the quadrature derivative.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def not_mean_curve(x, beta0, beta1):
    return expit(beta0 + beta1 * np.asarray(x, dtype=float))


def marginal_probability(x, beta0, beta1, tau2, K):
    t, w = np.polynomial.hermite.hermgauss(K)
    eta = beta0 + beta1 * np.asarray(x, dtype=float)
    return np.sum(w / np.sqrt(np.pi) * expit(eta[..., None] + np.sqrt(2 * tau2) * t), axis=-1)


def attenuation(eta, tau2, K):
    c = 16 * np.sqrt(3) / (15 * np.pi)
    return np.zeros_like(np.asarray(eta, dtype=float)) + 1 / np.sqrt(1 + c**2 * tau2)
