"""Mutant: the canonical link is taken to be the identity for every distribution.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def canonical_link(mu, params):
    mu = np.asarray(mu, dtype=float)
    return mu + 0.0  # "canonical" read as "natural scale"
