"""The GLMM's fast kernels give the same numbers, bit for bit, as the general formulas."""

from __future__ import annotations

import numpy as np
import pytest

from reference.families import get_family
from reference.links import R_EPS, get_link


def test_binary_deviance_kernel_matches_general_kernel_bitwise() -> None:
    fam = get_family("binomial")
    rng = np.random.default_rng(7)
    y = (rng.random(400) < 0.35).astype(float)
    mu = np.r_[rng.random(394), 0.0, 1.0, 0.0, 1.0, R_EPS, 1.0 - R_EPS]
    wt = rng.integers(1, 6, mu.size).astype(float)
    with np.errstate(all="ignore"):
        general = fam._dev_resids(y, mu, wt)
        binary = fam._dev_resids_binary(y == 1.0, mu, wt)
    np.testing.assert_array_equal(binary, general)
    # 2-D means (rows = observations, as in adaptive quadrature) broadcast the same way
    mu2 = rng.random((y.size, 3))
    np.testing.assert_array_equal(
        fam._dev_resids_binary((y == 1.0)[:, None], mu2, wt[:, None]),
        fam._dev_resids(y[:, None], mu2, wt[:, None]),
    )


@pytest.mark.parametrize(
    "eta",
    [
        np.linspace(-30.0, 30.0, 61),
        np.array([-31.0, -30.0, 0.0, 30.0, 31.0, 1e3, -1e3]),
        np.array([np.nan, 0.5]),
        np.array([]),
    ],
)
def test_logit_inverse_applies_r_thresholds_only_outside_them(eta: np.ndarray) -> None:
    # R's C code: odds = eps below -30, 1/eps above 30, exp(eta) in between; mu = odds / (1 + odds)
    with np.errstate(all="ignore"):
        odds = np.where(eta < -30.0, R_EPS, np.where(eta > 30.0, 1.0 / R_EPS, np.exp(eta)))
        expected = odds / (1.0 + odds)
    np.testing.assert_array_equal(get_link("logit").inverse(eta), expected)
