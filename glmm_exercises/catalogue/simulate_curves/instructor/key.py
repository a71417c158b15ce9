"""Answer key for simulate-curves, written the way a student would."""

import numpy as np


def inverse_link(eta, link):
    """h(eta): exp for the log link, the logistic function for the logit link."""
    if link == "log":
        return np.exp(eta)
    if link == "logit":
        return 1.0 / (1.0 + np.exp(-eta))
    raise ValueError(f"unknown link {link!r}; use 'log' or 'logit'")


def cluster_curves(x, beta0, beta1, tau0, tau1, link, m, rng):
    x = np.asarray(x, dtype=float)
    gamma0 = rng.normal(0.0, tau0, size=m)  # one random intercept per cluster (tau0 is an sd)
    gamma1 = rng.normal(0.0, tau1, size=m)  # one random slope per cluster
    eta = (beta0 + gamma0)[:, None] + (beta1 + gamma1)[:, None] * x[None, :]
    return inverse_link(eta, link)


def population_mean_curve(x, beta0, beta1, tau0, tau1, link, m, rng):
    return cluster_curves(x, beta0, beta1, tau0, tau1, link, m, rng).mean(axis=0)


def explain_jensen():
    return (
        "No: the average of the cluster curves is E(h(eta + b)) and the 'not mean' curve is "
        "h(eta + E(b)); for a non-linear inverse link h these differ (Jensen's inequality: above "
        "for convex h such as exp, pulled towards 1/2 for the logistic curve). The difference is "
        "largest where h bends most and where the random part of eta varies most."
    )
