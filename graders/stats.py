"""Sub-test builders for :class:`graders.checks.StatisticalCheck`.

Each builder returns a :class:`~graders.checks.SubTest` whose ``p_value(draws, case)`` tests the
student's draws for one argument set against the reference distribution. The reference enters
as a callable of the case (normally a thin call into ``reference``), so no distribution
formula is written in the graders.

Calibration: the check rejects when a p-value falls below ``alpha / (sub-tests x cases)``.
``ks_test`` is exact for continuous distributions; ``mean_z_test`` and ``chi2_discrete_test``
rely on the normal / chi-square approximations, which are accurate in the far tail only with
enough draws -- use at least a few thousand draws per case, and keep expected bin counts >= 5
(``chi2_discrete_test`` pools bins to ensure that). ``tests/test_checks.py`` measures the
false-fail rate of a complete check by simulation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy import stats

from graders.checks import SubTest

__all__ = ["chi2_discrete_test", "ks_test", "mean_z_test"]

Case = Mapping[str, Any]


def mean_z_test(
    mean: Callable[[Case], float], variance: Callable[[Case], float], *, hint: str
) -> SubTest:
    """Two-sided z-test of the sample mean against the known mean and variance of one draw."""

    def p_value(draws: np.ndarray, case: Case) -> float:
        n = draws.size
        mu, var = float(mean(case)), float(variance(case))
        if not (np.isfinite(mu) and np.isfinite(var) and var > 0):
            raise ValueError(f"reference mean/variance not usable (mean={mu}, variance={var})")
        z = (float(np.mean(draws)) - mu) / np.sqrt(var / n)
        return float(2.0 * stats.norm.sf(abs(z)))

    return SubTest("mean", p_value, hint)


def chi2_discrete_test(
    distribution: Callable[[Case], Any], *, hint: str, min_expected: float = 5.0
) -> SubTest:
    """Pearson chi-square goodness of fit to a discrete distribution on 0, 1, 2, ...

    ``distribution(case)`` returns a frozen scipy distribution (``pmf``, ``sf``, ``ppf``).
    Adjacent values are pooled until every bin expects at least ``min_expected`` draws; the
    last bin holds the upper tail. Draws that are negative or not whole numbers give p = 0.
    """

    def p_value(draws: np.ndarray, case: Case) -> float:
        if np.any(draws < 0) or np.any(draws != np.round(draws)):
            return 0.0
        dist = distribution(case)
        n = draws.size
        top = int(max(dist.ppf(1 - 1e-12), draws.max())) + 1
        support = np.arange(top + 1)
        probs = dist.pmf(support[:-1])
        probs = np.append(probs, dist.sf(top - 1))  # P(X >= top)
        observed = np.bincount(np.minimum(draws.astype(np.int64), top), minlength=top + 1)
        exp_bins: list[float] = []
        obs_bins: list[float] = []
        acc_e = acc_o = 0.0
        for e, o in zip(probs * n, observed, strict=True):
            acc_e += e
            acc_o += o
            if acc_e >= min_expected:
                exp_bins.append(acc_e)
                obs_bins.append(acc_o)
                acc_e = acc_o = 0.0
        if acc_e > 0 or acc_o > 0:
            if not exp_bins:
                raise ValueError("too few draws for a chi-square test; draw more per case")
            exp_bins[-1] += acc_e
            obs_bins[-1] += acc_o
        if len(exp_bins) < 2:
            raise ValueError("the chi-square test needs at least two bins; draw more per case")
        e_arr, o_arr = np.array(exp_bins), np.array(obs_bins)
        statistic = float(np.sum((o_arr - e_arr) ** 2 / e_arr))
        return float(stats.chi2.sf(statistic, df=len(e_arr) - 1))

    return SubTest("chi-square goodness of fit", p_value, hint)


def ks_test(cdf: Callable[[Case], Callable[[np.ndarray], np.ndarray]], *, hint: str) -> SubTest:
    """One-sample Kolmogorov-Smirnov test against a continuous CDF (exact p-value up to 10000 draws)."""

    def p_value(draws: np.ndarray, case: Case) -> float:
        return float(stats.kstest(np.ravel(draws), cdf(case), method="auto").pvalue)

    return SubTest("Kolmogorov-Smirnov", p_value, hint)
