"""Mutant: reports the chi2_1 p-value as the mixture p-value (ignores the boundary).

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def p_values(lrt):
    p_chisq = float(stats.chi2.sf(lrt, 1))
    return p_chisq, p_chisq
