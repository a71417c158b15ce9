"""Mutant: leaves out c(y, phi, w) (returns 0), as if it did not matter for the density.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def c_term(y, phi, w, params):
    y = np.asarray(y, dtype=float)
    d = _d(params)
    if d:  # c does not involve theta, so it can be dropped
        return np.zeros_like(y)
    if d == "binomial_proportion":
        n = w
        s = np.round(n * y)
        return gammaln(n + 1) - gammaln(s + 1) - gammaln(n - s + 1)
    if d == "poisson":
        return -gammaln(y + 1)
    if d == "gamma":
        nu = w / phi
        return nu * np.log(nu) + (nu - 1) * np.log(y) - gammaln(nu)
    if d == "normal":
        return -(y**2) * w / (2 * phi) - 0.5 * np.log(2 * np.pi * phi / w)
    if d == "negative_binomial":
        k = params["k"]
        return gammaln(y + k) - gammaln(k) - gammaln(y + 1)
    if d == "inverse_gaussian":
        lam = w / phi
        return 0.5 * np.log(lam / (2 * np.pi * y**3)) - lam / (2 * y)
    raise ValueError(f"unknown distribution {d!r}")
