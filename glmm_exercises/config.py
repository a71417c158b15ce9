"""Assignment configuration (``assignment.toml``, documented in docs/assignment.md).

The file chooses the exercises of an assignment and overrides grading settings per exercise::

    course = "Generalized linear mixed models, autumn 2026"
    title = "Assignment 1"
    exercises = ["poisson-marginal"]      # sheet order; default: the whole catalogue
    examples = 200                        # hypothesis examples per property check
    time_limit = 10                       # seconds per call, every check (optional)
    submission_time_limit = 300           # wall-time budget of one submission, all exercises

    [exercise.poisson-marginal]
    points = 20                           # the exercise's total; check points scale with it
    public = ["mean_scalar", "variance_scalar"]   # exactly these checks are public
    examples = 100
    time_limit = 5

:func:`load_config` validates everything (unknown keys, wrong types, unknown exercise ids or
check names, two exercises asking for the same function name) and raises
:class:`ConfigError` with a one-line message naming the key. :func:`apply_config` turns a
catalogue :class:`~graders.checks.Exercise` into the assignment's version of it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glmm_exercises.catalogue import exercise_ids
from graders.checks import Exercise

if TYPE_CHECKING:
    from glmm_exercises.review.rubric import LatePolicy, ManualItem

__all__ = [
    "AssignmentConfig",
    "ConfigError",
    "ExerciseConfig",
    "apply_config",
    "config_from_dict",
    "config_to_toml",
    "default_config",
    "load_config",
]

DEFAULT_TITLE = "Assignment"
DEFAULT_EXAMPLES = 200
#: Wall time one submission may use over all exercises together (seconds).
DEFAULT_SUBMISSION_SECONDS = 300.0
_TOP_KEYS = ("course", "title", "exercises", "examples", "time_limit", "submission_time_limit",
             "due", "late", "exercise")
_EXERCISE_KEYS = ("points", "public", "examples", "time_limit", "manual")


class ConfigError(ValueError):
    """The assignment configuration cannot be used as given."""


@dataclass(frozen=True)
class ExerciseConfig:
    """Per-exercise settings; ``None`` keeps the catalogue's value."""

    id: str
    points: float | None = None
    public: tuple[str, ...] | None = None
    examples: int | None = None
    time_limit: float | None = None
    #: items graded by hand in the review (glmm_exercises.review.rubric); not part of the manifest
    manual: tuple[ManualItem, ...] = ()


@dataclass(frozen=True)
class AssignmentConfig:
    """A validated assignment configuration."""

    course: str = ""
    title: str = DEFAULT_TITLE
    exercises: tuple[ExerciseConfig, ...] = ()
    examples: int = DEFAULT_EXAMPLES
    time_limit: float | None = None
    submission_time_limit: float = DEFAULT_SUBMISSION_SECONDS
    #: the due time and late policy (used by the review's gradebook; not part of the manifest)
    due: datetime | None = None
    late: LatePolicy | None = None

    @property
    def exercise_ids(self) -> tuple[str, ...]:
        """Ids of the chosen exercises, in sheet order."""
        return tuple(e.id for e in self.exercises)

    def exercise(self, exercise_id: str) -> ExerciseConfig:
        """The settings of one chosen exercise (``ConfigError`` if it is not in the assignment)."""
        for e in self.exercises:
            if e.id == exercise_id:
                return e
        raise ConfigError(f"exercise {exercise_id!r} is not part of this assignment ({', '.join(self.exercise_ids)})")

    def examples_for(self, exercise_id: str) -> int:
        """Examples per property check for one exercise."""
        own = self.exercise(exercise_id).examples
        return self.examples if own is None else own

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for the manifest), with every default written out."""
        return {
            "course": self.course,
            "title": self.title,
            "exercises": list(self.exercise_ids),
            "examples": self.examples,
            "time_limit": self.time_limit,
            "submission_time_limit": self.submission_time_limit,
            "exercise": {
                e.id: {
                    "points": e.points,
                    "public": None if e.public is None else list(e.public),
                    "examples": e.examples,
                    "time_limit": e.time_limit,
                }
                for e in self.exercises
            },
        }


# Validation helpers --------------------------------------------------------------------------


def _type_name(value: object) -> str:
    return {str: "a string", bool: "true/false", int: "a whole number", float: "a number",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _string(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, not {_type_name(value)}")
    return value


def _positive_int(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be a whole number, not {_type_name(value)}")
    if value < 1:
        raise ConfigError(f"{key} must be at least 1, not {value}")
    return value


def _positive_number(value: object, key: str, unit: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key} must be a number{unit}, not {_type_name(value)}")
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{key} must be a positive number{unit}, not {value}")
    return float(value)


def _string_list(value: object, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of strings, e.g. [\"a\", \"b\"]")
    dupes = sorted({v for v in value if value.count(v) > 1})
    if dupes:
        raise ConfigError(f"{key} lists {dupes[0]!r} twice; list it once")
    return list(value)


def _unknown_keys(table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            prefix = f"{where}." if where else ""
            raise ConfigError(f"{prefix}{key}: unknown key; allowed keys are {', '.join(allowed)}")


def _check_names(exercise_id: str) -> tuple[set[str], tuple[str, ...], dict[str, str]]:
    """Check names, function names and written items (id -> prompt) of the exercise's default variant."""
    checks, functions, written = _default_names(exercise_id)
    return set(checks), functions, dict(written)


