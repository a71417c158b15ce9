"""Exercise laplace-cluster: answer key, mutants, variants of both families, sheet, oracle sanity."""

from __future__ import annotations

import runpy

import numpy as np
import pytest
from _fake_sandbox import fake_factory

from glmm_exercises.catalogue import expected_failures, get_exercise, key_path, mutant_paths
from glmm_exercises.catalogue import laplace_cluster as mod
from glmm_exercises.sheets import markdown_to_html, render_exercise_markdown
from graders.runner import grade
from reference.marginal import cluster_loglik

EX_ID = "laplace-cluster"
SEED = 0x1A91_ACE5
FAST = 12  # examples per check in the default run


def _binomial_params() -> dict:
    for s in range(50):
        params = mod.draw_params(np.random.default_rng(s))
        if params["family"] == "binomial":
            return params
    raise AssertionError("no binomial variant in 50 draws")


def test_registered_and_default_variant_is_sound() -> None:
    ex = get_exercise(EX_ID)
    assert ex is mod.EXERCISE and ex.id == mod.ID
    assert mod.problems(mod.DEFAULT_PARAMS) == []
    assert mod.DEFAULT_PARAMS["family"] == "poisson"  # MUTANTS are declared for the Poisson default


def test_answer_key_gets_full_marks() -> None:
    ex = get_exercise(EX_ID)
    result = grade(key_path(EX_ID), ex, mode="all", seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
    assert [(c.name, c.message) for c in result.checks if not c.passed] == []
    assert result.score == ex.max_score


def test_answer_key_gets_full_marks_on_a_binomial_variant() -> None:
    ex = mod.build(_binomial_params())
    result = grade(key_path(EX_ID), ex, mode="all", seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
    assert [(c.name, c.message) for c in result.checks if not c.passed] == []


@pytest.mark.parametrize("mutant", sorted(expected_failures(EX_ID)))
def test_each_mutant_loses_exactly_its_declared_checks(mutant: str) -> None:
    ex = get_exercise(EX_ID)
    result = grade(mutant_paths(EX_ID)[mutant], ex, mode="all", seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
    failed = {c.name for c in result.checks if not c.passed}
    assert failed == expected_failures(EX_ID)[mutant]


def test_binomial_variant_catches_the_mode_and_adaptivity_mistakes_but_has_no_factorial() -> None:
    ex = mod.build(_binomial_params())
    for mutant, must_fail in (("mode_at_zero", "laplace_small"), ("nonadaptive_ghq", "ghq_small")):
        result = grade(mutant_paths(EX_ID)[mutant], ex, seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
        assert must_fail in {c.name for c in result.checks if not c.passed}, mutant
    # binary responses have no log y! term: the factorial mutant is right for this family
    result = grade(mutant_paths(EX_ID)["drops_log_factorial"], ex, seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
    assert all(c.passed for c in result.checks)


def test_every_mutant_file_is_declared() -> None:
    assert set(mutant_paths(EX_ID)) == set(expected_failures(EX_ID))


def test_hints_name_the_mistakes() -> None:
    ex = get_exercise(EX_ID)
    wanted = {
        "drops_log_factorial": ("laplace_small", "log y_j!"),
        "laplace_no_curvature": ("laplace_small", "½ log(−g''(γ̂))"),
        "nonadaptive_ghq": ("ghq_small", "non-adaptive"),
        "mode_at_zero": ("laplace_small", "γ = 0"),
    }
    for mutant, (check_name, phrase) in wanted.items():
        result = grade(mutant_paths(EX_ID)[mutant], ex, seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
        check = next(c for c in result.checks if c.name == check_name)
        assert not check.passed and phrase in check.hint, (mutant, check.hint)


@pytest.mark.parametrize("seed", range(6))
def test_drawn_variants_are_well_posed_and_data_deterministic(seed: int) -> None:
    params = mod.draw_params(np.random.default_rng(seed))
    assert mod.problems(params) == []
    data = mod.make_data(params)
    again = mod.make_data(params)
    assert set(data) == {"clusters"}
    assert data["clusters"].equals(again["clusters"])
    assert data["clusters"]["cluster"].nunique() == params["n_clusters"]
    ex = mod.build(params)
    assert {c.name for c in ex.checks} == {c.name for c in mod.EXERCISE.checks}


def test_problems_flags_bad_variants() -> None:
    assert mod.problems({**mod.DEFAULT_PARAMS, "family": "gamma"})
    assert mod.problems({**mod.DEFAULT_PARAMS, "tau": 0.0})
    assert mod.problems({**mod.DEFAULT_PARAMS, "K": 1})


def test_key_many_nodes_agrees_with_brute_force_integration() -> None:
    key = runpy.run_path(str(key_path(EX_ID)))
    for case in mod._own_cases(mod.DEFAULT_PARAMS)[:3]:
        exact = cluster_loglik(case["y"], case["X"], case["beta"], case["tau"], "poisson", method="exact")
        assert key["ghq_loglik"](**case, K=25) == pytest.approx(exact, abs=1e-8)
        # the Laplace approximation is close but not exact
        assert 0 < abs(key["laplace_loglik"](**case) - exact) < 0.1


def test_sheet_renders_for_a_variant() -> None:
    params = _binomial_params()
    text = render_exercise_markdown(mod.SHEET, params=params, data=mod.make_data(params), functions=mod.EXERCISE.functions)

    assert "<math" in markdown_to_html(text)
    assert "logit" in text and "ghq_loglik" in text and str(params["tau"]) in text
