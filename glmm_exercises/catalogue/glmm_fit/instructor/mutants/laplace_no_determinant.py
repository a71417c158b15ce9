"""Mutant: the Laplace approximation without the determinant term -1/2 log(1 + tau^2 sum w).

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def laplace_loglik(beta, tau, X, y, idx, m, family):
    """Laplace approximation of the marginal log-likelihood of the random-intercept GLMM."""
    eta0 = X @ beta
    u = np.zeros(m)
    for _ in range(200):  # Newton's method for every cluster's mode at once
        eta = eta0 + u[idx]
        grad = np.bincount(idx, y - _mean(eta, family), m) - u / tau**2
        hess = np.bincount(idx, _weights(eta, family), m) + 1 / tau**2
        step = np.clip(grad / hess, -2.0, 2.0)
        u = u + step
        if np.max(np.abs(step)) < 1e-12:
            break
    eta = eta0 + u[idx]
    hess = np.bincount(idx, _weights(eta, family), m) + 1 / tau**2
    return np.sum(_loglik_obs(y, eta, family)) - np.sum(u**2) / (2 * tau**2)


def fit_glmm(X, y, cluster, family):
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    labels, idx = np.unique(np.asarray(cluster), return_inverse=True)
    m, p = len(labels), X.shape[1]

    def objective(theta):
        return -laplace_loglik(theta[:p], np.exp(theta[p]), X, y, idx, m, family)

    start = np.zeros(p + 1)
    best = optimize.minimize(objective, start, method="L-BFGS-B", bounds=[(-20, 20)] * p + [(-5, 3)])

    beta, tau = best.x[:p], float(np.exp(best.x[p]))
    loglik = -float(best.fun)
    return {"beta": beta, "tau": tau, "loglik": loglik, "aic": -2 * loglik + 2 * (p + 1)}
