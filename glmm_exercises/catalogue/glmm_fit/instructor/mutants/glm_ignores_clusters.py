"""Mutant: fits a GLM by IRLS and ignores the clusters (tau = 0).

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""

from scipy import special


def fit_glmm(X, y, cluster, family):
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    beta = np.zeros(X.shape[1])
    for _ in range(100):
        eta = X @ beta
        mu = np.exp(eta) if family == "poisson" else special.expit(eta)
        w = mu if family == "poisson" else mu * (1 - mu)
        step = np.linalg.solve(X.T @ (w[:, None] * X), X.T @ (y - mu))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-12:
            break
    eta = X @ beta
    if family == "poisson":
        loglik = float(np.sum(y * eta - np.exp(eta) - special.gammaln(y + 1)))
    else:
        loglik = float(np.sum(y * eta - np.logaddexp(0.0, eta)))
    return {"beta": beta, "tau": 0.0, "loglik": loglik, "aic": -2 * loglik + 2 * (X.shape[1] + 1)}
