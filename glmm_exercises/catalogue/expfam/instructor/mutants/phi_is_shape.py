"""Mutant: the gamma dispersion is taken as the shape nu instead of 1/nu.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def dispersion(params):
    d = _d(params)
    if d == "gamma":
        return float(params["shape"])
    if d == "normal":
        return float(params["sigma2"])
    if d == "inverse_gaussian":
        return 1 / params["lam"]
    return 1.0
