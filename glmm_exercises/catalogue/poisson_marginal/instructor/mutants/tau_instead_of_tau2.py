"""Mutant: uses the standard deviation tau where the variance tau^2 belongs.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def marginal_mean(x, beta0, beta1, tau2):
    tau = np.sqrt(tau2)
    return np.exp(beta0 + beta1 * np.asarray(x, dtype=float) + tau / 2)


def marginal_variance(x, beta0, beta1, tau2):
    tau = np.sqrt(tau2)
    mean = marginal_mean(x, beta0, beta1, tau2)
    return mean + mean**2 * (np.exp(tau) - 1)
