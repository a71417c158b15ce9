"""Mutant: the AIC is -2 log L, without the penalty.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def criteria(loglik, k, n):
    return {"aic": -2 * loglik, "bic": -2 * loglik + np.log(n) * k}
