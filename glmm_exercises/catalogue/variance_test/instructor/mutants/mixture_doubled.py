"""Mutant: doubles the chi2_1 p-value for the mixture instead of halving it.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def p_values(lrt):
    p_chisq = float(stats.chi2.sf(lrt, 1))
    return p_chisq, min(1.0, 2 * p_chisq)
