"""The course layer the grading core's commands use (:class:`graders.course.CourseLayer`).

Registered as the entry point ``glmm_grade.course = glmm_exercises.course:LAYER`` (pyproject.toml),
so that ``glmm-grade`` and ``glmm-grade batch`` (in ``graders/``) reach the catalogue, assignments
and rosters without ``graders`` importing this package.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from graders.checks import Exercise

__all__ = ["LAYER", "GlmmExercisesCourse"]


class GlmmExercisesCourse:
    """glmm-exercises as a :class:`graders.course.CourseLayer`."""

    worker_modules = ("graders.batch", "graders.runner", "glmm_exercises.assignment")

    @property
    def version(self) -> str:
        from glmm_exercises import __version__

        return __version__

    @property
    def assignment_errors(self) -> tuple[type[Exception], ...]:
        from glmm_exercises.assignment import AssignmentError

        return (AssignmentError,)

    def get_exercise(self, exercise_id: str, *, hidden: bool = False) -> Exercise:
        from glmm_exercises.catalogue import get_exercise

        return get_exercise(exercise_id, hidden=hidden)

    def load_assignment(self, directory: Path, student_id: str | None) -> Any:
        from glmm_exercises.assignment import load_assignment

        return load_assignment(directory, student_id)

    def grade_assignment(self, submission: Path, assignment: Any, **options: Any) -> Any:
        from glmm_exercises.assignment import grade_assignment

        return grade_assignment(submission, assignment, **options)

    def render_assignment(self, result: Any, fmt: str, **options: Any) -> str:
        from glmm_exercises.assignment import render_assignment

        return render_assignment(result, fmt, **options)

    def check_hidden_material(self, directory: Path, student_id: str) -> None:
        self.load_assignment(directory, student_id).exercises(hidden=True)

    def valid_student_id(self, student_id: str) -> bool:
        from glmm_exercises.roster import valid_student_id

        return valid_student_id(student_id)

    def general_hints(self, exercise_ids: Iterable[str]) -> set[str]:
        from glmm_exercises.variants import build_exercise

        hints: set[str] = set()
        for eid in exercise_ids:
            try:
                hints |= {c.hint for c in build_exercise(eid).checks}
            except Exception:  # an exercise this installation lacks: its hints just stay unclassified
                continue
        return hints


LAYER = GlmmExercisesCourse()
