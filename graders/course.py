"""The course layer as the grading commands see it: a small interface, passed down, never imported.

``graders/`` is the grading core: checks, sandboxes, results, renderers, the batch machinery.
Rosters, assignments, variants and the exercise catalogue belong to the course layer above it
(``glmm_exercises``). The commands that live here (``glmm-grade``, ``glmm-grade batch``) need a few
things from that layer; they get them through :class:`CourseLayer`, an object passed in by the
caller or, for the installed commands, found through the entry-point group
``glmm_grade.course`` (``glmm_exercises`` registers ``glmm_exercises.course:LAYER`` there in
pyproject.toml). Nothing in ``graders/`` imports ``glmm_exercises``; ``tests/test_layers.py``
checks the import graph.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from graders.checks import Exercise
from graders.grading_errors import GradingError

__all__ = ["ENTRY_POINT_GROUP", "CourseLayer", "CourseLayerMissing", "course_layer"]

ENTRY_POINT_GROUP = "glmm_grade.course"


class CourseLayerMissing(GradingError):
    """No course layer is installed (the grading core alone cannot find exercises or assignments)."""


class CourseLayer(Protocol):
    """What the grading commands use of the course layer."""

    #: version of the course package (part of a batch's settings: a new version regrades)
    version: str
    #: exceptions meaning "this student's assignment cannot be used" (not a grader error)
    assignment_errors: tuple[type[Exception], ...]
    #: modules a batch worker process imports before its first job (a warm start)
    worker_modules: tuple[str, ...]

    def get_exercise(self, exercise_id: str, *, hidden: bool = False) -> Exercise:
        """The catalogue's exercise (``hidden``: with the instructor-only answers its hidden checks need)."""
        ...

    def load_assignment(self, directory: Path, student_id: str | None) -> Any:
        """One student's assignment (variants, configuration) from a generated course or a student folder."""
        ...

    def grade_assignment(self, submission: Path, assignment: Any, **options: Any) -> Any:
        """Grade a submission against every exercise of ``assignment`` (an assignment result)."""
        ...

    def render_assignment(self, result: Any, fmt: str, **options: Any) -> str:
        """An assignment result in one of glmm-grade's formats."""
        ...

    def check_hidden_material(self, directory: Path, student_id: str) -> None:
        """Raise a :class:`GradingError` when the instructor-only material hidden checks need is missing."""
        ...

    def valid_student_id(self, student_id: str) -> bool:
        """Is ``student_id`` a roster id (the submissions folder names students by it)?"""
        ...

    def general_hints(self, exercise_ids: Iterable[str]) -> set[str]:
        """The checks' general hints (not diagnoses), so the summary can tell named mistakes apart."""
        ...


@functools.cache
def course_layer() -> CourseLayer:
    """The installed course layer (entry point group :data:`ENTRY_POINT_GROUP`), loaded once.

    Raises:
        CourseLayerMissing: none is installed (one line saying how to install it).
    """
    found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    if not found:
        raise CourseLayerMissing(
            "no course layer is installed (exercises, assignments); install glmm-exercises with pip "
            "(pip install -e . in a clone), which registers it"
        )
    return found[0].load()
