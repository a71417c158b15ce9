"""Manual items, rubrics and the late policy of ``assignment.toml`` (docs/review.md).

Parsed by :mod:`glmm_exercises.config` into :class:`ManualItem` and :class:`LatePolicy`; every
problem raises ``ConfigError`` with one line naming the key, like the rest of the file::

    due = 2026-12-01T23:59:00+01:00          # ISO date-time with a zone (a TOML date-time or a string)

    [late]
    grace_minutes = 15                       # on time up to 15 minutes after the due time
    per_day = 10                             # percent of the total lost per started day late ...
    # table = [10, 25, 50]                   # ... or percent for 1, 2, 3-and-more days late
    cap = 50                                 # never more than this percent (default 100)

    [[exercise.poisson-marginal.manual]]
    id = "above_not_mean"                    # a written item of the exercise ...
    points = 4
    rubric = [
      { text = "Names the convexity of exp (Jensen)", points = 2 },
      { text = "Says the random effect's spread lifts the mean", points = 2 },
      { text = "No reason given", points = 0, comment = "Say why, not only that it does." },
    ]

    [[exercise.poisson-marginal.manual]]
    id = "code_style"                        # ... or a free item, graded without text
    free = true
    title = "Readable code"
    points = 2
    rubric = [{ text = "Readable", points = 2 }, { text = "Hard to follow", points = 0 }]

An item's score is the sum of the chosen entries' points, kept between 0 and the item's points
(entries may be negative: deductions).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["LatePolicy", "ManualItem", "RubricEntry", "item_score", "parse_due", "parse_late", "parse_manual"]

_ITEM_KEYS = ("id", "points", "rubric", "title", "free")
_ENTRY_KEYS = ("text", "points", "comment")
_LATE_KEYS = ("grace_minutes", "per_day", "table", "cap")
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: Rubric entries one item may have (keys 1-9 and 0 choose them in the review page).
MAX_ENTRIES = 10


def _error(message: str) -> Exception:
    from glmm_exercises.config import ConfigError

    return ConfigError(message)


@dataclass(frozen=True)
class RubricEntry:
    """One rubric line: what the grader recognises, its points, an optional comment for the student."""

    text: str
    points: float
    comment: str = ""


@dataclass(frozen=True)
class ManualItem:
    """An item graded by hand: a written answer of the exercise, or a free item (no text)."""

    id: str
    points: float
    rubric: tuple[RubricEntry, ...]
    title: str = ""
    free: bool = False


@dataclass(frozen=True)
class LatePolicy:
    """How lateness costs points: percent of the student's total per started day, or a table."""

    grace_minutes: float = 0.0
    per_day: float = 0.0
    table: tuple[float, ...] = ()
    cap: float = 100.0

    def percent(self, late: timedelta) -> tuple[int, float]:
        """Days counted late and the percent lost for a submission ``late`` after its due time."""
        if late <= timedelta(minutes=self.grace_minutes):
            return 0, 0.0
        days = math.ceil(late / timedelta(days=1))
        if self.table:
            pct = self.table[min(days, len(self.table)) - 1]
        else:
            pct = self.per_day * days
        return days, min(pct, self.cap)


def item_score(item: ManualItem, chosen: Sequence[int]) -> float:
    """Points for the chosen rubric entries (indices), kept in ``[0, item.points]``."""
    total = sum(item.rubric[i].points for i in chosen)
    return min(max(total, 0.0), item.points)


