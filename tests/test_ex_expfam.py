"""Exercise expfam: answer key on every distribution, mutants, variants, oracles against scipy, sheet."""

from __future__ import annotations

import numpy as np
import pytest
from _fake_sandbox import fake_factory
from scipy import stats

from glmm_exercises.catalogue import expected_failures, get_exercise, key_path, mutant_paths
from glmm_exercises.catalogue import expfam as mod
from glmm_exercises.sheets import markdown_to_html, render_exercise_markdown
from graders.runner import grade

EX_ID = "expfam"
SEED = 0xE4F_A111
FAST = 10  # examples per check in the default run

ONE_PER_DISTRIBUTION = [
    {"distribution": "bernoulli"},
    {"distribution": "binomial_proportion", "n": 7},
    {"distribution": "poisson"},
    {"distribution": "gamma", "shape": 2.5},
    {"distribution": "normal", "sigma2": 2.0},
    {"distribution": "exponential"},
    {"distribution": "geometric"},
    {"distribution": "negative_binomial", "k": 1.7},
    {"distribution": "inverse_gaussian", "lam": 3.0},
]


def test_registered_and_every_distribution_is_covered() -> None:
    ex = get_exercise(EX_ID)
    assert ex is mod.EXERCISE and mod.problems(mod.DEFAULT_PARAMS) == []
    assert {p["distribution"] for p in ONE_PER_DISTRIBUTION} == set(mod.DISTRIBUTIONS)


@pytest.mark.parametrize("params", ONE_PER_DISTRIBUTION, ids=lambda p: p["distribution"])
def test_answer_key_gets_full_marks_for_each_distribution(params: dict) -> None:
    assert mod.problems(params) == []
    ex = mod.build(params)
    result = grade(key_path(EX_ID), ex, mode="all", seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
    assert [(c.name, c.message) for c in result.checks if not c.passed] == []
    assert result.score == ex.max_score


@pytest.mark.parametrize("mutant", sorted(expected_failures(EX_ID)))
def test_each_mutant_loses_exactly_its_declared_checks(mutant: str) -> None:
    ex = get_exercise(EX_ID)
    result = grade(mutant_paths(EX_ID)[mutant], ex, mode="all", seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
    assert {c.name for c in result.checks if not c.passed} == expected_failures(EX_ID)[mutant]


def test_every_mutant_file_is_declared() -> None:
    assert set(mutant_paths(EX_ID)) == set(expected_failures(EX_ID))


def test_hints_name_the_mistakes() -> None:
    ex = get_exercise(EX_ID)
    wanted = {
        "phi_is_shape": ("var_y", "φ = 1/ν"),
        "variance_is_var_y": ("var_y", "φ/w twice"),
        "link_with_sign": ("canonical_link", "drops the"),
    }
    for mutant, (name, phrase) in wanted.items():
        result = grade(mutant_paths(EX_ID)[mutant], ex, seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
        check = next(c for c in result.checks if c.name == name)
        assert not check.passed and phrase in check.hint, (mutant, check.hint)


@pytest.mark.parametrize("seed", range(8))
def test_drawn_variants_are_well_posed(seed: int) -> None:
    params = mod.draw_params(np.random.default_rng(seed))
    assert mod.problems(params) == []
    assert params == mod.draw_params(np.random.default_rng(seed))
    assert mod.make_data(params) == {}
    assert {c.name for c in mod.build(params).checks} == {c.name for c in mod.EXERCISE.checks}


def test_problems_flags_bad_variants() -> None:
    assert mod.problems({"distribution": "weibull"})
    assert mod.problems({"distribution": "gamma", "shape": 1.0})
    assert mod.problems({"distribution": "binomial_proportion", "n": 2.5})
    assert mod.problems({"distribution": "negative_binomial"})


def test_true_densities_match_scipy_directly() -> None:
    y, mu = 3.0, 2.2
    cases = {
        "poisson": ({"distribution": "poisson"}, stats.poisson.logpmf(3, mu)),
        "geometric": ({"distribution": "geometric"}, np.log((1 / (1 + mu)) * (mu / (1 + mu)) ** 3)),
        "negative_binomial": ({"distribution": "negative_binomial", "k": 1.7}, stats.nbinom.logpmf(3, 1.7, 1.7 / (1.7 + mu))),
        "gamma": ({"distribution": "gamma", "shape": 2.5}, stats.gamma.logpdf(y, 2.5, scale=mu / 2.5)),
        "normal": ({"distribution": "normal", "sigma2": 2.0}, stats.norm.logpdf(y, mu, np.sqrt(2.0))),
        "exponential": ({"distribution": "exponential"}, stats.expon.logpdf(y, scale=mu)),
        "inverse_gaussian": ({"distribution": "inverse_gaussian", "lam": 3.0}, stats.invgauss.logpdf(y, mu / 3.0, scale=3.0)),
    }
    for name, (params, expected) in cases.items():
        assert mod.true_logpdf(y, mu, params) == pytest.approx(expected, rel=1e-12), name
    prop = {"distribution": "binomial_proportion", "n": 7}
    assert mod.true_logpdf(3 / 7, 0.4, prop) == pytest.approx(stats.binom.logpmf(3, 7, 0.4), rel=1e-12)
    # Var(Y) of the proportion is μ(1 − μ)/n; of the gamma μ²/ν
    assert mod.true_variance(0.4, prop) == pytest.approx(0.24 / 7)
    assert mod.true_variance(2.0, {"distribution": "gamma", "shape": 2.5}) == pytest.approx(4.0 / 2.5)


def test_sheet_renders_for_every_distribution() -> None:
    for params in ONE_PER_DISTRIBUTION:
        text = render_exercise_markdown(mod.SHEET, params=params, data={}, functions=mod.EXERCISE.functions)

        assert "<math" in markdown_to_html(text)
        assert mod.DISTRIBUTIONS[params["distribution"]].label in text and "log_density" in text


@pytest.mark.parametrize("params", ONE_PER_DISTRIBUTION, ids=lambda p: p["distribution"])
def test_mutants_for_each_distribution_fail_what_they_declare(params: dict) -> None:
    ex = mod.build(params)
    declared = mod.mutants_for(params)
    assert set(declared) == set(mutant_paths(EX_ID))
    for mutant, failing in declared.items():
        if not failing:
            continue
        result = grade(mutant_paths(EX_ID)[mutant], ex, mode="all", seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
        assert {c.name for c in result.checks if not c.passed} == failing, mutant
