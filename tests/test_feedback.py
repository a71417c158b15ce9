"""Feedback a student can act on, checked on every mutant of every exercise: the text report fits
an 80-column terminal, no hint is printed twice, and a named mistake is the mutant's own where
the exercise declares which one it is (``MUTANT_DIAGNOSES``)."""

from __future__ import annotations

import pytest
from _fake_sandbox import fake_factory

from glmm_exercises.catalogue import (
    exercise_ids,
    expected_diagnoses,
    expected_failures,
    get_exercise,
    mutant_paths,
)
from graders.render import TEXT_WIDTH, render
from graders.runner import grade

SEED = 0xFEED_BAC4_2024_0001
CASES = [(eid, m) for eid in exercise_ids() for m in sorted(expected_failures(eid))]


@pytest.mark.parametrize(("exercise_id", "mutant"), CASES, ids=[f"{e}:{m}" for e, m in CASES])
def test_mutant_reports_are_narrow_say_each_hint_once_and_name_the_right_mistake(exercise_id, mutant):
    exercise = get_exercise(exercise_id, hidden=True)
    result = grade(mutant_paths(exercise_id)[mutant], exercise, mode="all", seed=SEED, max_examples=25,
                   sandbox_factory=fake_factory())
    text = render(result, "text")
    wide = [line for line in text.splitlines() if len(line) > TEXT_WIDTH]
    assert not wide, wide
    hints = [line.strip() for line in text.splitlines() if line.strip().startswith("hint: ")
             and not line.strip().startswith("hint: see ")]
    assert len(hints) == len(set(hints)), hints
    named = {c.diagnosis for c in result.checks if c.diagnosis is not None}
    declared = expected_diagnoses(exercise_id).get(mutant)
    if declared is not None:  # a named mistake is one the mutant makes, and one is named
        assert named and named <= declared, [(c.name, c.diagnosis) for c in result.checks if not c.passed]


def test_declared_diagnoses_exist():
    for eid in exercise_ids():
        names = {d.name for c in get_exercise(eid).checks for d in getattr(c, "diagnoses", ())}
        for mutant, declared in expected_diagnoses(eid).items():
            assert mutant in expected_failures(eid) and declared <= names, (eid, mutant, declared)


def test_points_have_at_most_two_decimals_and_hidden_points_are_announced():
    from graders.render import fmt_points

    assert [fmt_points(x) for x in (5 / 3, 10 / 3, 2.0, 0.5, 0.0)] == ["1.67", "3.33", "2", "0.5", "0"]
    exercise = get_exercise("poisson-marginal")
    result = grade(mutant_paths("poisson-marginal")["not_mean"], exercise, mode="public", max_examples=5,
                   sandbox_factory=fake_factory())
    hidden = sum(c.points for c in exercise.checks if c.visibility == "hidden")
    assert hidden > 0 and result.hidden_points == hidden
    assert f"{fmt_points(hidden)} more points are in hidden checks" in render(result, "text")
