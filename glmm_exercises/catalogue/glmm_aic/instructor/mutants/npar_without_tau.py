"""Mutant: counts only the fixed effects as parameters of the GLMM (tau forgotten).

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def n_parameters(X, cluster):
    return X.shape[1]
