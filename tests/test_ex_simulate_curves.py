"""Exercise simulate-curves: answer key, mutants (several seeds), variants, sheet, oracle sanity."""

from __future__ import annotations

import inspect
import runpy
from pathlib import Path

import jinja2
import numpy as np
import pytest
from _fake_sandbox import fake_factory

from glmm_exercises.catalogue import expected_failures, get_exercise, key_path, mutant_paths
from glmm_exercises.catalogue import simulate_curves as mod
from graders.runner import grade
from reference.simulate import simulate_cluster_curves

EX_ID = "simulate-curves"
SEED = 0x51C0_77E5
#: the default seed runs by default; the other seeds (same assertions) in the slow set
SEEDS = (SEED, pytest.param(7, marks=pytest.mark.slow), pytest.param(20241125, marks=pytest.mark.slow))
FAST = 8  # examples per property check
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def _failed(path: Path, exercise, seed: int) -> set[str]:
    result = grade(path, exercise, mode="all", seed=seed, max_examples=FAST, sandbox_factory=fake_factory())
    return {c.name for c in result.checks if not c.passed}


def test_registered_and_default_variant_is_the_notes_log_example() -> None:
    assert get_exercise(EX_ID) is mod.EXERCISE
    assert mod.problems(mod.DEFAULT_PARAMS) == []
    assert (mod.DEFAULT_PARAMS["beta0"], mod.DEFAULT_PARAMS["beta1"]) == (-2.0, 0.3)
    assert mod.DEFAULT_PARAMS["tau1"] > 0  # MUTANTS are declared for a random-slope variant


@pytest.mark.parametrize("seed", SEEDS)
def test_answer_key_gets_full_marks(seed: int) -> None:
    result = grade(key_path(EX_ID), mod.EXERCISE, mode="all", seed=seed, max_examples=FAST, sandbox_factory=fake_factory())
    assert [(c.name, c.message) for c in result.checks if not c.passed] == []
    assert result.score == mod.EXERCISE.max_score


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mutant", sorted(expected_failures(EX_ID)))
def test_each_mutant_loses_exactly_its_declared_checks(mutant: str, seed: int) -> None:
    assert _failed(mutant_paths(EX_ID)[mutant], mod.EXERCISE, seed) == expected_failures(EX_ID)[mutant]


def test_every_mutant_file_is_declared() -> None:
    assert set(mutant_paths(EX_ID)) == set(expected_failures(EX_ID))


@pytest.mark.parametrize("variant_seed", [0, 1, 2, *(pytest.param(s, marks=pytest.mark.slow) for s in range(3, 8))])
def test_drawn_variants_are_well_posed_and_the_key_passes_them(variant_seed: int) -> None:
    params = mod.draw_params(np.random.default_rng(variant_seed))
    assert mod.problems(params) == []
    assert mod.make_data(params) == {} and mod.make_data(params) == {}
    ex = mod.build(params)
    assert {c.name for c in ex.checks} == {c.name for c in mod.EXERCISE.checks}
    result = grade(key_path(EX_ID), ex, mode="all", seed=variant_seed, max_examples=FAST, sandbox_factory=fake_factory())
    assert [(c.name, c.message) for c in result.checks if not c.passed] == []


def test_logit_intercept_only_variant_catches_shared_gamma_and_not_mean() -> None:
    params = {**mod.DEFAULT_PARAMS, "link": "logit", "beta0": 3.0, "beta1": 1.0, "tau0": 2.0, "tau1": 0.0}
    ex = mod.build(params)
    assert {"curves_own", "curves_structure"} <= _failed(mutant_paths(EX_ID)["same_gamma_for_all"], ex, 3)
    assert "mean_curve_own" in _failed(mutant_paths(EX_ID)["not_mean_curve"], ex, 3)
    # a random intercept only: adding the (zero) slope effect to the intercept is harmless here
    assert "curves_own" not in _failed(mutant_paths(EX_ID)["slope_into_intercept"], ex, 3)


