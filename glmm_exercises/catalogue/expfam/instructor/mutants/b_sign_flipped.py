"""Mutant: cumulant(theta) of the gamma family has the wrong sign: log(-theta) instead of -log(-theta).

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def cumulant(theta, params):
    t = np.asarray(theta, dtype=float)
    d = _d(params)
    if d in ("bernoulli", "binomial_proportion"):
        return np.logaddexp(0, t)
    if d == "poisson":
        return np.exp(t)
    if d in ("gamma", "exponential"):
        return np.log(-t)
    if d == "normal":
        return t**2 / 2
    if d == "geometric":
        return -np.log(-np.expm1(t))
    if d == "negative_binomial":
        return -params["k"] * np.log(-np.expm1(t))
    if d == "inverse_gaussian":
        return -np.sqrt(-2 * t)
    raise ValueError(f"unknown distribution {d!r}")
