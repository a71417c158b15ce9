"""Mutant: the Poisson log-likelihood leaves out the constant -log y!.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def _loglik_obs(y, eta, family):
    """log f(y | eta) per observation, every constant included."""
    if family == "poisson":
        return y * eta - np.exp(eta)
    return y * eta - np.logaddexp(0.0, eta)  # binary y, logit link
