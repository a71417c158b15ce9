"""Per-student exercise variants: reproducible parameters from (course seed, student id, exercise id).

Every student gets, for every exercise, a variant drawn by the exercise's ``draw_params`` from a
generator seeded by :func:`variant_rng`. The seed is a SHA-256 of the three inputs, so a
student's variant never depends on the order of the roster or on which other students or
exercises exist, and re-running ``glmm-exercises generate`` with the same course seed gives the
same variants.

The exercise modules follow docs/catalogue-protocol.md; :func:`exercise_module` loads one by id
and :func:`check_protocol` says what a module is missing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from types import ModuleType
from typing import Any

import numpy as np

from glmm_exercises.catalogue import exercise_module
from graders.checks import Exercise

__all__ = [
    "ProtocolError",
    "build_exercise",
    "canonical_params",
    "check_protocol",
    "course_seed_hash",
    "exercise_module",
    "variant_params",
    "variant_rng",
]

#: Names every catalogue module defines (docs/catalogue-protocol.md).
PROTOCOL_NAMES = (
    "ID",
    "TITLE",
    "VERSION",
    "DEFAULT_PARAMS",
    "draw_params",
    "make_data",
    "build",
    "EXERCISE",
    "MUTANTS",
    "problems",
    "SHEET",
)

#: Tag mixed into every variant seed (change it and every variant of every course changes).
_SEED_TAG = "glmm-exercises variant v1"


class ProtocolError(ValueError):
    """A catalogue module does not follow the variant protocol (a catalogue bug)."""


def _check_seed(course_seed: int) -> int:
    if isinstance(course_seed, bool) or not isinstance(course_seed, int) or course_seed < 0:
        raise ValueError(f"course seed must be a whole number >= 0, not {course_seed!r}")
    return course_seed


def variant_rng(course_seed: int, student_id: str, exercise_id: str) -> np.random.Generator:
    """The generator that draws ``student_id``'s variant of ``exercise_id`` in this course.

    A ``numpy.random.SeedSequence`` over the 256-bit SHA-256 of the three inputs (joined with a
    separator that cannot occur in a student id), so the result depends on nothing else.
    """
    _check_seed(course_seed)
    text = "\x1f".join((_SEED_TAG, str(course_seed), student_id, exercise_id))
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))


def course_seed_hash(course_seed: int) -> str:
    """A reference to the course seed for manifests that does not show it (for a high-entropy seed)."""
    _check_seed(course_seed)
    return "sha256:" + hashlib.sha256(f"{_SEED_TAG}|course|{course_seed}".encode()).hexdigest()


def canonical_params(params: dict[str, Any], *, where: str = "params") -> dict[str, Any]:
    """``params`` as plain JSON data (numpy scalars become Python numbers, tuples lists).

    Raises :class:`ProtocolError` for values that cannot be stored in a manifest (NaN,
    infinities, objects), naming the offending key.
    """

    def plain(value: Any, path: str) -> Any:
        if isinstance(value, bool | np.bool_):
            return bool(value)
        if isinstance(value, int | np.integer):
            return int(value)
        if isinstance(value, float | np.floating):
            v = float(value)
            if not math.isfinite(v):
                raise ProtocolError(f"{path} is {v}; variant parameters must be finite numbers")
            return v
        if isinstance(value, str):
            return value
        if isinstance(value, list | tuple | np.ndarray):
            return [plain(v, f"{path}[{i}]") for i, v in enumerate(list(value))]
        if isinstance(value, dict):
            return {str(k): plain(v, f"{path}.{k}") for k, v in value.items()}
        raise ProtocolError(
            f"{path} is a {type(value).__name__}; variant parameters must be plain JSON data "
            "(numbers, strings, lists, dicts)"
        )

    if not isinstance(params, dict):
        raise ProtocolError(f"{where} must be a dict, not {type(params).__name__}")
    out = plain(params, where)
    # A round trip through JSON must give the same value (what the manifest stores is what
    # grading rebuilds the exercise from).
    assert json.loads(json.dumps(out)) == out
    return out


def check_protocol(module: ModuleType) -> list[str]:
    """What ``module`` is missing from the variant protocol (``[]`` when it is complete)."""
    missing = [name for name in PROTOCOL_NAMES if not hasattr(module, name)]
    return [f"{module.__name__} does not define {name}" for name in missing]


def _module(exercise_id: str) -> ModuleType:
    module = exercise_module(exercise_id)
    missing = check_protocol(module)
    if missing:
        raise ProtocolError(
            f"exercise {exercise_id!r} does not follow docs/catalogue-protocol.md yet: "
            + "; ".join(missing)
        )
    return module


def variant_params(course_seed: int, student_id: str, exercise_id: str) -> dict[str, Any]:
    """``student_id``'s parameters of ``exercise_id`` for this course seed (plain JSON data)."""
    module = _module(exercise_id)
    params = module.draw_params(variant_rng(course_seed, student_id, exercise_id))
    return canonical_params(params, where=f"{exercise_id} params")


def build_exercise(
    exercise_id: str, params: dict[str, Any] | None = None, *, answers: dict[str, Any] | None = None
) -> Exercise:
    """The gradable :class:`Exercise` of one variant (the default variant when ``params`` is None).

    ``answers``: the exercise's instructor-only answers (:func:`glmm_exercises.catalogue.answers`),
    passed to ``build`` of exercises that define ``ANSWERS``; without them, their checks look the
    answers up when they run.
    """
    module = _module(exercise_id)
    if params is None:
        params = module.DEFAULT_PARAMS
    exercise = module.build(params, answers) if answers else module.build(params)
    if not isinstance(exercise, Exercise):
        raise ProtocolError(f"{exercise_id}: build() returned {type(exercise).__name__}, not an Exercise")
    if exercise.id != exercise_id:
        raise ProtocolError(f"{exercise_id}: build() returned an exercise with id {exercise.id!r}")
    return dataclasses.replace(exercise, variant=variant_fingerprint(exercise_id, params, answers))


def variant_fingerprint(exercise_id: str, params: dict[str, Any], answers: dict[str, Any] | None = None) -> str:
    """A digest of everything a variant's checks are built from (graders.case_cache keys
    generated inputs by it, so they are never shared across variants)."""
    text = json.dumps([exercise_id, params, answers or {}], sort_keys=True, default=repr, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
