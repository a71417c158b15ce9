"""Answer key for beaches-solutions, written the way a student would (numpy/scipy only)."""

import numpy as np
from scipy import optimize, special


def poisson_glm(X, y):
    """Poisson GLM with log link by IRLS; returns the coefficients and their standard errors."""
    beta = np.zeros(X.shape[1])
    beta[0] = np.log(y.mean())
    for _ in range(100):
        mu = np.exp(X @ beta)
        step = np.linalg.solve(X.T @ (mu[:, None] * X), X.T @ (y - mu))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-12:
            break
    mu = np.exp(X @ beta)
    cov = np.linalg.inv(X.T @ (mu[:, None] * X))
    return beta, np.sqrt(np.diag(cov))


def laplace_loglik(theta, X, y, idx, m):
    """Laplace log-likelihood of the Poisson random-intercept model at theta = (beta, log tau)."""
    p = X.shape[1]
    beta, tau = theta[:p], np.exp(theta[p])
    eta0 = X @ beta
    u = np.zeros(m)
    for _ in range(200):
        mu = np.exp(eta0 + u[idx])
        step = (np.bincount(idx, y - mu, m) - u / tau**2) / (np.bincount(idx, mu, m) + 1 / tau**2)
        step = np.clip(step, -2.0, 2.0)
        u = u + step
        if np.max(np.abs(step)) < 1e-13:
            break
    eta = eta0 + u[idx]
    hess = np.bincount(idx, np.exp(eta), m) + 1 / tau**2
    loglik = np.sum(y * eta - np.exp(eta) - special.gammaln(y + 1))
    return loglik - np.sum(u**2) / (2 * tau**2) - 0.5 * np.sum(np.log(tau**2 * hess))


def hessian(f, x, rel=1e-4):
    """Central finite-difference Hessian of f at x."""
    h = rel * np.maximum(np.abs(x), 1.0)
    n = x.size
    H = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.eye(n)[i] * h[i], np.eye(n)[j] * h[j]
            H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h[i] * h[j])
    return H


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
        "se_pooled": float(se_pooled[1]),
        "se_fixed": float(se_fixed[1]),
        "se_random": se_random,
        "se_ratio": se_random / float(se_pooled[1]),
    }


# the correct option of each question, recognised by its wording
KEY_PHRASES = {
    "why_random": "sample from a population of beaches",
    "pooled_se": "samples from the same beach are correlated",
    "extra_fixed": "only B − 1 beach effects are identifiable",
    "random_params": "One: the variance",
}


def beaches_answers(options):
    out = {}
    for question, texts in options.items():
        for i, text in enumerate(texts):
            if KEY_PHRASES[question] in text:
                out[question] = "ABCD"[i]
    return out


def explain_se_choice():
    return (
        "The pooled GLM treats the samples of a beach as independent, so its SE of NAP is too small. "
        "The fixed-factor model and the random-intercept model both account for the beaches; the "
        "random-intercept SE is the one to report, because the beaches are a sample from a "
        "population of beaches and the inference should be about that population."
    )
