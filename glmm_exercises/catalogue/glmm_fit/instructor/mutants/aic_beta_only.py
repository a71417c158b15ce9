"""Mutant: the AIC counts only the fixed effects, not tau.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def fit_glmm(X, y, cluster, family):
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    labels, idx = np.unique(np.asarray(cluster), return_inverse=True)
    m, p = len(labels), X.shape[1]

    def objective(theta):
        return -laplace_loglik(theta[:p], np.exp(theta[p]), X, y, idx, m, family)

    start = np.zeros(p + 1)
    best = optimize.minimize(objective, start, method="BFGS", options={"gtol": 1e-9})
    best = optimize.minimize(objective, best.x, method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    beta, tau = best.x[:p], float(np.exp(best.x[p]))
    loglik = -float(best.fun)
    return {"beta": beta, "tau": tau, "loglik": loglik, "aic": -2 * loglik + 2 * p}
