"""Written answers: questions answered in words travel from the submission into every report and
the results, for the instructor's manual grading; they never change the automatic score."""

from __future__ import annotations

import dataclasses
import json

import pytest

from glmm_exercises.catalogue import get_exercise, key_path
from graders.checks import ExerciseDefinitionError, WrittenItem
from graders.render import render
from graders.runner import grade

EX = "poisson-marginal"
CORRECT = (key_path(EX)).read_text(encoding="utf-8").split("\ndef explain_above_not_mean")[0]


def _grade(tmp_path, extra: str):
    path = tmp_path / "solution.py"
    path.write_text(CORRECT + "\n\n" + extra, encoding="utf-8")
    return grade(path, get_exercise(EX), max_examples=5)


def test_the_key_answers_in_words_and_keeps_its_full_score():
    result = grade(key_path(EX), get_exercise(EX), max_examples=5)
    [w] = result.written
    assert w["id"] == "above_not_mean" and w["status"] == "answered"
    assert "Jensen" in w["text"] and result.score == result.max_score


@pytest.mark.parametrize(("extra", "status", "words"), [
    (WrittenItem("above_not_mean", "explain_above_not_mean", "Why?").stub(), "empty", "not answered yet"),
    ("def explain_above_not_mean():\n    return 42\n", "error", "must return a str, not int"),
    ("", "missing", "not defined"),
    ("def explain_above_not_mean():\n    raise RuntimeError('no idea')\n", "error", "no idea"),
])
def test_unanswered_or_broken_written_answers_are_said_and_cost_no_points(tmp_path, extra, status, words):
    result = _grade(tmp_path, extra)
    [w] = result.written
    assert w["status"] == status
    assert result.score == result.max_score  # the functions are right: written items are not scored
    assert words in " ".join(render(result, "text").split())  # wrapped at 80 columns


def test_a_written_answer_is_shown_as_text_in_every_format(tmp_path):
    answer = "The mean is above <script>alert(1)</script> because exp is convex."
    result = _grade(tmp_path, f"def explain_above_not_mean():\n    return {answer!r}\n")
    html = render(result, "html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    data = json.loads(render(result, "json"))
    assert data["written"][0]["text"] == answer and data["written"][0]["status"] == "answered"
    for fmt in ("text", "md", "gradescope", "junit"):
        assert f"received ({len(answer.split())} words)" in render(result, fmt), fmt


def test_a_written_item_needs_a_function_of_its_own():
    exercise = get_exercise(EX)
    clash = WrittenItem("x", exercise.functions[0].name, "Why?")
    with pytest.raises(ExerciseDefinitionError, match="function name of its own"):
        dataclasses.replace(exercise, written=(clash,))
