"""Mutant: picks the link with the largest AIC.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def best_link(X, y):
    aics = [binary_glm_aic(X, y, link) for link in LINKS]
    return LINKS[int(np.argmax(aics))]
