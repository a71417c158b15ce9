"""The results model shared by every output format (JSON, text, Markdown, HTML, Gradescope, JUnit).

Values are frozen dataclasses holding only plain data: counterexamples, expected and got values
are stored already converted by :func:`to_plain` (numpy arrays become nested lists; NaN and
infinities become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` so the JSON is strict).

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

__all__ = [
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


def to_plain(value: object) -> Any:
    """Convert a value to JSON-safe plain data (lists, dicts, str, int, float, bool, None)."""
    if isinstance(value, np.ndarray):
        return to_plain(value.tolist())
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
        return [to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if value is None or isinstance(value, str):
        return value
    return repr(value)


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
    counterexample: dict[str, Any] | None = None
    expected: Any = None
    got: Any = None
    examples: int = 0
    runtime: float = 0.0

    def __post_init__(self) -> None:
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
    schema_version: str = field(default=SCHEMA_VERSION)

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
            out[f.name] = to_plain(getattr(self, f.name))
        out["score"] = self.score
        out["max_score"] = self.max_score
        out["percent"] = round(self.percent, 6)
        out["checks"] = [
            {f.name: to_plain(getattr(c, f.name)) for f in fields(c)} for c in self.checks
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
