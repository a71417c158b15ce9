"""Mutant: one random intercept and slope drawn once and shared by every cluster.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def cluster_curves(x, beta0, beta1, tau0, tau1, link, m, rng):
    x = np.asarray(x, dtype=float)
    gamma0 = rng.normal(0.0, tau0)
    gamma1 = rng.normal(0.0, tau1)
    eta = np.tile(beta0 + gamma0 + (beta1 + gamma1) * x, (m, 1))
    return np.exp(eta) if link == "log" else 1.0 / (1.0 + np.exp(-eta))
