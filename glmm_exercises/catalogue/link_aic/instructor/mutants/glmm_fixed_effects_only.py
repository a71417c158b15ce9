"""Mutant: the GLMM AIC counts only the fixed effects (tau^2 not counted).

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def glmm_aic(X, y, cluster):
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    _labels, groups = np.unique(np.asarray(cluster), return_inverse=True)
    n_groups = groups.max() + 1
    beta0, _ll = _fit_glm(X, y, "logit")

    def objective(par):
        return -_laplace_loglik(par[:-1], par[-1], X, y, groups, n_groups)

    best = None
    for tau0 in (0.5, 2.0):  # two starts: the likelihood can be flat in tau
        res = minimize(objective, np.append(beta0, tau0), method="BFGS", options={"gtol": 1e-7})
        res = minimize(objective, res.x, method="BFGS", options={"gtol": 1e-9})  # restart: fresh Hessian
        if best is None or res.fun < best.fun:
            best = res
    return float(2 * best.fun + 2 * X.shape[1])
