"""Answer key for conditional-modes, written the way a student would: Newton's method per cluster."""

import numpy as np
from scipy import special


def _mean(eta, family):
    return np.exp(eta) if family == "poisson" else special.expit(eta)


def _weights(eta, family):
    mu = _mean(eta, family)
    return mu if family == "poisson" else mu * (1 - mu)


def _derivatives(g, X, y, idx, m, beta, tau, family):
    """First and second derivative of h_i(g) = sum_j log f(y_ij | g_i) - g_i^2 / (2 tau^2), per cluster."""
    eta = X @ beta + g[idx]
    first = np.bincount(idx, y - _mean(eta, family), m) - g / tau**2
    second = -np.bincount(idx, _weights(eta, family), m) - 1 / tau**2
    return first, second


def _modes(X, y, cluster, beta, tau, family):
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    beta = np.asarray(beta, dtype=float)
    labels, idx = np.unique(np.asarray(cluster), return_inverse=True)
    m = len(labels)
    g = np.zeros(m)
    for _ in range(200):
        first, second = _derivatives(g, X, y, idx, m, beta, tau, family)
        step = np.clip(-first / second, -2.0, 2.0)  # h is concave: Newton from 0, steps capped
        g = g + step
        if np.max(np.abs(step)) < 1e-13:
            break
    return g, X, y, idx, m, beta


def conditional_modes(X, y, cluster, beta, tau, family):
    return _modes(X, y, cluster, beta, tau, family)[0]


def conditional_variances(X, y, cluster, beta, tau, family):
    g, X, y, idx, m, beta = _modes(X, y, cluster, beta, tau, family)
    _, second = _derivatives(g, X, y, idx, m, beta, tau, family)
    return -1 / second


def explain_shrinkage():
    return (
        "The conditional mode maximises the log-likelihood of the cluster's own data plus the log prior "
        "-gamma^2/(2 tau^2). The prior pulls towards its mean 0, so the mode is a compromise between what the "
        "cluster's data say and 0, weighted by their precisions: the data contribute sum_j w_ij and the prior "
        "1/tau^2. A small cluster (or one whose counts are small, so the weights mu_ij are small) carries "
        "little information, and the prior dominates: its mode is pulled most. An all-zero cluster would have "
        "estimate -infinity on its own, but its mode is finite. The conditional variance is "
        "1/(sum_j w_ij + 1/tau^2), and since the data add positive information to the prior's 1/tau^2 it is "
        "below tau^2: knowing the cluster's data makes us more certain about its random effect."
    )