def _number(value: object, key: str, *, positive: bool = False, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _error(f"{key} must be a number, not {value!r}")
    if positive and value <= 0:
        raise _error(f"{key} must be a positive number, not {value}")
    if minimum is not None and value < minimum:
        raise _error(f"{key} must be at least {minimum:g}, not {value}")
    return float(value)


def _text(value: object, key: str, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise _error(f"{key} must be a string, not {value!r}")
    if required and not value.strip():
        raise _error(f"{key} is empty; write what the entry stands for")
    return value.strip()


def _unknown(table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise _error(f"{where}.{key}: unknown key; allowed keys are {', '.join(allowed)}")


def parse_manual(value: object, where: str, written: Mapping[str, str]) -> tuple[ManualItem, ...]:
    """Validate ``[[exercise.<id>.manual]]`` tables; ``written`` maps the exercise's written-item ids to prompts."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _error(f"{where} must be an array of tables ([[{where}]])")
    items: list[ManualItem] = []
    for i, table in enumerate(value):
        here = f"{where}[{i}]"
        _unknown(table, _ITEM_KEYS, here)
        for key in ("id", "points", "rubric"):
            if key not in table:
                raise _error(f"{here}: missing key {key!r}; a manual item needs id, points and rubric")
        item_id = _text(table["id"], f"{here}.id")
        if not _ID_RE.fullmatch(item_id):
            raise _error(f"{here}.id: {item_id!r} is not allowed; use letters, digits, '_', '.' and '-'")
        if any(it.id == item_id for it in items):
            raise _error(f"{here}.id: {item_id!r} appears twice in {where}; ids must be unique")
        free = table.get("free", False)
        if not isinstance(free, bool):
            raise _error(f"{here}.free must be true or false, not {free!r}")
        if not free and item_id not in written:
            known = ", ".join(sorted(written)) or "none"
            raise _error(
                f"{here}.id: {item_id!r} is not a written item of this exercise (its written items: {known}); "
                "fix the id, or set free = true to grade it without a text"
            )
        if free and item_id in written:
            raise _error(f"{here}.free: {item_id!r} is a written item of this exercise; drop free = true")
        points = _number(table["points"], f"{here}.points", positive=True)
        rubric_raw = table["rubric"]
        if not isinstance(rubric_raw, list) or not rubric_raw or not all(isinstance(e, dict) for e in rubric_raw):
            raise _error(f"{here}.rubric must be a non-empty array of tables, e.g. [{{ text = \"...\", points = 1 }}]")
        if len(rubric_raw) > MAX_ENTRIES:
            raise _error(f"{here}.rubric has {len(rubric_raw)} entries; at most {MAX_ENTRIES} (split the item)")
        entries = []
        for j, entry in enumerate(rubric_raw):
            at = f"{here}.rubric[{j}]"
            _unknown(entry, _ENTRY_KEYS, at)
            if "text" not in entry or "points" not in entry:
                raise _error(f"{at}: an entry needs text and points")
            entry_points = _number(entry["points"], f"{at}.points")
            if abs(entry_points) > points:
                raise _error(f"{at}.points: {entry_points:g} is more than the item's {points:g} points")
            entries.append(RubricEntry(_text(entry["text"], f"{at}.text"), entry_points,
                                       _text(entry.get("comment", ""), f"{at}.comment", required=False)))
        title = _text(table.get("title", ""), f"{here}.title", required=False) or written.get(item_id, item_id)
        items.append(ManualItem(item_id, points, tuple(entries), title, free))
    return tuple(items)


def parse_due(value: object) -> datetime:
    """``due``: a TOML offset date-time or an ISO 8601 string, with a time zone."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _error(f"due: {value!r} is not an ISO date-time; write e.g. 2026-12-01T23:59:00+01:00") from None
    if not isinstance(value, datetime):
        raise _error(f"due must be a date-time such as 2026-12-01T23:59:00+01:00, not {value!r}")
    if value.tzinfo is None:
        raise _error(f"due: {value.isoformat()} has no time zone; add one, e.g. {value.isoformat()}+01:00 or Z")
    return value


def parse_late(value: object) -> LatePolicy:
    """``[late]``: grace_minutes, per_day or table (percent), cap (percent)."""
    if not isinstance(value, dict):
        raise _error("late must be a table ([late])")
    _unknown(value, _LATE_KEYS, "late")
    if "per_day" in value and "table" in value:
        raise _error("late: give per_day or table, not both")
    if "per_day" not in value and "table" not in value:
        raise _error("late: give per_day (percent per day late) or table (percent for 1, 2, ... days late)")
    grace = _number(value.get("grace_minutes", 0), "late.grace_minutes", minimum=0)
    per_day = _number(value.get("per_day", 0), "late.per_day", minimum=0)
    table: tuple[float, ...] = ()
    if "table" in value:
        raw = value["table"]
        if not isinstance(raw, list) or not raw:
            raise _error("late.table must be a non-empty list of percents, e.g. [10, 25, 50]")
        table = tuple(_number(v, f"late.table[{i}]", minimum=0) for i, v in enumerate(raw))
        if any(b < a for a, b in itertools.pairwise(table)):
            raise _error("late.table must not decrease (a later submission never costs less)")
    cap = _number(value.get("cap", 100), "late.cap", minimum=0)
    if cap > 100 or per_day > 100 or any(t > 100 for t in table):
        raise _error("late: percents must be at most 100")
    return LatePolicy(grace, per_day, table, cap)


def manual_to_toml(eid_key: str, items: Sequence[ManualItem]) -> list[str]:
    """TOML lines writing ``items`` back (``eid_key`` is the quoted exercise id)."""
    import json

    def s(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    lines: list[str] = []
    for it in items:
        lines += ["", f"[[exercise.{eid_key}.manual]]", f"id = {s(it.id)}", f"points = {it.points!r}",
                  f"title = {s(it.title)}"]
        if it.free:
            lines.append("free = true")
        lines.append("rubric = [")
        for e in it.rubric:
            comment = f", comment = {s(e.comment)}" if e.comment else ""
            lines.append(f"  {{ text = {s(e.text)}, points = {e.points!r}{comment} }},")
        lines.append("]")
    return lines


def late_to_toml(due: datetime | None, late: LatePolicy | None) -> list[str]:
    """TOML lines for ``due`` (top level) and ``[late]`` (a table: write it after the top-level keys)."""
    lines: list[str] = []
    if due is not None:
        lines.append(f"due = {due.isoformat()}")
    if late is not None:
        lines += ["", "[late]", f"grace_minutes = {late.grace_minutes!r}", f"cap = {late.cap!r}"]
        if late.table:
            lines.append("table = [" + ", ".join(repr(t) for t in late.table) + "]")
        else:
            lines.append(f"per_day = {late.per_day!r}")
    return lines
