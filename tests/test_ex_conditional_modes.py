"""Exercise conditional-modes: key, mutants, both families, variants, sheet, the reference's ranef/condVar."""

from __future__ import annotations

import inspect
import runpy
from pathlib import Path

import jinja2
import numpy as np
import pytest
from _fake_sandbox import fake_factory

from glmm_exercises.catalogue import conditional_modes as mod
from glmm_exercises.catalogue import (
    expected_diagnoses,
    expected_failures,
    get_exercise,
    key_path,
    mutant_paths,
)
from graders.runner import grade

EX_ID = "conditional-modes"
SEED = 0xC0DE
FAST = 3
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def _result(path: Path, exercise, seed: int = SEED):
    return grade(path, exercise, mode="all", seed=seed, max_examples=FAST, sandbox_factory=fake_factory())


def _binomial_params() -> dict:
    for s in range(50):
        params = mod.draw_params(np.random.default_rng(s))
        if params["family"] == "binomial":
            return params
    raise AssertionError("no binomial variant in 50 draws")


def test_registered_with_a_written_question() -> None:
    ex = get_exercise(EX_ID)
    assert ex is mod.EXERCISE and mod.problems(mod.DEFAULT_PARAMS) == []
    assert [w.function for w in ex.written] == ["explain_shrinkage"]
    assert "explain_shrinkage" in runpy.run_path(str(key_path(EX_ID)))


@pytest.mark.parametrize("family", ["poisson", "binomial"])
def test_answer_key_gets_full_marks(family: str) -> None:
    ex = mod.EXERCISE if family == "poisson" else mod.build(_binomial_params())
    result = _result(key_path(EX_ID), ex)
    assert [(c.name, c.message) for c in result.checks if not c.passed] == []


@pytest.mark.parametrize("mutant", sorted(expected_failures(EX_ID)))
def test_each_mutant_loses_exactly_its_declared_checks_and_names_its_mistake(mutant: str) -> None:
    result = _result(mutant_paths(EX_ID)[mutant], mod.EXERCISE)
    failed = [c for c in result.checks if not c.passed]
    assert {c.name for c in failed} == expected_failures(EX_ID)[mutant]
    own = expected_diagnoses(EX_ID).get(mutant)
    if own:  # some failing check names the mutant's own mistake, and no other mistake is named
        named = {c.diagnosis for c in failed if c.diagnosis is not None}
        assert named and named <= own, (mutant, named)


def test_every_mutant_file_is_declared() -> None:
    assert set(mutant_paths(EX_ID)) == set(expected_failures(EX_ID))


def test_binomial_variant_catches_the_prior_mistakes() -> None:
    ex = mod.build(_binomial_params())
    for mutant in ("tau_as_variance", "condvar_no_prior_curvature"):
        failed = {c.name for c in _result(mutant_paths(EX_ID)[mutant], ex).checks if not c.passed}
        assert failed == expected_failures(EX_ID)[mutant], mutant


def test_oracles_agree_with_each_other_and_modes_shrink() -> None:
    # the fit's ranef/condVar equal the per-cluster modes at the fit's estimates; |mode| is below the
    # cluster's own (no-prior) estimate and the variance below τ² -- the shrinkage the sheet asks about
    case = mod._own_case(mod.DEFAULT_PARAMS)
    np.testing.assert_allclose(mod.fit_modes_oracle(**case), mod.modes_oracle(**case), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(mod.fit_condvar_oracle(**case), mod.condvar_oracle(**case), rtol=1e-6)
    assert np.all(mod.condvar_oracle(**case) < case["tau"] ** 2)
    wide = mod.modes_oracle(**{**case, "tau": 50.0})  # nearly no prior: each cluster's own estimate
    modes = mod.modes_oracle(**case)
    assert np.all(np.abs(modes) <= np.abs(wide) + 1e-9) and np.all(np.sign(modes) == np.sign(wide))


def test_an_all_zero_poisson_cluster_has_a_finite_negative_mode() -> None:
    key = runpy.run_path(str(key_path(EX_ID)))
    X = np.ones((5, 1))
    y = np.array([0.0, 0, 0, 2, 3])
    cluster = np.array([1, 1, 1, 2, 2])
    modes = key["conditional_modes"](X, y, cluster, np.array([0.5]), 0.8, "poisson")
    np.testing.assert_allclose(modes, mod.modes_oracle(X, y, cluster, [0.5], 0.8, "poisson"), rtol=1e-8)
    assert np.isfinite(modes[0]) and modes[0] < 0 < modes[1]


@pytest.mark.parametrize("variant_seed", range(3))
def test_drawn_variants_are_well_posed_and_data_deterministic(variant_seed: int) -> None:
    params = mod.draw_params(np.random.default_rng(variant_seed))
    assert mod.problems(params) == []
    data = mod.make_data(params)["clusters"]
    assert data.equals(mod.make_data(params)["clusters"])
    sizes = data.groupby("cluster").size()
    assert len(sizes) == params["n_clusters"] and sizes.min() >= 1 and sizes.max() <= params["max_size"]


def test_problems_flags_bad_variants() -> None:
    assert mod.problems({**mod.DEFAULT_PARAMS, "family": "gamma"})


def test_sheet_renders_for_both_families() -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
    env.filters["cleandoc"] = inspect.cleandoc
    for params in (mod.DEFAULT_PARAMS, _binomial_params()):
        text = env.get_template(mod.SHEET).render(params=params, data=mod.make_data(params), functions=mod.EXERCISE.functions)
        assert params["family"] in text and "conditional_modes(X, y, cluster, beta, tau, family)" in text
        assert "explain_shrinkage()" in text


def test_mutants_for_keeps_the_defaults_exact_failures_and_eases_one_step_for_binary_data() -> None:
    assert mod.mutants_for(mod.DEFAULT_PARAMS) == mod.MUTANTS
    binary = mod.mutants_for(_binomial_params())
    assert binary["one_newton_step"] == {"modes_own", "modes_generated"}
    assert all(binary[m] == mod.MUTANTS[m] for m in mod.MUTANTS if m != "one_newton_step")
