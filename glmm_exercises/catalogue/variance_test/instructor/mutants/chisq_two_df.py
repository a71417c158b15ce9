"""Mutant: counts two degrees of freedom for the chi-square reference.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def p_values(lrt):
    p_chisq = float(stats.chi2.sf(lrt, 2))
    return p_chisq, (1.0 if lrt == 0 else 0.5 * p_chisq)
