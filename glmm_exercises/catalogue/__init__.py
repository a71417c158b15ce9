"""The exercise catalogue: every gradable exercise, and where its instructor material is.

Each exercise lives in a sub-package ``glmm_exercises.catalogue.<module>`` that defines

* ``EXERCISE`` -- the :class:`graders.checks.Exercise` (functions, checks, public seed);
* ``MUTANTS`` -- ``{mutant name: frozenset of check names it must fail}``;

and keeps its **instructor material** in the folder ``instructor/`` next to it: ``key.py`` (the answer
key, written the way a student would), ``mutants/<name>.py`` (plausible wrong solutions, each written
as only the definitions that differ from the key; :func:`mutant_source` appends them to the key) and,
for exercises with multiple-choice questions, ``answers.json`` (the correct options). The answer keys
and mutants are what ``selftest`` and the test-suite grade to show every check can pass and can fail.

The wheel students install leaves every ``instructor/`` folder out (pyproject.toml). Instructor
material is found (:func:`instructor_source`) in

1. a folder given explicitly (``--instructor DIR``), else the environment variable
   ``GLMM_INSTRUCTOR_DIR``: an ``instructor/`` folder ``glmm-exercises generate`` wrote
   (``keys/<id>.py``, ``mutants/<id>/<name>.py``, ``answers/<id>.json``);
2. else the source tree of a clone or editable install (``catalogue/<module>/instructor/``).

When it is not there, :class:`MissingInstructorMaterial` (a ``GradingError``: one line, exit 2) says
what is missing and how to get it.

Use :func:`get_exercise`, :func:`exercise_ids`, :func:`key_path`, :func:`mutant_paths`,
:func:`answers`.
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from graders.checks import Exercise
from graders.grading_errors import GradingError, UnknownExerciseError

__all__ = [
    "INSTRUCTOR_ENV",
    "InstructorSource",
    "MissingInstructorMaterial",
    "answers",
    "exercise_ids",
    "exercise_module",
    "expected_diagnoses",
    "expected_failures",
    "get_exercise",
    "instructor_source",
    "key_path",
    "mutant_files",
    "mutant_paths",
    "mutant_source",
    "not_installed",
]

#: exercise id -> sub-package name (one line per exercise).
_REGISTRY: dict[str, str] = {
    "poisson-marginal": "poisson_marginal",
    "logit-marginal": "logit_marginal",
    "laplace-cluster": "laplace_cluster",
    "expfam": "expfam",
    "simulate-curves": "simulate_curves",
    "simulate-beaches": "simulate_beaches",
    "glmm-fit": "glmm_fit",
    "beaches-solutions": "beaches_solutions",
    "link-aic": "link_aic",
    "conditional-modes": "conditional_modes",
    "variance-test": "variance_test",
    "glmm-aic": "glmm_aic",
}


def exercise_ids() -> tuple[str, ...]:
    """Ids of all exercises in the catalogue, sorted."""
    return tuple(sorted(_REGISTRY))


def _module(exercise_id: str) -> ModuleType:
    try:
        name = _REGISTRY[exercise_id]
    except KeyError:
        raise UnknownExerciseError(
            f"unknown exercise {exercise_id!r}; choose one of: {', '.join(exercise_ids())}"
        ) from None
    return importlib.import_module(f"{__name__}.{name}")


def exercise_module(exercise_id: str) -> ModuleType:
    """The sub-package of exercise ``exercise_id`` (``UnknownExerciseError`` if none).

    Its names follow docs/catalogue-protocol.md (``build``, ``draw_params``, ``SHEET``, ...).
    """
    return _module(exercise_id)


def get_exercise(exercise_id: str, *, hidden: bool = False) -> Exercise:
    """The :class:`~graders.checks.Exercise` with id ``exercise_id`` (``UnknownExerciseError`` if none).

    ``hidden=True`` (grading every check) first makes sure the exercise's instructor-only answers
    can be found (:func:`answers`), so a run without them stops with one clear line instead of
    scoring the checks that need them as grader errors.
    """
    module = _module(exercise_id)
    if hidden:
        answers(exercise_id)
    exercise = module.EXERCISE
    assert isinstance(exercise, Exercise)
    return exercise


# Instructor material ------------------------------------------------------------------------------

#: Environment variable naming an instructor folder (what ``generate`` writes as ``OUT/instructor``).
INSTRUCTOR_ENV = "GLMM_INSTRUCTOR_DIR"

_HOW = (
    "the package students install leaves instructor material out; run from a clone of the "
    "repository (pip install -e .), or pass --instructor DIR (or set GLMM_INSTRUCTOR_DIR) to the "
    "instructor/ folder glmm-exercises generate wrote"
)


class MissingInstructorMaterial(GradingError):
    """An answer key, mutant or multiple-choice answer is not available here (see the module docstring)."""


def not_installed(what: str) -> MissingInstructorMaterial:
    """The error for instructor material (``what``) that this installation lacks, saying how to get it."""
    return MissingInstructorMaterial(f"{what} cannot be found: {_HOW}")


@dataclass(frozen=True)
class InstructorSource:
    """Where one exercise's instructor material is: the key, the mutants folder, the answers file."""

    exercise_id: str
    key: Path
    mutants: Path
    answers: Path
    #: the instructor folder given (``--instructor``/``$GLMM_INSTRUCTOR_DIR``); None: the source tree
    folder: Path | None

    def require(self, path: Path, what: str) -> Path:
        """``path`` if it exists, else :class:`MissingInstructorMaterial` naming ``what`` and where it looked."""
        if path.exists():
            return path
        if self.folder is None:
            raise not_installed(f"the {what} for {self.exercise_id}")
        raise MissingInstructorMaterial(
            f"the {what} for {self.exercise_id} cannot be found in the instructor folder {str(self.folder)!r} "
            f"({str(path)!r} is missing); pass the instructor/ folder glmm-exercises generate wrote for an "
            "assignment with this exercise"
        )


