"""The results model shared by every output format (JSON, text, Markdown, HTML, Gradescope, JUnit).

Values are frozen dataclasses holding only plain data: counterexamples, expected and got values
are stored already converted by :func:`to_plain` (numpy arrays become nested lists; NaN and
infinities become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` so the JSON is strict).

Text and values may come from student code, so the dataclasses make them safe when they are
built (``__post_init__``), whoever builds them: every string goes through
:func:`graders.safe_text.clean` (no lone surrogate, no control character reaches a writer), names,
ids and file names are put on one line, messages are capped at :data:`MAX_MESSAGE_CHARS`, and a
value with more than :data:`~graders.safe_text.MAX_VALUE_ITEMS` elements (or whose JSON would be
longer than :data:`MAX_VALUE_JSON_CHARS`) is replaced by a one-line summary string such as
``<ndarray of shape (1048576,), dtype float64, 1048576 elements (summarised): [0, 1, …]; min 0,
max 1048575>`` (see :func:`graders.safe_text.summarise_value`).

Timing fields are listed in :data:`TIMING_KEYS`; ``to_dict(timings=False)`` drops them, so the
same submission graded with the same seed gives byte-identical JSON (see docs/results-schema.md).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np

from graders.safe_text import (
    MAX_VALUE_CHARS,
    MAX_VALUE_ITEMS,
    clean,
    clip,
    one_line,
    summarise_value,
)

__all__ = [
    "MAX_MESSAGE_CHARS",
    "MAX_VALUE_JSON_CHARS",
    "SCHEMA_VERSION",
    "TIMING_KEYS",
    "CheckResult",
    "Status",
    "SubmissionResult",
    "seed_reference",
    "to_json",
    "to_plain",
]

SCHEMA_VERSION = "1.0"
#: Keys (at any level of ``to_dict``) that hold wall-clock measurements.
TIMING_KEYS = frozenset({"runtime", "execution_time"})

Status = Literal["passed", "failed", "error", "timeout"]
STATUSES: tuple[str, ...] = ("passed", "failed", "error", "timeout")


#: Characters kept of a message, hint or load message (the rest is replaced by a note).
MAX_MESSAGE_CHARS = 20_000
#: Characters of JSON a stored value (expected, got, a counterexample argument) may take.
MAX_VALUE_JSON_CHARS = 20_000
#: Elements kept of one counterexample argument (inputs come from the grader, so more are kept).
COUNTEREXAMPLE_MAX_ITEMS = 1000


def to_plain(value: object, *, max_items: int | None = MAX_VALUE_ITEMS) -> Any:
    """Convert a value to JSON-safe plain data (lists, dicts, str, int, float, bool, None).

    Strings are cleaned (:func:`graders.safe_text.clean`) and cut at
    :data:`~graders.safe_text.MAX_VALUE_CHARS` characters. A value with more than ``max_items``
    elements, or whose JSON would exceed :data:`MAX_VALUE_JSON_CHARS` characters, becomes a
    one-line summary string instead (``max_items=None``: convert everything, no cap).
    """
    if max_items is None:
        return _plain(value, None)
    small = summarise_value(value, max_items)
    if small is not value:
        return clean(small)
    plain = _plain(value, MAX_VALUE_CHARS)
    if len(json.dumps(plain, ensure_ascii=False, allow_nan=False)) > MAX_VALUE_JSON_CHARS:
        return clean(summarise_value(value, 0))
    return plain


def _plain(value: object, max_chars: int | None, depth: int = 0) -> Any:
    if depth > 64:  # summarise_value already refused deeper values; this guards max_items=None
        return "<nested too deep>"
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), max_chars, depth)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(value, list | tuple):
        return [_plain(v, max_chars, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {one_line(k, 200): _plain(v, max_chars, depth + 1) for k, v in value.items()}
    if value is None:
        return value
    if not isinstance(value, str):
        try:
            value = repr(value)
        except Exception:  # a hostile __repr__ must not take the grader down
            value = f"<unprintable {type(value).__name__}>"
    return clean(value) if max_chars is None else clip(value, max_chars)


def _counterexample(case: object) -> dict[str, Any] | None:
    if case is None:
        return None
    if not isinstance(case, Mapping):
        return {"input": to_plain(case)}
    return {one_line(k, 200): to_plain(v, max_items=COUNTEREXAMPLE_MAX_ITEMS) for k, v in case.items()}


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)  # normalising a frozen dataclass while it is built


def seed_reference(seed: int, exercise_id: str) -> str:
    """A short reference to a grading seed that does not reveal it (when the seed is high-entropy).

    Low-entropy seeds (small integers) can be recovered from any hash by trying them all, which is
    why the instructor seed should be a random 64-bit number (see docs/grading.md).
    """
    digest = hashlib.sha256(f"glmm-grade seed ref|{exercise_id}|{seed}".encode()).hexdigest()
    return f"sha256:{digest[:16]}"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    ``reason`` refines ``status`` with a machine-readable cause: ``ok``, ``mismatch``,
    ``exception``, ``timeout``, ``crashed``, ``not_implemented``, ``missing``,
    ``invalid_output``, ``forbidden_import``, ``output_too_large``, ``load_failed``,
    ``statistical`` or ``grader_error``.
    """

    name: str
    function: str
    description: str
    visibility: Literal["public", "hidden"]
    status: Status
    reason: str
    score: float
    max_score: float
    message: str
    hint: str | None = None
    #: the known mistake the hint names (a Diagnosis name), when it explains the student's values
    diagnosis: str | None = None
    counterexample: dict[str, Any] | None = None
    expected: Any = None
    got: Any = None
    examples: int = 0
    runtime: float = 0.0

    def __post_init__(self) -> None:
        for name in ("name", "function", "reason"):
            _set(self, name, one_line(getattr(self, name), 200))
        _set(self, "description", one_line(self.description, 1000))
        _set(self, "message", clip(self.message, MAX_MESSAGE_CHARS))
        if self.hint is not None:
            _set(self, "hint", clip(self.hint, MAX_MESSAGE_CHARS))
        if self.diagnosis is not None:
            _set(self, "diagnosis", one_line(self.diagnosis, 100))
        _set(self, "counterexample", _counterexample(self.counterexample))
        _set(self, "expected", to_plain(self.expected))
        _set(self, "got", to_plain(self.got))
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if not 0 <= self.score <= self.max_score:
            raise ValueError(f"check {self.name}: score {self.score} outside [0, {self.max_score}]")

    @property
    def passed(self) -> bool:
        """True when the check passed."""
        return self.status == "passed"


