"""Tests for reference.simulate: GLMM data sets, cluster curves and beaches-like data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from reference.errors import ModelInputError
from reference.marginal import (
    poisson_marginal_mean,
    poisson_marginal_variance,
    population_averaged_curve,
)
from reference.simulate import (
    BEACHES_BETA,
    BEACHES_TAU0,
    simulate_beaches,
    simulate_cluster_curves,
    simulate_glmm,
)


def within(sample: np.ndarray, expected: float, n_se: float = 6.0) -> bool:
    """Sample mean of independent draws within n_se standard errors of ``expected``."""
    se = float(np.std(sample, ddof=1)) / math.sqrt(sample.size)
    return abs(float(np.mean(sample)) - expected) <= n_se * se


def test_same_seed_same_data_different_seed_different_data() -> None:
    args = {"n_clusters": 7, "cluster_size": [3, 1, 4, 1, 5, 9, 2], "family": "poisson"}
    a = simulate_glmm((0.2, 0.5, -0.3), 0.4, seed=11, **args)
    b = simulate_glmm((0.2, 0.5, -0.3), 0.4, seed=11, **args)
    c = simulate_glmm((0.2, 0.5, -0.3), 0.4, seed=12, **args)
    pd.testing.assert_frame_equal(a, b)
    assert not a[["x1", "x2"]].equals(c[["x1", "x2"]])
    assert list(a.columns) == ["cluster", "x1", "x2", "y"]
    assert a["cluster"].value_counts().sort_index().tolist() == [3, 1, 4, 1, 5, 9, 2]
    assert a["y"].dtype == np.int64


def test_streams_are_independent_of_the_family() -> None:
    # Covariates and random effects come from their own child seeds: changing the family
    # (and so how the responses are drawn) keeps them.
    pois = simulate_glmm((0.1, 0.4), 0.3, n_clusters=5, cluster_size=4, family="poisson", seed=3)
    bern = simulate_glmm((0.1, 0.4), 0.3, n_clusters=5, cluster_size=4, family="binomial", seed=3)
    np.testing.assert_array_equal(pois["x1"], bern["x1"])
    np.testing.assert_array_equal(pois.attrs["random_effects"], bern.attrs["random_effects"])


def test_poisson_random_intercept_marginal_moments() -> None:
    # One observation per cluster at x = 0: draws are iid from the marginal distribution.
    beta0, tau = 0.4, 0.8
    df = simulate_glmm((beta0, 0.0), tau**2, n_clusters=200_000, x_grid=[0.0], seed=5)
    y = df["y"].to_numpy(dtype=float)
    assert within(y, float(poisson_marginal_mean(beta0, tau)))
    var = float(poisson_marginal_variance(beta0, tau))
    assert within((y - y.mean()) ** 2, var)


def test_random_effects_have_covariance_q() -> None:
    Q = np.array([[0.5, -0.12], [-0.12, 0.09]])
    df = simulate_glmm(
        (0.0, 0.2), Q, n_clusters=40_000, cluster_size=1, random=("(Intercept)", "x1"), seed=8
    )
    gamma = np.array(df.attrs["random_effects"])
    assert gamma.shape == (40_000, 2)
    for i, j in [(0, 0), (0, 1), (1, 1)]:
        assert within(gamma[:, i] * gamma[:, j], Q[i, j])
    assert within(gamma[:, 0], 0.0) and within(gamma[:, 1], 0.0)


def test_random_slope_enters_the_linear_predictor() -> None:
    # Gaussian identity with tiny noise: y ≈ β0 + β1 x + γ0 + γ1 x in every cluster.
    df = simulate_glmm(
        (1.0, 2.0), [[0.3, 0.0], [0.0, 0.2]], n_clusters=4, x_grid=[-1.0, 0.0, 2.0],
        random=("(Intercept)", "x1"), family="gaussian", phi=1e-12, seed=2,
    )
    gamma = np.array(df.attrs["random_effects"])
    expected = 1.0 + 2.0 * df["x1"] + gamma[df["cluster"] - 1, 0] + gamma[df["cluster"] - 1, 1] * df["x1"]
    np.testing.assert_allclose(df["y"], expected, atol=1e-4)


def test_binomial_with_trials() -> None:
    trials = np.tile([1, 5, 20], 10_000)
    df = simulate_glmm(
        (0.3, 0.0), 0.0, n_clusters=10_000, x_grid=[0.0, 0.0, 0.0], family="binomial", trials=trials, seed=4
    )
    assert df["trials"].tolist()[:3] == [1, 5, 20]
    assert np.all((df["y"] >= 0) & (df["y"] <= df["trials"]))
    p = 1 / (1 + math.exp(-0.3))
    assert within((df["y"] / df["trials"]).to_numpy(), p)


@pytest.mark.parametrize(
    ("family", "extra", "variance"),
    [
        ("Gamma", {"shape": 2.5, "link": "log"}, lambda mu: mu**2 / 2.5),
        ("negative_binomial", {"k": 1.5}, lambda mu: mu + mu**2 / 1.5),
        ("gaussian", {"phi": 0.7, "link": "log"}, lambda mu: 0.7 + 0 * mu),
        ("inverse.gaussian", {"phi": 0.2, "link": "log"}, lambda mu: 0.2 * mu**3),
    ],
)
def test_conditional_distributions_have_the_family_variance(family: str, extra: dict, variance) -> None:
    # Q = 0: no random effect, so the responses are iid with mean μ and variance φ V(μ).
    mu = 2.0
    df = simulate_glmm((math.log(mu), 0.0), 0.0, n_clusters=100_000, x_grid=[0.0], family=family, seed=9, **extra)
    y = df["y"].to_numpy(dtype=float)
    assert within(y, mu)
    assert within((y - mu) ** 2, variance(mu))


def test_covariates_given_by_the_caller() -> None:
    cov = pd.DataFrame({"NAP": np.linspace(-1, 2, 6)})
    df = simulate_glmm({"(Intercept)": 1.0, "NAP": -0.5}, 0.2, n_clusters=2, cluster_size=3, covariates=cov, seed=0)
    np.testing.assert_array_equal(df["NAP"], cov["NAP"])
    assert df.attrs["beta"] == {"(Intercept)": 1.0, "NAP": -0.5}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"Q": [[1.0, 2.0], [2.0, 1.0]], "random": ("(Intercept)", "x1")}, "positive semi-definite"),
        ({"Q": [0.1, 0.2]}, "random-effect terms"),
        ({"random": ("z",)}, "not a covariate"),
        ({"family": "negative_binomial"}, "k"),
        ({"shape": 2.0}, "Gamma"),
        ({"trials": 3}, "binomial"),
        ({"family": "gaussian"}, "dispersion"),
        ({"cluster_size": [2, 3]}, "one per cluster"),
        ({"cluster_size": 0}, "positive integers"),
        ({"covariates": {"x1": [1.0]}}, "rows"),
        ({"family": "poisson", "link": "logit"}, "not available"),
    ],
)
def test_bad_requests_are_rejected(kwargs: dict, match: str) -> None:
    args = {"beta": (0.1, 0.2), "Q": 0.3, "n_clusters": 3, "cluster_size": 2, "seed": 0}
    args.update(kwargs)
    with pytest.raises(ModelInputError, match=match):
        simulate_glmm(**args)


def test_cluster_curves_notes_example_log_link() -> None:
    curves = simulate_cluster_curves(seed=1)
    assert curves.curves.shape == (1000, 201)
    np.testing.assert_allclose(curves.x, np.linspace(-10, 10, 201))
    np.testing.assert_allclose(curves.not_mean, np.exp(-2 + 0.3 * curves.x))
    # The average of the cluster curves estimates the marginal mean (pointwise CLT bound).
    big = simulate_cluster_curves(m=20_000, seed=2)
    marginal = population_averaged_curve(big.x, (-2.0, 0.3), (0.2**2, 0.07**2), "log")["marginal_mean"].to_numpy()
    se = big.curves.std(axis=0, ddof=1) / math.sqrt(20_000)
    assert np.all(np.abs(big.mean_curve - marginal) < 6 * se)
    # Random intercept only: the cluster curves are parallel on the log scale.
    ri = simulate_cluster_curves(m=5, slope=False, seed=3)
    slopes = np.diff(np.log(ri.curves), axis=1) / np.diff(ri.x)
    np.testing.assert_allclose(slopes, 0.3, rtol=1e-10)
    assert len(ri.to_frame(2)) == 2 * 201


def test_cluster_curves_logit_mean_is_flatter_than_not_mean() -> None:
    curves = simulate_cluster_curves(m=4000, beta=(3.0, 1.0), Q=(4.0, 1.0), link="logit", seed=4)
    # At large |x| the slope variance pulls the mean curve towards 1/2.
    assert curves.mean_curve[-1] < curves.not_mean[-1] - 0.05
    assert curves.mean_curve[0] > curves.not_mean[0] + 0.05


def test_simulate_beaches_shape_and_reproducibility() -> None:
    a = simulate_beaches(seed=42)
    pd.testing.assert_frame_equal(a, simulate_beaches(seed=42))
    assert list(a.columns) == ["Sample", "Richness", "NAP", "Beach"]
    assert len(a) == 45 and a["Beach"].value_counts().eq(5).all()
    assert a["NAP"].between(-1.4, 2.3).all()
    assert a["Richness"].dtype == np.int64 and (a["Richness"] >= 0).all()
    assert a.attrs["beta"] == {"(Intercept)": BEACHES_BETA[0], "NAP": BEACHES_BETA[1]}
    nap = np.linspace(-1, 2, 45)
    np.testing.assert_array_equal(simulate_beaches(seed=1, nap=nap)["NAP"], nap)
    with pytest.raises(ModelInputError, match="nap must hold"):
        simulate_beaches(seed=1, nap=nap[:10])


def test_simulate_beaches_follows_the_model() -> None:
    many = simulate_beaches(seed=7, n_beaches=4000)
    expected = poisson_marginal_mean(BEACHES_BETA[0] + BEACHES_BETA[1] * many["NAP"], BEACHES_TAU0)
    # Beaches are independent; rows within a beach are not, so average per beach first.
    per_beach = (many["Richness"] - expected).groupby(many["Beach"]).mean().to_numpy()
    assert within(per_beach, 0.0)
    assert 0.2 < many["NAP"].std() < 1.2 and 0.1 < many["NAP"].mean() < 0.6
