"""Mutant: the Laplace approximation without the 1/2 log(2 pi) - 1/2 log(curvature) term.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def laplace_loglik(y, X, beta, tau, family):
    """g(mode) + 1/2 log(2 pi) - 1/2 log(-g''(mode))."""
    y = np.asarray(y, dtype=float)
    eta0 = np.asarray(X, dtype=float) @ np.asarray(beta, dtype=float)
    u, _d2 = _mode(y, eta0, tau, family)
    return float(_g(u, y, eta0, tau, family))  # the integrand at its peak
