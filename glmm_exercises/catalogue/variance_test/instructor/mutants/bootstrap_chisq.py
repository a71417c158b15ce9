"""Mutant: "bootstraps" by drawing from the asymptotic chi2_1 distribution (no refits, no boundary).

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def null_lrt_draws(X, y, cluster, family, nsim, rng):
    return rng.chisquare(1, nsim)