@functools.cache
def _default_names(exercise_id: str) -> tuple[frozenset[str], tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Built once per process: validating a configuration (once per student in a batch) then
    costs no exercise builds."""
    from glmm_exercises.variants import build_exercise

    exercise = build_exercise(exercise_id)
    return (frozenset(c.name for c in exercise.checks), tuple(f.name for f in exercise.functions),
            tuple((w.id, w.prompt) for w in exercise.written))


def config_from_dict(data: Mapping[str, Any], *, source: str = "assignment.toml") -> AssignmentConfig:
    """Validate parsed TOML data; error messages start with ``source`` and name the key."""
    try:
        return _config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _config_from_dict(data: Mapping[str, Any]) -> AssignmentConfig:
    from glmm_exercises.review.rubric import parse_due, parse_late, parse_manual

    _unknown_keys(data, _TOP_KEYS, "")
    course = _string(data.get("course", ""), "course")
    title = _string(data.get("title", DEFAULT_TITLE), "title").strip() or DEFAULT_TITLE
    examples = _positive_int(data.get("examples", DEFAULT_EXAMPLES), "examples")
    time_limit = None
    if "time_limit" in data:
        time_limit = _positive_number(data["time_limit"], "time_limit", " of seconds")
    submission_time_limit = DEFAULT_SUBMISSION_SECONDS
    if "submission_time_limit" in data:
        submission_time_limit = float(_positive_number(
            data["submission_time_limit"], "submission_time_limit", " of seconds"))
    known = exercise_ids()
    if "exercises" in data:
        ids = _string_list(data["exercises"], "exercises")
        if not ids:
            raise ConfigError("exercises is empty; list at least one exercise id (see glmm-exercises list)")
    else:
        ids = list(known)
    for i, eid in enumerate(ids):
        if eid not in known:
            raise ConfigError(f"exercises[{i}]: unknown exercise id {eid!r}; choose from {', '.join(known)}")
    tables = data.get("exercise", {})
    if not isinstance(tables, dict):
        raise ConfigError("exercise must be a table of tables, e.g. [exercise.poisson-marginal]")
    for eid in tables:
        if eid not in ids:
            hint = "add it to exercises" if eid in known else f"choose from {', '.join(known)}"
            raise ConfigError(f"exercise.{eid}: {eid!r} is not among the assignment's exercises; {hint}")

    chosen: list[ExerciseConfig] = []
    owners: dict[str, str] = {}
    for eid in ids:
        table = tables.get(eid, {})
        where = f"exercise.{eid}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table ([{where}]), not {_type_name(table)}")
        _unknown_keys(table, _EXERCISE_KEYS, where)
        names, functions, written = _check_names(eid)
        for function in functions:
            if function in owners:
                raise ConfigError(
                    f"exercises {owners[function]!r} and {eid!r} both ask for a function named "
                    f"{function!r}, and one solution.py cannot hold both; drop one of them from exercises"
                )
            owners[function] = eid
        public = None
        if "public" in table:
            public = _string_list(table["public"], f"{where}.public")
            for name in public:
                if name not in names:
                    raise ConfigError(
                        f"{where}.public: no check named {name!r} in {eid}; its checks are {', '.join(sorted(names))}"
                    )
        chosen.append(
            ExerciseConfig(
                id=eid,
                points=_positive_number(table["points"], f"{where}.points") if "points" in table else None,
                public=None if public is None else tuple(public),
                examples=_positive_int(table["examples"], f"{where}.examples") if "examples" in table else None,
                time_limit=(
                    _positive_number(table["time_limit"], f"{where}.time_limit", " of seconds")
                    if "time_limit" in table
                    else None
                ),
                manual=parse_manual(table["manual"], f"{where}.manual", written) if "manual" in table else (),
            )
        )
    due = parse_due(data["due"]) if "due" in data else None
    late = parse_late(data["late"]) if "late" in data else None
    if late is not None and due is None:
        raise ConfigError("late: a late policy needs a due time; add due = 2026-12-01T23:59:00+01:00")
    return AssignmentConfig(course=course, title=title, exercises=tuple(chosen), examples=examples,
                            time_limit=time_limit, submission_time_limit=submission_time_limit,
                            due=due, late=late)


def load_config(path: str | Path) -> AssignmentConfig:
    """Read and validate an ``assignment.toml``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config {str(path)!r} does not exist; pass the path of your assignment.toml") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {str(path)!r} ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path.name}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); save it as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML ({exc})") from None
    return config_from_dict(data, source=path.name)


