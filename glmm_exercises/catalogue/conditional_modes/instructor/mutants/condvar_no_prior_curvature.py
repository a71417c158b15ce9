"""Mutant: the conditional variance is 1 / sum_j w_ij, without the prior's curvature 1/tau^2.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def conditional_variances(X, y, cluster, beta, tau, family):
    g, X, y, idx, m, beta = _modes(X, y, cluster, beta, tau, family)
    _, second = _derivatives(g, X, y, idx, m, beta, tau, family)
    return -1 / (second + 1 / tau**2)