def instructor_source(exercise_id: str, instructor: str | Path | None = None) -> InstructorSource:
    """Where ``exercise_id``'s instructor material is looked up (the files need not exist).

    ``instructor``: an instructor folder written by ``generate``; ``None`` uses ``$GLMM_INSTRUCTOR_DIR``
    when set, else the exercise's ``instructor/`` folder in the source tree.
    """
    module = _module(exercise_id)
    folder = instructor if instructor is not None else (os.environ.get(INSTRUCTOR_ENV) or None)
    if folder is not None:
        root = Path(folder)
        if not root.is_dir():
            raise MissingInstructorMaterial(
                f"instructor folder {str(root)!r} does not exist; pass the instructor/ folder glmm-exercises "
                "generate wrote (or run from a clone of the repository without it)"
            )
        return InstructorSource(
            exercise_id, root / "keys" / f"{exercise_id}.py", root / "mutants" / exercise_id,
            root / "answers" / f"{exercise_id}.json", root,
        )
    root = Path(module.__file__ or "").parent / "instructor"
    return InstructorSource(exercise_id, root / "key.py", root / "mutants", root / "answers.json", None)


def key_path(exercise_id: str, *, instructor: str | Path | None = None) -> Path:
    """Path of the exercise's answer key (a student-style ``.py`` file); see :func:`instructor_source`."""
    source = instructor_source(exercise_id, instructor)
    return source.require(source.key, "answer key")


def mutant_source(exercise_id: str, name: str, *, instructor: str | Path | None = None) -> str:
    """Full source of one mutant: the answer key followed by the mutant's overriding definitions.

    A file ``mutants/<name>.py`` holds only what differs from the key (the functions or constants
    it gets wrong, and any extra imports); appended after the key, its definitions replace the key's.
    """
    source = instructor_source(exercise_id, instructor)
    override = source.require(source.mutants / f"{name}.py", f"mutant {name!r}").read_text(encoding="utf-8")
    key = source.require(source.key, "answer key").read_text(encoding="utf-8")
    return f"{key.rstrip()}\n\n\n# ---- mutant {name!r}: definitions below replace the key's ----\n\n{override}"


def mutant_files(exercise_id: str, *, instructor: str | Path | None = None) -> dict[str, Path]:
    """``{mutant name: path}`` of the exercise's mutant files as stored (only the overriding definitions)."""
    source = instructor_source(exercise_id, instructor)
    folder = source.require(source.mutants, "mutants folder")
    return {p.stem: p for p in sorted(folder.glob("*.py"))}


def mutant_paths(exercise_id: str, *, instructor: str | Path | None = None) -> dict[str, Path]:
    """``{mutant name: path}`` of the exercise's mutants (wrong solutions, full student-style files), by name.

    The full files are assembled by :func:`mutant_source` and written (only when their content changed)
    to a per-user cache folder under the system temporary directory, so they can be graded like any
    submission.
    """
    cache = Path(tempfile.gettempdir()) / f"glmm-exercises-mutants-{os.getuid()}" / exercise_id
    cache.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, override in mutant_files(exercise_id, instructor=instructor).items():
        source = mutant_source(exercise_id, name, instructor=instructor)
        target = cache / override.name
        if not target.is_file() or target.read_text(encoding="utf-8") != source:
            scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            scratch.write_text(source, encoding="utf-8")
            os.replace(scratch, target)
        paths[name] = target
    return paths


def answers(exercise_id: str, *, instructor: str | Path | None = None) -> dict[str, Any]:
    """The exercise's instructor-only answers (its ``answers.json``); ``{}`` for an exercise without any.

    An exercise has answers when its module defines ``ANSWERS`` (the names the file must hold, e.g.
    question ids); :class:`MissingInstructorMaterial` when the file is missing or lacks one of them.
    """
    wanted = tuple(getattr(_module(exercise_id), "ANSWERS", ()))
    if not wanted:
        return {}
    source = instructor_source(exercise_id, instructor)
    path = source.require(source.answers, "multiple-choice answers")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MissingInstructorMaterial(f"cannot read the answers of {exercise_id} from {str(path)!r} ({exc})") from None
    missing = [name for name in wanted if not isinstance(data, dict) or name not in data]
    if missing:
        raise MissingInstructorMaterial(
            f"{str(path)!r} has no answer for {missing[0]!r} of {exercise_id}; regenerate the instructor folder"
        )
    return {name: data[name] for name in wanted}


def expected_failures(exercise_id: str) -> dict[str, frozenset[str]]:
    """``{mutant name: check names that mutant must fail}`` as declared by the exercise."""
    return dict(_module(exercise_id).MUTANTS)


def expected_diagnoses(exercise_id: str) -> dict[str, frozenset[str]]:
    """``{mutant name: diagnosis names}``: the mistakes a mutant's failing checks may name (its
    own), where the exercise declares them (``MUTANT_DIAGNOSES``; optional)."""
    return dict(getattr(_module(exercise_id), "MUTANT_DIAGNOSES", {}))
