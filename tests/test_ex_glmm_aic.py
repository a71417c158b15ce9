"""Exercise glmm-aic: key, mutants (per variant via mutants_for), variants, sheet, the oracles' penalties."""

from __future__ import annotations

import inspect
import math
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
from glmm_exercises.catalogue import glmm_aic as mod
from graders.runner import grade

EX_ID = "glmm-aic"
SEED = 0xA1C
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def _result(path: Path, exercise):
    return grade(path, exercise, mode="all", seed=SEED, max_examples=3, sandbox_factory=fake_factory())


def _binomial_params() -> dict:
    return next(p for s in range(50) if (p := mod.draw_params(np.random.default_rng(s)))["family"] == "binomial")


def test_registered_with_a_written_question() -> None:
    ex = get_exercise(EX_ID)
    assert ex is mod.EXERCISE and mod.problems(mod.DEFAULT_PARAMS) == []
    assert [w.function for w in ex.written] == ["explain_model_choice"]
    assert "explain_model_choice" in runpy.run_path(str(key_path(EX_ID)))


@pytest.mark.parametrize("family", ["poisson", "binomial"])
def test_answer_key_gets_full_marks(family: str) -> None:
    ex = mod.EXERCISE if family == "poisson" else mod.build(_binomial_params())
    result = _result(key_path(EX_ID), ex)
    assert [(c.name, c.message) for c in result.checks if not c.passed] == []


@pytest.mark.parametrize("mutant", sorted(expected_failures(EX_ID)))
def test_each_mutant_loses_exactly_its_declared_checks_and_names_its_mistake(mutant: str) -> None:
    failed = [c for c in _result(mutant_paths(EX_ID)[mutant], mod.EXERCISE).checks if not c.passed]
    assert {c.name for c in failed} == expected_failures(EX_ID)[mutant]
    own = expected_diagnoses(EX_ID).get(mutant)
    if own:
        named = {c.diagnosis for c in failed if c.diagnosis is not None}
        assert named and named <= own, (mutant, named)


def test_every_mutant_file_is_declared() -> None:
    assert set(mutant_paths(EX_ID)) == set(expected_failures(EX_ID))


def test_mutants_for_is_exact_on_the_default_and_follows_a_binomial_variant() -> None:
    assert mod.mutants_for(mod.DEFAULT_PARAMS) == mod.MUTANTS
    params = _binomial_params()
    expected = mod.mutants_for(params)["bic_log_clusters"]
    failed = {c.name for c in _result(mutant_paths(EX_ID)["bic_log_clusters"], mod.build(params)).checks if not c.passed}
    assert failed == expected


def test_oracles_count_tau_and_use_the_number_of_observations() -> None:
    data = mod.make_data(mod.DEFAULT_PARAMS)["clusters"]
    glmm = mod._model_case(data, "poisson", "glmm")
    k, n = 4, len(data)  # β0, β1, β2 and τ
    assert mod.bic_oracle(**glmm) - mod.aic_oracle(**glmm) == pytest.approx(k * (math.log(n) - 2), rel=1e-12)
    glm = mod._model_case(data, "poisson", "glm")
    assert mod.bic_oracle(**glm) - mod.aic_oracle(**glm) == pytest.approx(3 * (math.log(n) - 2), rel=1e-12)
    # the default data set is one where the criteria disagree about the weak cluster-level x2
    case = {"data": data, "family": "poisson"}
    assert (mod.choose_aic_oracle(**case), mod.choose_bic_oracle(**case)) == ("glmm", "glmm_x1")


@pytest.mark.parametrize("variant_seed", range(3))
def test_drawn_variants_are_well_posed_and_data_deterministic(variant_seed: int) -> None:
    params = mod.draw_params(np.random.default_rng(variant_seed))
    assert mod.problems(params) == []
    data = mod.make_data(params)["clusters"]
    assert data.equals(mod.make_data(params)["clusters"])
    assert data.groupby("cluster")["x2"].nunique().max() == 1  # x2 is a cluster-level covariate


def test_problems_flags_bad_variants() -> None:
    assert mod.problems({**mod.DEFAULT_PARAMS, "family": "gamma"})
    near_tie = {"glm": (10.0, 20.0), "glmm": (5.0, 12.0), "glmm_x1": (5.05, 11.0), "glmm_null": (9.0, 19.0)}
    assert mod._gap_problems(near_tie) == [f"the two best candidates have nearly equal AIC (< {mod.MIN_GAP} apart)"]


def test_sheet_renders_for_both_families() -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
    env.filters["cleandoc"] = inspect.cleandoc
    for params in (mod.DEFAULT_PARAMS, _binomial_params()):
        text = env.get_template(mod.SHEET).render(params=params, data=mod.make_data(params), functions=mod.EXERCISE.functions)
        assert "choose_model(data, family)" in text and "explain_model_choice()" in text
        assert all(f"`{name}`" in text for name in mod.CANDIDATES)
