"""Mutant: simulates the new responses from the fitted GLMM (the alternative), not from the GLM (H0).

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def null_lrt_draws(X, y, cluster, family, nsim, rng):
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    labels, idx = np.unique(np.asarray(cluster), return_inverse=True)
    m, p = len(labels), X.shape[1]
    beta0, _ = glm_fit(X, y, family)
    fit = optimize.minimize(lambda t: -laplace_loglik(t[:p], t[p], X, y, idx, m, family), np.append(beta0, 0.5),
                            method="L-BFGS-B", bounds=[(None, None)] * p + [(0.0, 20.0)])
    beta, tau = fit.x[:p], fit.x[p]
    draws = []
    for _ in range(nsim):
        gamma = rng.normal(0.0, tau, m)
        mu = _mean(X @ beta + gamma[idx], family)
        y_star = rng.poisson(mu).astype(float) if family == "poisson" else (rng.uniform(size=mu.size) < mu).astype(float)
        draws.append(_lrt(X, y_star, np.asarray(cluster), family)[0])
    return np.array(draws)
