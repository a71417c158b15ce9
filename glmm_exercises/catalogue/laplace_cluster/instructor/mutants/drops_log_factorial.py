"""Mutant: leaves out the constant -log y! of the Poisson log-likelihood.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def _cond_loglik(u, y, eta0, family):
    """sum_j log f(y_j | gamma = u) for an array of u values (Poisson log link or binary logit)."""
    eta = eta0[None, :] + np.asarray(u, dtype=float).reshape(-1, 1)
    if family == "poisson":
        ll = y * eta - np.exp(eta)  # log y! is a constant, left out
    elif family == "binomial":
        ll = y * eta - np.logaddexp(0.0, eta)  # log(1 + e^eta) without overflow
    else:
        raise ValueError(f"unknown family {family!r}; use 'poisson' or 'binomial'")
    return ll.sum(axis=1)
