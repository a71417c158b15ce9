"""Mutant: the mean forgets to average over the random intercept (the 'not mean' curve).

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def marginal_mean(x, beta0, beta1, tau2):
    return np.exp(beta0 + beta1 * np.asarray(x, dtype=float))


def marginal_variance(x, beta0, beta1, tau2):
    mean = np.exp(beta0 + beta1 * np.asarray(x, dtype=float) + tau2 / 2)
    return mean + mean**2 * (np.exp(tau2) - 1)
