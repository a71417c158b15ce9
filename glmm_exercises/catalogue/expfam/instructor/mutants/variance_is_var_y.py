"""Mutant: the variance function returns Var(Y) = mu^2/nu instead of V(mu) = mu^2.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def variance_function(mu, params):
    mu = np.asarray(mu, dtype=float)
    d = _d(params)
    if d in ("bernoulli", "binomial_proportion"):
        return mu * (1 - mu)
    if d == "poisson":
        return mu + 0.0
    if d in ("gamma", "exponential"):
        return mu**2 * dispersion(params)
    if d == "normal":
        return np.ones_like(mu)
    if d == "geometric":
        return mu + mu**2
    if d == "negative_binomial":
        return mu + mu**2 / params["k"]
    if d == "inverse_gaussian":
        return mu**3
    raise ValueError(f"unknown distribution {d!r}")
