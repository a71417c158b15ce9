"""Mutant: the GLMM's BIC uses the number of clusters as n.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def information_criteria(X, y, cluster, family):
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if cluster is None:
        return criteria(glm_loglik(X, y, family)[0], n_parameters(X, cluster), len(y))
    loglik = glmm_loglik(X, y, np.asarray(cluster), family)
    return criteria(loglik, n_parameters(X, cluster), len(np.unique(cluster)))
