"""Mutant: reads the argument tau as the variance: prior term -gamma^2 / (2 tau).

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def _derivatives(g, X, y, idx, m, beta, tau, family):
    eta = X @ beta + g[idx]
    first = np.bincount(idx, y - _mean(eta, family), m) - g / tau
    second = -np.bincount(idx, _weights(eta, family), m) - 1 / tau
    return first, second
