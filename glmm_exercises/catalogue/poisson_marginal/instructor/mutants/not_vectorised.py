"""Mutant: correct formulas written with the math module, so arrays of x do not work.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""

import math


def marginal_mean(x, beta0, beta1, tau2):
    return math.exp(beta0 + beta1 * x + tau2 / 2)


def marginal_variance(x, beta0, beta1, tau2):
    mean = marginal_mean(x, beta0, beta1, tau2)
    return mean + mean**2 * (math.exp(tau2) - 1)