@dataclass(frozen=True)
class SubmissionResult:
    """All check results of one graded submission plus provenance."""

    exercise_id: str
    exercise_version: str
    exercise_title: str
    submission: str
    student: str | None
    mode: Literal["public", "all"]
    seed_ref: str
    load_status: str
    load_message: str
    isolation: str
    package_versions: dict[str, str]
    checks: tuple[CheckResult, ...]
    examples_per_check: int
    execution_time: float = 0.0
    #: what loading noticed without failing: a notebook cell that raised, a skipped magic
    load_warnings: tuple[str, ...] = ()
    #: points of the checks not run (public mode: the hidden checks the instructor grades)
    hidden_points: float = 0.0
    #: written answers, graded by hand: ``{"id", "function", "prompt", "status", "text"}`` with
    #: status ``answered``, ``empty`` (the starter's text or nothing), ``missing`` or ``error``
    written: tuple[dict[str, str], ...] = ()
    schema_version: str = field(default=SCHEMA_VERSION)

    def __post_init__(self) -> None:
        for name in ("exercise_id", "exercise_version", "seed_ref", "load_status", "isolation"):
            _set(self, name, one_line(getattr(self, name), 200))
        _set(self, "exercise_title", one_line(self.exercise_title))
        _set(self, "submission", one_line(self.submission, 300))
        if self.student is not None:
            _set(self, "student", one_line(self.student, 300))
        _set(self, "load_message", clip(self.load_message, MAX_MESSAGE_CHARS))
        _set(self, "load_warnings", tuple(one_line(str(w), 500) for w in list(self.load_warnings)[:50]))
        _set(self, "written", tuple(
            {"id": one_line(str(w.get("id", "")), 100), "function": one_line(str(w.get("function", "")), 100),
             "prompt": one_line(str(w.get("prompt", "")), 2000), "status": one_line(str(w.get("status", "")), 20),
             "text": clip(str(w.get("text", "")), 10_000)}
            for w in self.written))
        _set(self, "package_versions", {one_line(k, 100): one_line(v, 200) for k, v in self.package_versions.items()})
        _set(self, "checks", tuple(self.checks))

    @property
    def score(self) -> float:
        """Points earned."""
        return float(sum(c.score for c in self.checks))

    @property
    def max_score(self) -> float:
        """Points available in the checks that were run."""
        return float(sum(c.max_score for c in self.checks))

    @property
    def percent(self) -> float:
        """Score as a percentage of ``max_score`` (100 when nothing was graded)."""
        return 100.0 if self.max_score == 0 else 100.0 * self.score / self.max_score

    @property
    def passed_count(self) -> int:
        """Number of checks passed."""
        return sum(1 for c in self.checks if c.passed)

    def to_dict(self, *, timings: bool = True) -> dict[str, Any]:
        """Plain-data form following docs/results-schema.md; ``timings=False`` drops TIMING_KEYS."""
        out: dict[str, Any] = {"schema_version": self.schema_version}
        for f in fields(self):
            if f.name in ("schema_version", "checks"):
                continue
            out[f.name] = _plain(getattr(self, f.name), None)
        out["score"] = self.score
        out["max_score"] = self.max_score
        out["percent"] = round(self.percent, 6)
        out["checks"] = [
            {f.name: _plain(getattr(c, f.name), None) for f in fields(c)} for c in self.checks
        ]
        if not timings:
            out = _drop_keys(out, TIMING_KEYS)
        return out


def _drop_keys(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: _drop_keys(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_drop_keys(v, keys) for v in value]
    return value


def to_json(result: SubmissionResult, *, timings: bool = True) -> str:
    """The result as strict JSON text (no NaN literals), keys in schema order, newline-terminated."""
    return json.dumps(result.to_dict(timings=timings), indent=2, allow_nan=False) + "\n"
