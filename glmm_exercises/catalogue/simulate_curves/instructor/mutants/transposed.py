"""Mutant: the curves come back as a len(x) x m array (one column per cluster); the mean is right.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def cluster_curves(x, beta0, beta1, tau0, tau1, link, m, rng):
    x = np.asarray(x, dtype=float)
    gamma0 = rng.normal(0.0, tau0, size=m)
    gamma1 = rng.normal(0.0, tau1, size=m)
    eta = x[:, None] * (beta1 + gamma1)[None, :] + (beta0 + gamma0)[None, :]
    return np.exp(eta) if link == "log" else 1.0 / (1.0 + np.exp(-eta))


def population_mean_curve(x, beta0, beta1, tau0, tau1, link, m, rng):
    return cluster_curves(x, beta0, beta1, tau0, tau1, link, m, rng).mean(axis=1)
