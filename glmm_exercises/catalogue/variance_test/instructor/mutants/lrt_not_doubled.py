"""Mutant: the statistic is l_GLMM - l_GLM, not twice that.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def variance_test(X, y, cluster, family):
    lrt, _ = _lrt(np.asarray(X, dtype=float), np.asarray(y, dtype=float), np.asarray(cluster), family)
    lrt = lrt / 2
    p_chisq, p_mixture = p_values(lrt)
    return {"lrt": lrt, "p_chisq": p_chisq, "p_mixture": p_mixture}
