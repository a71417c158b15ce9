"""Exercise simulate-beaches: answer key, mutants (several seeds), variants, sheet, reference pmf."""

from __future__ import annotations

import inspect
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
import pytest
from _fake_sandbox import fake_factory

from glmm_exercises.catalogue import expected_failures, get_exercise, key_path, mutant_paths
from glmm_exercises.catalogue import simulate_beaches as mod
from graders.runner import grade
from reference.marginal import cluster_loglik
from reference.simulate import simulate_beaches

EX_ID = "simulate-beaches"
SEED = 0xBEAC_4E5
SEEDS = (SEED, pytest.param(11, marks=pytest.mark.slow), pytest.param(20241126, marks=pytest.mark.slow))
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def _failed(path: Path, exercise, seed: int) -> dict[str, str]:
    result = grade(path, exercise, mode="all", seed=seed, sandbox_factory=fake_factory())
    return {c.name: c.message for c in result.checks if not c.passed}


def test_registered_and_default_variant_is_sound() -> None:
    assert get_exercise(EX_ID) is mod.EXERCISE
    assert mod.problems(mod.DEFAULT_PARAMS) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_answer_key_gets_full_marks(seed: int) -> None:
    assert _failed(key_path(EX_ID), mod.EXERCISE, seed) == {}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mutant", sorted(expected_failures(EX_ID)))
def test_each_mutant_loses_exactly_its_declared_checks(mutant: str, seed: int) -> None:
    assert set(_failed(mutant_paths(EX_ID)[mutant], mod.EXERCISE, seed)) == expected_failures(EX_ID)[mutant]


def test_every_mutant_file_is_declared() -> None:
    assert set(mutant_paths(EX_ID)) == set(expected_failures(EX_ID))


@pytest.mark.parametrize("variant_seed", range(4))
def test_drawn_variants_are_well_posed_deterministic_and_the_key_passes(variant_seed: int) -> None:
    params = mod.draw_params(np.random.default_rng(variant_seed))
    assert mod.problems(params) == []
    data = mod.make_data(params)
    assert data["nap"].equals(mod.make_data(params)["nap"])
    assert len(data["nap"]) == params["n_beaches"] * params["per_beach"]
    assert _failed(key_path(EX_ID), mod.build(params), variant_seed) == {}


def test_reference_simulation_passes_the_sub_tests() -> None:
    # the reference simulator (an independent implementation) satisfies every sub-test
    case = mod._case(1.66, -0.5, 0.47, 600, mod.NAP_PATTERN)
    sim = simulate_beaches(3, (1.66, -0.5), 0.47, 600, 5, nap=case["nap"])
    draws = mod.to_array(sim)
    assert mod._validate(draws, case) is None
    for sub in (mod._totals_subtest(), mod._nap_subtest(), mod._dispersion_subtest()):
        assert sub.p_value(draws, case) > 1e-4, sub.name


def test_totals_pmf_agrees_with_the_reference_cluster_likelihood() -> None:
    dist = mod._totals(float(np.log(12.0)), 0.8)
    for t in (0, 3, 12, 40, 150):
        exact = np.exp(cluster_loglik(np.array([float(t)]), np.ones((1, 1)), np.array([np.log(12.0)]), 0.8,
                                      "poisson", method="exact"))
        # absolute accuracy is what the pooled chi-square bins need (N δ counts for N beaches)
        assert dist.pmf(np.array([t]))[0] == pytest.approx(exact, abs=1e-7)
    assert dist.sf(-1) == 1.0 and dist.sf(10**6) == 0.0


def test_structure_errors_name_the_problem() -> None:
    case = mod._case(1.0, -0.5, 0.5, 2, (0.0, 1.0))
    good = pd.DataFrame({"Richness": [1, 2, 3, 4], "NAP": case["nap"], "Beach": [1, 1, 2, 2]})
    assert mod._validate(mod.to_array(good), case) is None
    with pytest.raises(ValueError, match="Beach"):
        mod.to_array(good.drop(columns="Beach"))
    with pytest.raises(ValueError, match="integer"):
        mod.to_array(good.assign(Richness=[1.5, 2, 3, 4]))
    assert "beach by beach" in mod._validate(mod.to_array(good.assign(Beach=[1, 2, 1, 2])), case)
    assert "NAP" in mod._validate(mod.to_array(good.assign(NAP=[0.0, 1.0, 1.0, 0.0])), case)
    assert "non-negative" in mod._validate(mod.to_array(good.assign(Richness=[-1, 2, 3, 4])), case)


def test_sheet_renders_for_a_variant() -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
    env.filters["cleandoc"] = inspect.cleandoc
    params = mod.draw_params(np.random.default_rng(5))
    text = env.get_template(mod.SHEET).render(params=params, data=mod.make_data(params), functions=mod.EXERCISE.functions)
    assert str(params["tau0"]) in text and "simulate_beaches(beta0" in text


def test_mutants_for_is_a_subset_of_the_default_variants_exact_failures() -> None:
    # selftest's per-variant failures (robust in every variant) must agree with what the default variant shows
    robust = mod.mutants_for(mod.DEFAULT_PARAMS)
    assert set(robust) == set(mod.MUTANTS)
    for name, checks in robust.items():
        assert checks and checks <= mod.MUTANTS[name], name


@pytest.mark.slow
def test_sub_tests_are_calibrated_under_the_model() -> None:
    # p-values of data simulated by the answer key are close to uniform (the chi-square and normal
    # approximations are good in the body; the Bonferroni levels are far in the tail)
    import runpy

    from scipy import stats

    key = runpy.run_path(str(key_path(EX_ID)))
    ex = mod.EXERCISE
    for check in (c for c in ex.checks if c.name in ("beach_totals", "within_beach", "other_parameters")):
        case = check.cases[0]
        pvals = {sub.name: [] for sub in check.subtests}
        for rep in range(200):
            df = key["simulate_beaches"](case["beta0"], case["beta1"], case["tau0"], case["n_beaches"],
                                         case["per_beach"], case["nap"], np.random.default_rng(rep))
            for sub in check.subtests:
                pvals[sub.name].append(sub.p_value(mod.to_array(df), case))
        for name, p in pvals.items():
            p = np.array(p)
            assert np.mean(p < 0.05) <= 0.11, (check.name, name)
            assert stats.kstest(p, "uniform").pvalue > 1e-3, (check.name, name, np.quantile(p, [0.01, 0.1, 0.5]))
