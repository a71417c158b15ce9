"""Mutant: the probit link uses the logistic cdf (and its quantile function).

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def _inverse_link(eta, link):
    """mu, d mu / d eta, log mu and log(1 - mu) for the three binary links."""
    if link == "logit":
        mu = expit(eta)
        return mu, mu * (1 - mu), log_expit(eta), log_expit(-eta)
    if link == "probit":
        mu = expit(eta)
        return mu, mu * (1 - mu), log_expit(eta), log_expit(-eta)
    if link == "cloglog":
        e = np.exp(np.minimum(eta, 700))
        log1m = -e  # log(1 - mu) = -exp(eta)
        mu = -np.expm1(-e)
        return mu, e * np.exp(-e), np.log(-np.expm1(-e)), log1m
    raise ValueError(f"unknown link {link!r}; use 'logit', 'probit' or 'cloglog'")


def _link(mu, link):
    if link == "logit":
        return np.log(mu / (1 - mu))
    if link == "probit":
        return np.log(mu / (1 - mu))
    return np.log(-np.log1p(-mu))