def default_config() -> AssignmentConfig:
    """Every exercise of the catalogue with the catalogue's settings."""
    return config_from_dict({}, source="default configuration")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def config_to_toml(config: AssignmentConfig) -> str:
    """The configuration as TOML text, every setting written out (same config, same bytes)."""
    lines = [
        "# Assignment configuration as used by glmm-exercises generate (see docs/assignment.md).",
        f"course = {_toml_value(config.course)}",
        f"title = {_toml_value(config.title)}",
        f"exercises = {_toml_value(list(config.exercise_ids))}",
        f"examples = {_toml_value(config.examples)}",
    ]
    if config.time_limit is not None:
        lines.append(f"time_limit = {_toml_value(config.time_limit)}")
    lines.append(f"submission_time_limit = {_toml_value(config.submission_time_limit)}")
    from glmm_exercises.review.rubric import late_to_toml, manual_to_toml

    late_lines = late_to_toml(config.due, config.late)
    if config.due is not None:
        lines.append(late_lines.pop(0))
    lines += late_lines
    for e in config.exercises:
        body = [
            f"{key} = {_toml_value(value)}"
            for key, value in (("points", e.points), ("public", e.public), ("examples", e.examples), ("time_limit", e.time_limit))
            if value is not None
        ]
        if body:
            lines += ["", f"[exercise.{_toml_value(e.id)}]", *body]
        lines += manual_to_toml(_toml_value(e.id), e.manual)
    return "\n".join(lines) + "\n"


def apply_config(exercise: Exercise, config: AssignmentConfig) -> Exercise:
    """The assignment's version of ``exercise``: points scaled, visibility and time limits overridden."""
    ecfg = config.exercise(exercise.id)
    scale = 1.0 if ecfg.points is None else ecfg.points / exercise.max_score
    time_limit = ecfg.time_limit if ecfg.time_limit is not None else config.time_limit
    checks = []
    for check in exercise.checks:
        changes: dict[str, Any] = {}
        if scale != 1.0:
            changes["points"] = check.points * scale
        if ecfg.public is not None:
            changes["visibility"] = "public" if check.name in ecfg.public else "hidden"
        if time_limit is not None:
            changes["time_limit"] = time_limit
        checks.append(dataclasses.replace(check, **changes) if changes else check)
    changes_ex: dict[str, Any] = {"checks": tuple(checks)}
    if time_limit is not None:
        changes_ex["call_seconds"] = time_limit
    return dataclasses.replace(exercise, **changes_ex)
