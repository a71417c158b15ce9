"""Mutant: returns the 'not mean' curve as the population probability (no averaging over gamma).

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def not_mean_curve(x, beta0, beta1):
    return 1.0 / (1.0 + np.exp(-(beta0 + beta1 * np.asarray(x, dtype=float))))


def marginal_probability(x, beta0, beta1, tau2, K):
    return not_mean_curve(x, beta0, beta1)


def attenuation(eta, tau2, K):
    # the slope of logit(expit(eta)) is 1
    return np.ones_like(np.asarray(eta, dtype=float)) if np.ndim(eta) else 1.0
