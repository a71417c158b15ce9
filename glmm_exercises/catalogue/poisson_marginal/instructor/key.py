"""Answer key for poisson-marginal, written the way a student would."""

import numpy as np


def marginal_mean(x, beta0, beta1, tau2):
    """E(Y) = exp(beta0 + beta1 x + tau2 / 2): the normal MGF averages out the random intercept."""
    return np.exp(beta0 + beta1 * np.asarray(x, dtype=float) + tau2 / 2)


def marginal_variance(x, beta0, beta1, tau2):
    """Var(Y) = E(Y) + E(Y)^2 (exp(tau2) - 1), by the law of total variance."""
    mean = marginal_mean(x, beta0, beta1, tau2)
    return mean + mean**2 * (np.exp(tau2) - 1)


def explain_above_not_mean():
    return (
        "E(Y | x) = exp(beta0 + beta1 x) E(exp(gamma)) and, for gamma ~ N(0, tau2), "
        "E(exp(gamma)) = exp(tau2 / 2) > 1 = exp(E(gamma)): exp is convex (Jensen's inequality). "
        "So the marginal mean is the 'not mean' curve times exp(tau2 / 2), above it for every x "
        "whenever tau2 > 0."
    )