def test_problems_flags_bad_variants() -> None:
    assert mod.problems({**mod.DEFAULT_PARAMS, "link": "probit"})
    assert mod.problems({**mod.DEFAULT_PARAMS, "tau0": 0.0})
    assert mod.problems({**mod.DEFAULT_PARAMS, "m": mod.DEFAULT_PARAMS["n_x"]})


def test_recovered_effects_read_back_the_reference_simulation() -> None:
    # the grader's read-back of (γ0, γ1) is exact on curves simulated by the reference
    sim = simulate_cluster_curves(m=300, x=np.linspace(-10, 10, 41), beta=(3.0, 1.0), Q=(4.0, 1.0), link="logit", seed=5)
    case = {"x": sim.x, "beta0": 3.0, "beta1": 1.0, "link": "logit"}
    dev0, dev1 = mod.recovered_effects(sim.curves, case)
    np.testing.assert_allclose(dev0, sim.random_effects[:, 0], atol=1e-6)
    np.testing.assert_allclose(dev1, sim.random_effects[:, 1], atol=1e-6)


def test_key_mean_curve_approaches_the_reference_population_curve() -> None:
    key = runpy.run_path(str(key_path(EX_ID)))
    x = np.linspace(-10, 10, 11)
    avg = key["population_mean_curve"](x, -2.0, 0.3, 0.2, 0.07, "log", 200_000, np.random.default_rng(1))
    exact = mod._population_curve(x, -2.0, 0.3, 0.2, 0.07, "log")["marginal_mean"].to_numpy()
    np.testing.assert_allclose(avg, exact, rtol=0.02)
    assert np.all(exact >= mod._population_curve(x, -2.0, 0.3, 0.0, 0.0, "log")["not_mean"].to_numpy())


def test_structure_messages_name_the_problem() -> None:
    case = mod._case(mod.DEFAULT_PARAMS, np.linspace(-1, 1, 5), 7)
    assert "got (5, 7)" in mod._validate_curves(np.ones((5, 7)), case)
    assert "same curve" in mod._validate_curves(np.ones((7, 5)), case)
    bad = np.full((7, 5), 0.5)
    bad[0, 0] = -1.0
    assert "range" in mod._validate_curves(bad, case)


def test_sheet_renders_for_both_links() -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
    env.filters["cleandoc"] = inspect.cleandoc
    for seed in range(8):
        params = mod.draw_params(np.random.default_rng(seed))
        text = env.get_template(mod.SHEET).render(params=params, data={}, functions=mod.EXERCISE.functions)
        assert params["link"] in text and "cluster_curves(x, beta0" in text


def test_mutants_for_is_a_subset_of_the_default_variants_exact_failures() -> None:
    # selftest's per-variant failures (robust in every variant) must agree with what the default variant shows
    robust = mod.mutants_for(mod.DEFAULT_PARAMS)
    assert set(robust) == set(mod.MUTANTS)
    for name, checks in robust.items():
        assert checks and checks <= mod.MUTANTS[name], name


@pytest.mark.slow
def test_sub_tests_are_calibrated_for_the_answer_key() -> None:
    # under the model every KS p-value is uniform; the mean-curve test is conservative (variance bound)
    from scipy import stats

    key = runpy.run_path(str(key_path(EX_ID)))
    for params in (mod.DEFAULT_PARAMS, {**mod.DEFAULT_PARAMS, "link": "logit", "beta0": 3.0, "beta1": 1.0, "tau0": 2.0, "tau1": 1.0}):
        ex = mod.build(params)
        for check in (c for c in ex.checks if c.name in ("curves_own", "mean_curve_own")):
            case = check.cases[0]
            pvals = {sub.name: [] for sub in check.subtests}
            for rep in range(150):
                draws = key[check.function](*(case[p] for p in ("x", "beta0", "beta1", "tau0", "tau1", "link", "m")),
                                            np.random.default_rng(rep))
                for sub in check.subtests:
                    pvals[sub.name].append(sub.p_value(np.asarray(draws), case))
            for name, p in pvals.items():
                p = np.array(p)
                assert np.mean(p < 0.05) <= 0.12, (check.name, name)
                if "deviations" in name:
                    assert stats.kstest(p, "uniform").pvalue > 1e-3, (check.name, name)
