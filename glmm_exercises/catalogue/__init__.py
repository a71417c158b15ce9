"""The exercise catalogue: every gradable exercise, its answer key and its mutants.

Each exercise lives in a sub-package ``glmm_exercises.catalogue.<module>`` that defines

* ``EXERCISE`` -- the :class:`graders.checks.Exercise` (functions, checks, public seed);
* ``MUTANTS`` -- ``{mutant name: frozenset of check names it must fail}``;

and ships, as student-style source files next to it, ``key.py`` (the answer key, written the
way a student would) and ``mutants/<name>.py`` (plausible wrong solutions, each written as only the
definitions that differ from the key; :func:`mutant_source` appends them to the key). The answer
keys and mutants are what the test-suite grades to show every check can pass and can fail.

Use :func:`get_exercise`, :func:`exercise_ids`, :func:`key_path`, :func:`mutant_paths`.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from importlib.resources import as_file, files
from pathlib import Path
from types import ModuleType

from graders.checks import Exercise
from graders.grading_errors import UnknownExerciseError

__all__ = [
    "exercise_ids",
    "exercise_module",
    "expected_failures",
    "get_exercise",
    "key_path",
    "mutant_paths",
    "mutant_source",
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


def get_exercise(exercise_id: str) -> Exercise:
    """The :class:`~graders.checks.Exercise` with id ``exercise_id`` (``UnknownExerciseError`` if none)."""
    exercise = _module(exercise_id).EXERCISE
    assert isinstance(exercise, Exercise)
    return exercise


def _resource_dir(exercise_id: str) -> Path:
    module = _module(exercise_id)
    with as_file(files(module.__name__)) as path:
        return Path(path)


def key_path(exercise_id: str) -> Path:
    """Path of the exercise's answer key (a student-style ``.py`` file)."""
    return _resource_dir(exercise_id) / "key.py"


def mutant_source(exercise_id: str, name: str) -> str:
    """Full source of one mutant: the answer key followed by the mutant's overriding definitions.

    A file ``mutants/<name>.py`` holds only what differs from ``key.py`` (the functions or constants
    it gets wrong, and any extra imports); appended after the key, its definitions replace the key's.
    """
    folder = _resource_dir(exercise_id)
    override = (folder / "mutants" / f"{name}.py").read_text(encoding="utf-8")
    key = (folder / "key.py").read_text(encoding="utf-8")
    return f"{key.rstrip()}\n\n\n# ---- mutant {name!r}: definitions below replace the key's ----\n\n{override}"


def mutant_paths(exercise_id: str) -> dict[str, Path]:
    """``{mutant name: path}`` of the exercise's mutants (wrong solutions, full student-style files), by name.

    The full files are assembled by :func:`mutant_source` and written (only when their content changed)
    to a per-user cache folder under the system temporary directory, so they can be graded like any
    submission.
    """
    overrides = sorted((_resource_dir(exercise_id) / "mutants").glob("*.py"))
    cache = Path(tempfile.gettempdir()) / f"glmm-exercises-mutants-{os.getuid()}" / exercise_id
    cache.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for override in overrides:
        source = mutant_source(exercise_id, override.stem)
        target = cache / override.name
        if not target.is_file() or target.read_text(encoding="utf-8") != source:
            scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            scratch.write_text(source, encoding="utf-8")
            os.replace(scratch, target)
        paths[override.stem] = target
    return paths


def expected_failures(exercise_id: str) -> dict[str, frozenset[str]]:
    """``{mutant name: check names that mutant must fail}`` as declared by the exercise."""
    return dict(_module(exercise_id).MUTANTS)
