"""Mutant: AIC = p - loglik: the factor 2 forgotten.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def binary_glm_aic(X, y, link):
    _beta, ll = _fit_glm(X, y, link)
    return float(np.shape(X)[1] - ll)
