"""Mutant: forgets the prior N(0, tau^2): each mode is the cluster's own maximum-likelihood intercept.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def _derivatives(g, X, y, idx, m, beta, tau, family):
    eta = X @ beta + g[idx]
    first = np.bincount(idx, y - _mean(eta, family), m)
    second = -np.bincount(idx, _weights(eta, family), m) - 1e-12
    return first, second
