"""Exercise beaches-solutions: answer key, mutants (several seeds), shuffled questions, variants, sheet."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import jinja2
import numpy as np
import pytest
from _fake_sandbox import fake_factory

from glmm_exercises.catalogue import (
    answers,
    expected_failures,
    get_exercise,
    key_path,
    mutant_paths,
)
from glmm_exercises.catalogue import beaches_solutions as mod
from graders.runner import grade

EX_ID = "beaches-solutions"
SEED = 0xBEAC_0045
SEEDS = (SEED, pytest.param(3, marks=pytest.mark.slow), pytest.param(20241128, marks=pytest.mark.slow))
FAST = 2
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def _failed(path: Path, exercise, seed: int, mode: str = "all") -> dict[str, str]:
    result = grade(path, exercise, mode=mode, seed=seed, max_examples=FAST, sandbox_factory=fake_factory())
    return {c.name: c.message for c in result.checks if not c.passed}


def test_registered_default_variant_sound_and_json() -> None:
    assert get_exercise(EX_ID) is mod.EXERCISE
    assert mod.problems(mod.DEFAULT_PARAMS) == []
    assert json.loads(json.dumps(mod.DEFAULT_PARAMS)) == mod.DEFAULT_PARAMS


@pytest.mark.parametrize("seed", SEEDS)
def test_answer_key_gets_full_marks(seed: int) -> None:
    assert _failed(key_path(EX_ID), mod.EXERCISE, seed) == {}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mutant", sorted(expected_failures(EX_ID)))
def test_each_mutant_loses_exactly_its_declared_checks(mutant: str, seed: int) -> None:
    assert set(_failed(mutant_paths(EX_ID)[mutant], mod.EXERCISE, seed)) == expected_failures(EX_ID)[mutant]


def test_every_mutant_file_is_declared() -> None:
    assert set(mutant_paths(EX_ID)) == set(expected_failures(EX_ID))


def test_public_hints_name_the_mistakes() -> None:
    wanted = {
        "nine_extra": ("extra_parameters_own", "B − 1"),
        "treatment_contrasts": ("intercept_fixed_own", "treatment contrasts"),
        "ses_swapped": ("se_pooled_own", "another of the three models"),
    }
    for mutant, (check_name, phrase) in wanted.items():
        result = grade(mutant_paths(EX_ID)[mutant], mod.EXERCISE, sandbox_factory=fake_factory())
        check = next(c for c in result.checks if c.name == check_name)
        assert not check.passed and phrase in check.hint, (mutant, check.hint)


def test_options_are_shuffled_per_variant_and_the_correct_letter_follows() -> None:
    right = answers(EX_ID)
    variants = [mod.draw_params(np.random.default_rng(s)) for s in range(6)]
    letters = {tuple(mod.correct_letter(p, q, right) for q in mod.QUESTIONS) for p in variants}
    assert len(letters) > 1  # the right letters differ between variants
    for params in variants:
        for q, shown in params["questions"].items():
            assert shown["options"]["ABCD".index(mod.correct_letter(params, q, right))] == right[q]
            assert sorted(shown["options"]) == list(mod.QUESTIONS[q][1])


def test_public_source_does_not_reveal_the_correct_options() -> None:
    # the module's options are in alphabetical order (so their position says nothing), the correct ones
    # are only in the instructor-only answers file, and variant params hold no permutation
    right = answers(EX_ID)
    assert set(right) == set(mod.QUESTIONS) == set(mod.ANSWERS)
    for q, (_text, options) in mod.QUESTIONS.items():
        assert list(options) == sorted(options)
        assert right[q] in options
    positions = {mod.QUESTIONS[q][1].index(right[q]) for q in mod.QUESTIONS}
    assert positions != {0}  # not "correct first" as before
    assert "orders" not in mod.DEFAULT_PARAMS and "orders" not in mod.draw_params(np.random.default_rng(1))


def test_a_hard_coded_answer_sheet_fits_one_variant_only(tmp_path: Path) -> None:
    # a student who hard-codes the default variant's letters is right there and wrong after a reshuffle
    letters = {q: mod.correct_letter(mod.DEFAULT_PARAMS, q, answers(EX_ID)) for q in mod.QUESTIONS}
    sub = tmp_path / "hardcoded.py"
    sub.write_text(f"def beaches_answers(options):\n    return {letters!r}\n")
    mc = {f"mc_{q}" for q in mod.QUESTIONS}
    assert not set(_failed(sub, mod.EXERCISE, SEED)) & mc
    reshuffled = {q: {**shown, "options": shown["options"][::-1]} for q, shown in mod.DEFAULT_PARAMS["questions"].items()}
    other = {**mod.DEFAULT_PARAMS, "questions": reshuffled}
    assert mod.problems(other) == []
    assert set(_failed(sub, mod.build(other), SEED)) & mc == mc
    bad = tmp_path / "bad_letter.py"
    bad.write_text("def beaches_answers(options):\n    return {q: 'E' for q in options}\n")
    assert "one of the letters" in _failed(bad, mod.EXERCISE, SEED)["mc_why_random"]


@pytest.mark.parametrize("variant_seed", range(3))
def test_drawn_variants_are_well_posed_deterministic_and_the_key_passes(variant_seed: int) -> None:
    params = mod.draw_params(np.random.default_rng(variant_seed))
    assert mod.problems(params) == []
    data = mod.make_data(params)["beaches"]
    assert data.equals(mod.make_data(params)["beaches"])
    assert data["Beach"].nunique() == params["n_beaches"]
    assert _failed(key_path(EX_ID), mod.build(params), variant_seed, mode="public") == {}


def test_problems_flags_bad_variants() -> None:
    shown = mod.DEFAULT_PARAMS["questions"]
    twice = {**shown, "pooled_se": {**shown["pooled_se"], "options": [shown["pooled_se"]["options"][0]] * 4}}
    assert mod.problems({**mod.DEFAULT_PARAMS, "questions": twice})
    assert mod.problems({**mod.DEFAULT_PARAMS, "questions": {}})


def test_fixed_factor_numbers_agree_with_the_notes_structure() -> None:
    # B beaches: B − 1 sum-contrast columns; the sum-contrast intercept is the mean of the beach intercepts
    data = mod.make_data(mod.DEFAULT_PARAMS)["beaches"]
    numbers = mod.numbers_oracle(data)
    assert numbers["extra_parameters"] == mod.DEFAULT_PARAMS["n_beaches"] - 1
    treatment = mod._treatment_intercept(data)
    fixed = mod._fits(data)["fixed"].coef
    beach_effects = [fixed[f"Beach{i}"] for i in range(1, mod.DEFAULT_PARAMS["n_beaches"])]
    last = -sum(beach_effects)  # sum contrasts: the effects sum to zero
    assert treatment == pytest.approx(numbers["intercept_fixed"] + beach_effects[0], abs=1e-6)
    assert abs(last) < 5


def test_sheet_shows_the_variants_option_order() -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
    env.filters["cleandoc"] = inspect.cleandoc
    params = mod.draw_params(np.random.default_rng(4))
    text = env.get_template(mod.SHEET).render(params=params, data=mod.make_data(params), functions=mod.EXERCISE.functions)
    for shown in params["questions"].values():
        for letter, option in zip("ABCD", shown["options"], strict=True):
            assert f"- **{letter}.** {option}" in text
        assert shown["text"] in text


def test_a_variant_whose_two_ses_nearly_agree_is_ill_posed_and_redrawn() -> None:
    """selftest found this variant: τ̂0 is interior, but the pooled and random-intercept SEs of NAP
    differ by 0.05 %, so swapping them (the ses_swapped mistake) passed the own-data checks."""
    params = {**mod.DEFAULT_PARAMS, "beta": [1.66, -0.5], "tau0": 0.69, "n_beaches": 8,
              "per_beach": 4, "data_seed": 1893296170}
    numbers = mod.numbers_oracle(mod.make_data(params)["beaches"])
    assert abs(numbers["se_ratio"] - 1) < mod.MIN_SE_CHANGE
    assert any("differ by less than 1%" in p for p in mod.problems(params))
    drawn = mod.draw_params(np.random.default_rng(5))
    ratio = mod.numbers_oracle(mod.make_data(drawn)["beaches"])["se_ratio"]
    assert abs(ratio - 1) >= mod.MIN_SE_CHANGE
