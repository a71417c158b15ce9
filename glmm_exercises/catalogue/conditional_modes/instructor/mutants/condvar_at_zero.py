"""Mutant: takes the curvature at gamma = 0 instead of at the mode.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def conditional_variances(X, y, cluster, beta, tau, family):
    _, X, y, idx, m, beta = _modes(X, y, cluster, beta, tau, family)
    _, second = _derivatives(np.zeros(m), X, y, idx, m, beta, tau, family)
    return -1 / second
