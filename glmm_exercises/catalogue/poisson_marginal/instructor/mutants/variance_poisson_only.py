"""Mutant: the variance is the Poisson variance E(Y), ignoring the random intercept.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def marginal_mean(x, beta0, beta1, tau2):
    return np.exp(beta0 + beta1 * np.asarray(x, dtype=float) + tau2 / 2)


def marginal_variance(x, beta0, beta1, tau2):
    return marginal_mean(x, beta0, beta1, tau2)
