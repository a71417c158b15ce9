"""Mutant: non-adaptive Gauss-Hermite (nodes around 0 with spread tau) where adaptive is asked.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def ghq_loglik(y, X, beta, tau, family, K):
    """Gauss-Hermite with the nodes of N(0, tau^2): gamma_k = sqrt(2) tau t_k."""
    y = np.asarray(y, dtype=float)
    eta0 = np.asarray(X, dtype=float) @ np.asarray(beta, dtype=float)
    t, w = np.polynomial.hermite.hermgauss(K)
    gam = np.sqrt(2) * tau * t
    return float(logsumexp(np.log(w / np.sqrt(np.pi)) + _cond_loglik(gam, y, eta0, family)))
