"""Answer key for link-aic, written the way a student would (numpy and scipy only)."""

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from scipy.stats import norm

LINKS = ("logit", "probit", "cloglog")


def _inverse_link(eta, link):
    """mu, d mu / d eta, log mu and log(1 - mu) for the three binary links."""
    if link == "logit":
        mu = expit(eta)
        return mu, mu * (1 - mu), log_expit(eta), log_expit(-eta)
    if link == "probit":
        return norm.cdf(eta), norm.pdf(eta), norm.logcdf(eta), norm.logcdf(-eta)
    if link == "cloglog":
        e = np.exp(np.minimum(eta, 700))
        log1m = -e  # log(1 - mu) = -exp(eta)
        mu = -np.expm1(-e)
        return mu, e * np.exp(-e), np.log(-np.expm1(-e)), log1m
    raise ValueError(f"unknown link {link!r}; use 'logit', 'probit' or 'cloglog'")


def _loglik(eta, y, link):
    _mu, _d, log_mu, log_1m = _inverse_link(eta, link)
    return np.sum(y * log_mu + (1 - y) * log_1m)


def _link(mu, link):
    if link == "logit":
        return np.log(mu / (1 - mu))
    if link == "probit":
        return norm.ppf(mu)
    return np.log(-np.log1p(-mu))


def _fit_glm(X, y, link):
    """IRLS from R's starting values mu = (y + 1/2)/2, with step halving; returns beta and max loglik."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    eta = _link((y + 0.5) / 2, link)
    beta, ll = None, -np.inf
    for _ in range(100):
        mu, d, _lm, _l1m = _inverse_link(eta, link)
        var = np.maximum(mu * (1 - mu), 1e-300)
        w = d**2 / var
        z = eta + (y - mu) / np.maximum(d, 1e-300)
        sw = np.sqrt(w)
        new_beta = np.linalg.lstsq(X * sw[:, None], z * sw, rcond=None)[0]
        new_ll = _loglik(X @ new_beta, y, link)
        halved = False
        if beta is not None:
            for _ in range(50):  # step halving if the deviance went up
                if new_ll >= ll - 1e-12:
                    break
                new_beta = (beta + new_beta) / 2
                new_ll = _loglik(X @ new_beta, y, link)
                halved = True
        done = beta is not None and not halved and abs(new_ll - ll) < 1e-13 * (1 + abs(ll))
        beta, ll = new_beta, new_ll
        eta = X @ beta
        if done:
            break
    return beta, ll


def binary_glm_aic(X, y, link):
    _beta, ll = _fit_glm(X, y, link)
    return float(-2 * ll + 2 * np.shape(X)[1])


def best_link(X, y):
    aics = [binary_glm_aic(X, y, link) for link in LINKS]
    return LINKS[int(np.argmin(aics))]


def _cluster_objective(v, offset, tau, y, groups, n_groups):
    """Per cluster: sum_j log f(y_ij | v_i) - v_i^2 / 2 (concave in v_i)."""
    eta = offset + tau * v[groups]
    ll = y * log_expit(eta) + (1 - y) * log_expit(-eta)
    return np.bincount(groups, ll, n_groups) - 0.5 * v**2


def _laplace_loglik(beta, tau, X, y, groups, n_groups):
    """Laplace log-likelihood with spherical random effects v (gamma = tau v), like lme4."""
    offset = X @ beta
    v = np.zeros(n_groups)
    h = _cluster_objective(v, offset, tau, y, groups, n_groups)
    for _ in range(100):
        mu = expit(offset + tau * v[groups])
        grad = tau * np.bincount(groups, y - mu, n_groups) - v
        hess = tau**2 * np.bincount(groups, mu * (1 - mu), n_groups) + 1
        step = grad / hess
        # Newton step per cluster, halved where it would lower that cluster's objective
        for _ in range(30):
            h_new = _cluster_objective(v + step, offset, tau, y, groups, n_groups)
            worse = h_new < h - 1e-13
            if not worse.any():
                break
            step = np.where(worse, step / 2, step)
        v, h = v + step, h_new
        if np.max(np.abs(step)) < 1e-10:
            break
    mu = expit(offset + tau * v[groups])
    hess = tau**2 * np.bincount(groups, mu * (1 - mu), n_groups) + 1
    return np.sum(h) - 0.5 * np.sum(np.log(hess))


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
    return float(2 * best.fun + 2 * (X.shape[1] + 1))


def glmm_beats_glm(X, y, cluster):
    return glmm_aic(X, y, cluster) < binary_glm_aic(X, y, "logit")
