"""Answer key for expfam, written the way a student would (all distributions of the exercise).

params is a dict: {"distribution": name, and the known parameter "n", "shape", "sigma2", "k" or "lam"}.
Convention: f(y | theta) = exp((y theta - cumulant(theta)) w / phi + c_term(y, phi, w)).
"""

import numpy as np
from scipy.special import expit, gammaln, logit


def _d(params):
    return params["distribution"]


def canonical_parameter(mu, params):
    mu = np.asarray(mu, dtype=float)
    d = _d(params)
    if d in ("bernoulli", "binomial_proportion"):
        return logit(mu)
    if d == "poisson":
        return np.log(mu)
    if d in ("gamma", "exponential"):
        return -1 / mu
    if d == "normal":
        return mu + 0.0
    if d == "geometric":
        return np.log(mu / (1 + mu))
    if d == "negative_binomial":
        return np.log(mu / (mu + params["k"]))
    if d == "inverse_gaussian":
        return -1 / (2 * mu**2)
    raise ValueError(f"unknown distribution {d!r}")


def cumulant(theta, params):
    t = np.asarray(theta, dtype=float)
    d = _d(params)
    if d in ("bernoulli", "binomial_proportion"):
        return np.logaddexp(0, t)
    if d == "poisson":
        return np.exp(t)
    if d in ("gamma", "exponential"):
        return -np.log(-t)
    if d == "normal":
        return t**2 / 2
    if d == "geometric":
        return -np.log(-np.expm1(t))
    if d == "negative_binomial":
        return -params["k"] * np.log(-np.expm1(t))
    if d == "inverse_gaussian":
        return -np.sqrt(-2 * t)
    raise ValueError(f"unknown distribution {d!r}")


def dispersion(params):
    d = _d(params)
    if d == "gamma":
        return 1 / params["shape"]
    if d == "normal":
        return float(params["sigma2"])
    if d == "inverse_gaussian":
        return 1 / params["lam"]
    return 1.0


def prior_weight(params):
    if _d(params) == "binomial_proportion":
        return float(params["n"])
    return 1.0


def c_term(y, phi, w, params):
    y = np.asarray(y, dtype=float)
    d = _d(params)
    if d in ("bernoulli", "exponential", "geometric"):
        return np.zeros_like(y)
    if d == "binomial_proportion":
        n = w
        s = np.round(n * y)
        return gammaln(n + 1) - gammaln(s + 1) - gammaln(n - s + 1)
    if d == "poisson":
        return -gammaln(y + 1)
    if d == "gamma":
        nu = w / phi
        return nu * np.log(nu) + (nu - 1) * np.log(y) - gammaln(nu)
    if d == "normal":
        return -(y**2) * w / (2 * phi) - 0.5 * np.log(2 * np.pi * phi / w)
    if d == "negative_binomial":
        k = params["k"]
        return gammaln(y + k) - gammaln(k) - gammaln(y + 1)
    if d == "inverse_gaussian":
        lam = w / phi
        return 0.5 * np.log(lam / (2 * np.pi * y**3)) - lam / (2 * y)
    raise ValueError(f"unknown distribution {d!r}")


def mean_from_theta(theta, params):
    t = np.asarray(theta, dtype=float)
    d = _d(params)
    if d in ("bernoulli", "binomial_proportion"):
        return expit(t)
    if d == "poisson":
        return np.exp(t)
    if d in ("gamma", "exponential"):
        return -1 / t
    if d == "normal":
        return t + 0.0
    if d == "geometric":
        return np.exp(t) / -np.expm1(t)
    if d == "negative_binomial":
        return params["k"] * np.exp(t) / -np.expm1(t)
    if d == "inverse_gaussian":
        return 1 / np.sqrt(-2 * t)
    raise ValueError(f"unknown distribution {d!r}")


def variance_function(mu, params):
    mu = np.asarray(mu, dtype=float)
    d = _d(params)
    if d in ("bernoulli", "binomial_proportion"):
        return mu * (1 - mu)
    if d == "poisson":
        return mu + 0.0
    if d in ("gamma", "exponential"):
        return mu**2
    if d == "normal":
        return np.ones_like(mu)
    if d == "geometric":
        return mu + mu**2
    if d == "negative_binomial":
        return mu + mu**2 / params["k"]
    if d == "inverse_gaussian":
        return mu**3
    raise ValueError(f"unknown distribution {d!r}")


def canonical_link(mu, params):
    mu = np.asarray(mu, dtype=float)
    d = _d(params)
    if d in ("gamma", "exponential"):
        return 1 / mu  # theta = -1/mu; the sign is dropped by convention
    if d == "inverse_gaussian":
        return 1 / mu**2  # theta = -1/(2 mu^2); constant factor dropped
    return canonical_parameter(mu, params)


# the four combinations, exactly as given on the sheet


def rebuilt_log_density(y, mu, params):
    t = canonical_parameter(mu, params)
    w, phi = prior_weight(params), dispersion(params)
    return (y * t - cumulant(t, params)) * w / phi + c_term(y, phi, w, params)


def mean_at_mu(mu, params):
    return mean_from_theta(canonical_parameter(mu, params), params)


def b_prime_numeric(mu, params):
    t = canonical_parameter(mu, params)
    h = 1e-6 * (1 + abs(t))
    return (cumulant(t + h, params) - cumulant(t - h, params)) / (2 * h)


def var_y(mu, params):
    return dispersion(params) * variance_function(mu, params) / prior_weight(params)
