"""Mutant: refits the observed response every time (nothing is simulated), so every "replicate" is the LRT.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def null_lrt_draws(X, y, cluster, family, nsim, rng):
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    lrt = _lrt(X, y, np.asarray(cluster), family)[0]
    return np.full(nsim, lrt)
