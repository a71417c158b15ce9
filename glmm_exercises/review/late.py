"""Submission times, extensions and late penalties (docs/review.md, "Late policy").

A submission's time comes, in this order, from

1. ``submissions.csv`` in the submissions folder: columns ``student_id`` and ``submitted_at``
   (an ISO 8601 date-time with a zone, e.g. ``2026-12-02T08:15:00+01:00`` or ``...Z``); an LMS
   download or a script writes it;
2. the modification time of the submitted file, as a last resort (the report says so: a copy
   or an unzip may have changed it).

A roster's optional ``extension`` column moves one student's due time: ``2d``, ``36h``,
``90m`` (added to the due time) or a date-time with a zone (the student's own due time).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from glmm_exercises.review.rubric import LatePolicy
from graders.safe_text import one_line

__all__ = ["LateInfo", "SubmissionTimeError", "late_info", "parse_extension", "submission_times"]

TIMES_FILE = "submissions.csv"
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([dhm])\s*", re.IGNORECASE)
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


class SubmissionTimeError(ValueError):
    """``submissions.csv`` cannot be used as given."""


def parse_extension(text: str) -> timedelta | datetime:
    """An extension: a duration (``2d``, ``36h``, ``90m``) or a new due date-time with a zone."""
    m = _DURATION.fullmatch(text)
    if m:
        return timedelta(**{_UNITS[m.group(2).lower()]: float(m.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("not a duration (2d, 36h, 90m) or an ISO date-time with a zone") from None
    if when.tzinfo is None:
        raise ValueError("the date-time has no time zone; add one, e.g. +01:00 or Z")
    return when


def _aware(text: str, where: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SubmissionTimeError(f"{where}: {text!r} is not an ISO date-time; write e.g. 2026-12-02T08:15:00+01:00") from None
    if when.tzinfo is None:
        raise SubmissionTimeError(f"{where}: {text!r} has no time zone; add one, e.g. +01:00 or Z")
    return when


def submission_times(submissions: Path | None) -> dict[str, tuple[datetime, str]]:
    """Student id -> (submission time, where it came from) for the submissions in ``submissions``.

    Raises:
        SubmissionTimeError: ``submissions.csv`` is malformed (one line naming the row).
    """
    from graders.batch import find_submissions

    times: dict[str, tuple[datetime, str]] = {}
    if submissions is None or not submissions.is_dir():
        return times
    for sub in find_submissions(submissions)[0]:
        if sub.path is not None:
            try:
                stamp = os.lstat(sub.path).st_mtime
            except OSError:
                continue
            times[sub.student_id] = (datetime.fromtimestamp(stamp, UTC), "the file's modification time")
    table = submissions / TIMES_FILE
    if not table.is_file():
        return times
    try:
        text = table.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SubmissionTimeError(f"{TIMES_FILE}: cannot read it as UTF-8 ({exc}); save it as CSV UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "student_id" not in fields or "submitted_at" not in fields:
        raise SubmissionTimeError(f"{TIMES_FILE}: the header needs columns student_id and submitted_at")
    reader.fieldnames = fields
    for row in reader:
        sid = one_line(row.get("student_id") or "", 100).strip()
        if not sid:
            continue
        where = f"{TIMES_FILE} row {reader.line_num}"
        times[sid] = (_aware(row.get("submitted_at") or "", where), TIMES_FILE)
    return times


@dataclass(frozen=True)
class LateInfo:
    """One student's lateness: when, from where, against which due time, and what it costs."""

    submitted: datetime | None
    source: str
    due: datetime | None
    extension: str
    days: int
    percent: float

    def describe(self) -> str:
        """One line for reports and the gradebook's audit column."""
        if self.due is None or self.submitted is None:
            return ""
        due = f"due {self.due.isoformat()}" + (f" (extension {self.extension})" if self.extension else "")
        when = f"submitted {self.submitted.isoformat(timespec='seconds')} ({self.source})"
        if not self.days:
            return f"on time: {when}, {due}"
        return f"{self.days} day(s) late: {when}, {due}; late penalty {self.percent:g} %"


def late_info(
    student: Mapping[str, object], due: datetime | None, policy: LatePolicy | None,
    submitted: tuple[datetime, str] | None,
) -> LateInfo:
    """Lateness of one student (``student`` is a manifest/roster entry, maybe with ``extension``)."""
    extension = str(student.get("extension", "") or "")
    if due is None:
        return LateInfo(submitted[0] if submitted else None, submitted[1] if submitted else "", None, "", 0, 0.0)
    own_due = due
    if extension:
        ext = parse_extension(extension)
        own_due = ext if isinstance(ext, datetime) else due + ext
    if submitted is None:
        return LateInfo(None, "", own_due, extension, 0, 0.0)
    late = submitted[0] - own_due
    if policy is not None:
        days, percent = policy.percent(late)
    else:  # a due time without a late policy: lateness is reported, never penalised
        days, percent = max(math.ceil(late / timedelta(days=1)), 0), 0.0
    return LateInfo(submitted[0], submitted[1], own_due, extension, days, percent)
