"""Mutant: the gamma canonical link is returned as theta = -1/mu, against the stated convention.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def canonical_link(mu, params):
    mu = np.asarray(mu, dtype=float)
    d = _d(params)
    if d in ("gamma", "exponential"):
        return -1 / mu
    if d == "inverse_gaussian":
        return 1 / mu**2  # theta = -1/(2 mu^2); constant factor dropped
    return canonical_parameter(mu, params)
