"""Mutant: stops after one Newton step from 0 (not iterated to the mode).

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def _modes(X, y, cluster, beta, tau, family):
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    beta = np.asarray(beta, dtype=float)
    labels, idx = np.unique(np.asarray(cluster), return_inverse=True)
    m = len(labels)
    g = np.zeros(m)
    first, second = _derivatives(g, X, y, idx, m, beta, tau, family)
    g = g - first / second
    return g, X, y, idx, m, beta
