"""Mutant: the Laplace approximation expands around gamma = 0 instead of the mode.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def laplace_loglik(y, X, beta, tau, family):
    """Laplace expansion around gamma = 0 (the prior mean)."""
    y = np.asarray(y, dtype=float)
    eta0 = np.asarray(X, dtype=float) @ np.asarray(beta, dtype=float)
    d2 = _derivs(0.0, y, eta0, tau, family)[1]
    return float(_g(0.0, y, eta0, tau, family) + 0.5 * np.log(2 * np.pi) - 0.5 * np.log(-d2))
