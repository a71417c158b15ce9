"""Exercise link-aic: answer key, mutants, variants, separation test, sheet, and the reference against a check."""

from __future__ import annotations

import dataclasses
import runpy
import warnings

import numpy as np
import pytest
from _fake_sandbox import fake_factory

from glmm_exercises.catalogue import expected_failures, get_exercise, key_path, mutant_paths
from glmm_exercises.catalogue import link_aic as mod
from glmm_exercises.sheets import markdown_to_html, render_exercise_markdown
from graders.checks import Exercise
from graders.runner import grade

EX_ID = "link-aic"
SEED = 0x11AC_0A1C
FAST = 5  # the generated checks fix their own (small) number of examples
OWN_CHECKS = {"glm_aic_own_data", "best_link_own_data", "glmm_aic_own_data", "glmm_beats_own_data"}

pytestmark = pytest.mark.filterwarnings("ignore::Warning")


def _own_data_only(ex: Exercise) -> Exercise:
    return dataclasses.replace(ex, checks=tuple(c for c in ex.checks if c.name in OWN_CHECKS))


def test_registered_and_default_variant_is_sound() -> None:
    ex = get_exercise(EX_ID)
    assert ex is mod.EXERCISE and ex.id == mod.ID
    assert mod.problems(mod.DEFAULT_PARAMS) == []


