"""Typed errors of the grading layer (bad usage or unreadable input, never a student's mistake).

Student mistakes become check results; these exceptions mean grading could not start. The CLI
(``graders.cli``) turns them into one-line messages and exit code 2 in one place.
"""

from __future__ import annotations

__all__ = [
    "GradingError",
    "MissingSeedError",
    "SubmissionNotFoundError",
    "UnknownExerciseError",
]


class GradingError(ValueError):
    """Base class: grading cannot start with the inputs given."""


class SubmissionNotFoundError(GradingError):
    """The submission path does not exist or is not a readable .py / .ipynb file."""


class UnknownExerciseError(GradingError):
    """No exercise with that id is in the catalogue."""


class MissingSeedError(GradingError):
    """Official grading (hidden checks) was requested without the instructor's seed."""
