"""Mutant: returns the deviance of the GLM (for 0/1 data, -2 loglik) instead of its AIC.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def binary_glm_aic(X, y, link):
    _beta, ll = _fit_glm(X, y, link)
    return float(-2 * ll)  # the deviance
