"""Mutant: reports the pooled and the random-intercept SEs under each other's names.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def beaches_numbers(data):
    y = data["Richness"].to_numpy(dtype=float)
    nap = data["NAP"].to_numpy(dtype=float)
    beaches, idx = np.unique(data["Beach"].to_numpy(), return_inverse=True)
    B = len(beaches)
    X = np.column_stack([np.ones_like(y), nap])

    # 1. pooled GLM
    _, se_pooled = poisson_glm(X, y)
    # 2. beach as a factor, sum contrasts: column j is +1 for beach j, -1 for the last beach
    contrasts = np.vstack([np.eye(B - 1), -np.ones(B - 1)])
    X_fixed = np.column_stack([X, contrasts[idx]])
    coef_fixed, se_fixed = poisson_glm(X_fixed, y)
    # 3. random intercept: maximise the Laplace likelihood, SEs from the Hessian over (beta, log tau)
    def objective(theta):
        return -laplace_loglik(theta, X, y, idx, B)

    start = np.append(poisson_glm(X, y)[0], np.log(0.5))
    fit = optimize.minimize(objective, start, method="BFGS", options={"gtol": 1e-9})
    fit = optimize.minimize(objective, fit.x, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 20000})
    cov = np.linalg.inv(hessian(objective, fit.x))
    se_random = float(np.sqrt(cov[1, 1]))

    return {
        "extra_parameters": float(X_fixed.shape[1] - X.shape[1]),
        "intercept_fixed": float(coef_fixed[0]),
        "se_pooled": se_random,
        "se_fixed": float(se_fixed[1]),
        "se_random": float(se_pooled[1]),
        "se_ratio": float(se_pooled[1]) / se_random,
    }