def test_answer_key_gets_full_marks() -> None:
    ex = get_exercise(EX_ID)
    result = grade(key_path(EX_ID), ex, mode="all", seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
    assert [(c.name, c.message) for c in result.checks if not c.passed] == []
    assert result.score == ex.max_score


@pytest.mark.parametrize("mutant", sorted(expected_failures(EX_ID)))
def test_each_mutant_loses_its_own_data_checks(mutant: str) -> None:
    """Fast version: only the checks on the student's own data set (no generated data, no shrinking)."""
    ex = _own_data_only(get_exercise(EX_ID))
    result = grade(mutant_paths(EX_ID)[mutant], ex, mode="all", seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
    assert {c.name for c in result.checks if not c.passed} == expected_failures(EX_ID)[mutant] & OWN_CHECKS


@pytest.mark.slow
@pytest.mark.parametrize("mutant", sorted(expected_failures(EX_ID)))
def test_each_mutant_loses_exactly_its_declared_checks(mutant: str) -> None:
    ex = get_exercise(EX_ID)
    result = grade(mutant_paths(EX_ID)[mutant], ex, mode="all", seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
    assert {c.name for c in result.checks if not c.passed} == expected_failures(EX_ID)[mutant]


def test_every_mutant_file_is_declared_and_fails_something_on_generated_data_too() -> None:
    assert set(mutant_paths(EX_ID)) == set(expected_failures(EX_ID))
    for failing in expected_failures(EX_ID).values():
        assert failing - OWN_CHECKS  # the generated data sets catch every mutant as well


def test_hints_name_the_mistakes() -> None:
    full = get_exercise(EX_ID)
    wanted = {
        "returns_deviance": ("glm_aic_own_data", "deviance"),
        "penalty_p": ("glm_aic_own_data", "+p where AIC has +2p"),
        "glmm_fixed_effects_only": ("glmm_aic_own_data", "p + 1 parameters"),
        "best_link_largest_aic": ("best_link_own_data", "largest AIC"),
        "glmm_beats_reversed": ("glmm_beats_own_data", "smaller AIC wins"),
    }
    for mutant, (name, phrase) in wanted.items():
        ex = dataclasses.replace(full, checks=tuple(c for c in full.checks if c.name == name))
        result = grade(mutant_paths(EX_ID)[mutant], ex, mode="all", seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
        check = next(c for c in result.checks if c.name == name)
        assert not check.passed and phrase in check.hint, (mutant, check.hint)


def test_link_name_and_verdict_are_compared_exactly_with_readable_messages() -> None:
    """best_link answers with a name and glmm_beats_glm with a bool; a wrong one shows expected vs got."""
    full = get_exercise(EX_ID)
    frame = mod.make_data(mod.DEFAULT_PARAMS)["binary"]
    X, y, cluster = mod._design(frame), frame["y"].to_numpy(float), frame["cluster"].to_numpy()
    best = mod.best_link_oracle(X, y)
    assert best in mod.LINKS and best == mod.LINKS[int(np.argmin([mod.glm_aic_oracle(X, y, k) for k in mod.LINKS]))]
    verdict = mod.beats_oracle(X, y, cluster)
    assert verdict is (mod.glmm_aic_oracle(X, y, cluster) < mod.glm_aic_oracle(X, y, "logit"))
    names = {"best_link_own_data": "best_link_largest_aic", "glmm_beats_own_data": "glmm_beats_reversed"}
    ex = dataclasses.replace(full, checks=tuple(c for c in full.checks if c.name in names))
    for name, mutant in names.items():
        result = grade(mutant_paths(EX_ID)[mutant], ex, mode="all", seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
        check = next(c for c in result.checks if c.name == name)
        assert not check.passed
        want = repr(best) if name == "best_link_own_data" else f"expected {verdict!r}, got {not verdict!r}"
        assert want in check.message, check.message


def test_beats_data_sets_contain_both_verdicts_clearly() -> None:
    """The fixed data sets of glmm_beats_generated: two where the GLMM loses by less than 2, two clear wins."""
    gains = []
    for seed in mod.BEATS_SEEDS:
        case = mod._beats_case(seed)
        assert not mod.separated(case["X"], case["y"]) and mod._interior(mod._glmm_fit(**case))
        gains.append(mod.gain_oracle(**case))
    assert sum(-2 < g < -0.1 for g in gains) == 2 and sum(g > 10 for g in gains) == 2, gains


@pytest.mark.parametrize("seed", range(3))
def test_drawn_variants_are_well_posed_and_data_deterministic(seed: int) -> None:
    params = mod.draw_params(np.random.default_rng(seed))
    assert params == mod.draw_params(np.random.default_rng(seed))
    assert mod.problems(params) == []
    data = mod.make_data(params)
    assert set(data) == {"binary"} and data["binary"].equals(mod.make_data(params)["binary"])
    frame = data["binary"]
    assert set(frame["y"]) == {0, 1} and frame["cluster"].nunique() == params["n_clusters"]
    # x2 is a cluster-level covariate
    assert (frame.groupby("cluster")["x2"].nunique() == 1).all()


def test_problems_flags_a_bad_link_and_separated_data() -> None:
    assert mod.problems({**mod.DEFAULT_PARAMS, "link": "cauchit"})
    x = np.linspace(-1, 1, 10)
    X = np.column_stack([np.ones(10), x])
    assert mod.separated(X, (x > 0).astype(float))
    assert not mod.separated(X, np.array([0, 1, 0, 1, 1, 0, 1, 0, 1, 0], dtype=float))


def test_reference_glmm_aic_is_the_laplace_maximum_of_the_key() -> None:
    """The oracle and an independent optimiser (the key's) agree on the default data set."""
    key = runpy.run_path(str(key_path(EX_ID)))
    frame = mod.make_data(mod.DEFAULT_PARAMS)["binary"]
    X, y, cluster = mod._design(frame), frame["y"].to_numpy(float), frame["cluster"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert key["glmm_aic"](X, y, cluster) == pytest.approx(mod.glmm_aic_oracle(X, y, cluster), abs=1e-6)
        for link in mod.LINKS:
            assert key["binary_glm_aic"](X, y, link) == pytest.approx(mod.glm_aic_oracle(X, y, link), abs=1e-6)


def test_sheet_renders_for_a_variant() -> None:
    params = mod.draw_params(np.random.default_rng(1))
    text = render_exercise_markdown(mod.SHEET, params=params, data=mod.make_data(params), functions=mod.EXERCISE.functions)

    assert "<math" in markdown_to_html(text)
    assert "binary.csv" in text and "glmm_beats_glm" in text and str(params["n_clusters"]) in text


def test_mutants_for_expects_a_flipped_verdict_only_where_the_margin_allows() -> None:
    """The default variant is exactly MUTANTS; on a drawn variant the own-data failures match grading."""
    assert mod.mutants_for(mod.DEFAULT_PARAMS) == expected_failures(EX_ID)
    params = mod.draw_params(np.random.default_rng(0))
    frame = mod.make_data(params)["binary"]
    X, y, cluster = mod._design(frame), frame["y"].to_numpy(float), frame["cluster"].to_numpy()
    gain = mod.gain_oracle(X, y, cluster)
    declared = mod.mutants_for(params)
    assert ("glmm_beats_own_data" in declared["penalty_p"]) == (0 < gain < X.shape[1])
    assert ("glmm_beats_own_data" in declared["returns_deviance"]) == (0 < gain < 2 * X.shape[1])
    ex = _own_data_only(mod.build(params))
    for mutant in ("penalty_p", "returns_deviance", "loglik_not_doubled", "glmm_fixed_effects_only"):
        result = grade(mutant_paths(EX_ID)[mutant], ex, mode="all", seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
        assert {c.name for c in result.checks if not c.passed} == declared[mutant] & OWN_CHECKS, mutant
