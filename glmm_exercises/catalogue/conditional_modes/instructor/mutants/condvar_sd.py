"""Mutant: returns the conditional standard deviations instead of the variances.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def conditional_variances(X, y, cluster, beta, tau, family):
    g, X, y, idx, m, beta = _modes(X, y, cluster, beta, tau, family)
    _, second = _derivatives(g, X, y, idx, m, beta, tau, family)
    return np.sqrt(-1 / second)
