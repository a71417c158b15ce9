"""Exercise variance-test: key, mutants, the bootstrap's statistical check, variants, sheet."""

from __future__ import annotations

import dataclasses
import inspect
import runpy
from pathlib import Path

import jinja2
import numpy as np
import pytest
from _fake_sandbox import fake_factory

from glmm_exercises.catalogue import (
    expected_diagnoses,
    expected_failures,
    get_exercise,
    key_path,
    mutant_paths,
)
from glmm_exercises.catalogue import variance_test as mod
from graders.runner import grade

EX_ID = "variance-test"
SEED = 0x7A57
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
#: the mutants that change the bootstrap; the others keep the key's null_lrt_draws (graded in the key's test),
#: so their tests leave the slow bootstrap check out
BOOTSTRAP_MUTANTS = ("bootstrap_chisq", "bootstrap_from_glmm", "bootstrap_observed_data")
FAST = [m for m in sorted(expected_failures(EX_ID)) if m != "bootstrap_from_glmm"]


def _result(path: Path, exercise):
    return grade(path, exercise, mode="all", seed=SEED, max_examples=3, sandbox_factory=fake_factory())


def _without_bootstrap(exercise):
    return dataclasses.replace(exercise, checks=tuple(c for c in exercise.checks if c.name != "bootstrap"))


def test_registered_with_a_written_question_and_a_statistical_check() -> None:
    ex = get_exercise(EX_ID)
    assert ex is mod.EXERCISE and mod.problems(mod.DEFAULT_PARAMS) == []
    assert [w.function for w in ex.written] == ["explain_boundary"]
    assert "explain_boundary" in runpy.run_path(str(key_path(EX_ID)))
    boot = next(c for c in ex.checks if c.name == "bootstrap")
    assert boot.kind == "statistical" and all(case["nsim"] == mod.NSIM for case in boot.cases)


def test_answer_key_gets_full_marks() -> None:
    result = _result(key_path(EX_ID), mod.EXERCISE)
    assert [(c.name, c.message) for c in result.checks if not c.passed] == []


@pytest.mark.parametrize("mutant", [*FAST, pytest.param("bootstrap_from_glmm", marks=pytest.mark.slow)])
def test_each_mutant_loses_exactly_its_declared_checks_and_names_its_mistake(mutant: str) -> None:
    ex = mod.EXERCISE if mutant in BOOTSTRAP_MUTANTS else _without_bootstrap(mod.EXERCISE)
    failed = [c for c in _result(mutant_paths(EX_ID)[mutant], ex).checks if not c.passed]
    assert {c.name for c in failed} == expected_failures(EX_ID)[mutant]
    own = expected_diagnoses(EX_ID).get(mutant)
    if own:
        named = {c.diagnosis for c in failed if c.diagnosis is not None}
        assert named and named <= own, (mutant, named)


def test_every_mutant_file_is_declared() -> None:
    assert set(mutant_paths(EX_ID)) == set(expected_failures(EX_ID))


def test_binomial_variant_key_passes_the_test_statistics() -> None:
    params = next(p for s in range(50) if (p := mod.draw_params(np.random.default_rng(s)))["family"] == "binomial")
    result = _result(key_path(EX_ID), _without_bootstrap(mod.build(params)))
    assert [(c.name, c.message) for c in result.checks if not c.passed] == []


def test_oracles_halve_the_p_value_and_the_reference_null_has_a_point_mass_at_zero() -> None:
    case = mod._own_case(mod.DEFAULT_PARAMS)
    lrt = mod.lrt_oracle(**case)
    assert lrt >= mod.MIN_LRT
    assert mod.p_mixture_oracle(**case) == pytest.approx(mod.p_chisq_oracle(**case) / 2, rel=1e-12)
    draws = mod.reference_draws(case["X"], case["y"], case["cluster"], case["family"])
    assert draws.shape == (mod.REFERENCE_NSIM,) and np.all(draws >= 0)
    # under H0 a large share of refits sit on the boundary -- the reason for the mixture
    assert 0.3 < np.mean(draws < mod.ZERO) < 0.9


def test_validate_rejects_wrong_shapes_and_negative_statistics() -> None:
    case = {"nsim": 3}
    assert mod._validate(np.zeros(3), case) is None
    assert "nsim = 3" in mod._validate(np.zeros(4), case)
    assert "≥ 0" in mod._validate(np.array([0.0, -1.0, 2.0]), case)
    assert mod._validate(1.5, case) is not None


@pytest.mark.parametrize("variant_seed", range(2))
def test_drawn_variants_are_well_posed_and_data_deterministic(variant_seed: int) -> None:
    params = mod.draw_params(np.random.default_rng(variant_seed))
    assert mod.problems(params) == []
    data = mod.make_data(params)["clusters"]
    assert data.equals(mod.make_data(params)["clusters"])
    assert data["cluster"].nunique() == params["n_clusters"]


def test_problems_flags_bad_variants() -> None:
    assert mod.problems({**mod.DEFAULT_PARAMS, "family": "gamma"})
    # no clustering in the simulation and a seed where the reference fit lands on τ̂ = 0 (LRT = 0)
    flat = next(p for s in range(40) if mod.problems(p := {**mod.DEFAULT_PARAMS, "tau": 0.0, "data_seed": s}))
    assert any("boundary" in text or "below" in text for text in mod.problems(flat))


def test_sheet_renders_and_states_the_bootstrap_size() -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
    env.filters["cleandoc"] = inspect.cleandoc
    text = env.get_template(mod.SHEET).render(params=mod.DEFAULT_PARAMS, data=mod.make_data(mod.DEFAULT_PARAMS),
                                              functions=mod.EXERCISE.functions)
    assert "null_lrt_draws(X, y, cluster, family, nsim, rng)" in text and "explain_boundary()" in text
    assert f"`nsim` = {mod.NSIM}" in text
