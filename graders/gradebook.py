"""``gradebook.csv``: one row per student, a shape learning-management systems import.

Columns, in this order:

* ``Student ID`` -- the roster's ``student_id`` (the key to match students on import);
* ``Name``, ``Email`` -- from the roster (empty when the roster had none);
* one points column per exercise, named ``<exercise id> (<max points>)`` in sheet order;
* ``Total (<max points>)`` and ``Percent`` (0-100, two decimals);
* ``Status`` -- ``graded``, ``graded (did not load: <exercise ids>)``, ``not graded: <why>`` or
  ``no submission``.

Points are written as plain decimal numbers (at most four decimals, no thousands separator,
``.`` as decimal mark). A student who submitted nothing, or whose grading failed, has empty
points cells: an import then leaves that grade untouched instead of recording a zero. Rows are
sorted by student id, so the same results always give the same bytes. The file is UTF-8 with
``\\r\\n`` line ends (the CSV convention spreadsheet programs expect). See docs/batch.md for
importing it into Canvas and Moodle.

Every text cell (ids, names, e-mails, statuses, exercise ids in the header) is written through
:func:`graders.safe_text.csv_cell` on one line: no control character, no line break, and a cell
a spreadsheet would take for a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR)
gets an apostrophe in front (CSV injection). Points and percentages are numbers this module
writes itself and are left as they are. Roster ids are letters, digits, ``.``, ``_`` and ``-``,
so an id starting with ``-`` is the one id that gains an apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from graders.safe_text import csv_cell, one_line

__all__ = ["gradebook_table", "points_text", "write_gradebook"]

STATUS_COLUMN = "Status"
#: Characters kept of a text cell (a longer one ends in ``…``).
MAX_CELL_CHARS = 1000


def _cell(value: object) -> str:
    """A text cell: one line, at most MAX_CELL_CHARS, neutralised for spreadsheets."""
    return csv_cell(one_line(value, MAX_CELL_CHARS))


def points_text(x: float) -> str:
    """Points as plain decimal text: at most four decimals, no exponent, no trailing zeros."""
    text = f"{round(float(x), 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _max_points(
    results: Sequence[tuple[str, Mapping[str, Any] | None]],
    roster: Mapping[str, Mapping[str, Any]],
    exercise_ids: Sequence[str],
) -> dict[str, float]:
    seen: dict[str, Counter[float]] = {eid: Counter() for eid in exercise_ids}
    for _, doc in results:
        for ex in (doc or {}).get("exercises", []):
            if ex.get("exercise_id") in seen:
                seen[ex["exercise_id"]][float(ex["max_score"])] += 1
    out = {}
    for eid in exercise_ids:
        if seen[eid]:
            out[eid] = seen[eid].most_common(1)[0][0]
        else:  # nobody graded yet: the points the assignment was generated with
            points = [float(s["exercises"][eid]["points"]) for s in roster.values() if eid in s.get("exercises", {})]
            out[eid] = max(points, default=0.0)
    return out


def gradebook_table(
    results: Sequence[tuple[str, Mapping[str, Any] | None]],
    roster: Mapping[str, Mapping[str, Any]],
    exercise_ids: Sequence[str],
) -> list[list[str]]:
    """Header and rows of the gradebook from ``(student id, batch result or None)`` pairs."""
    maxima = _max_points(results, roster, exercise_ids)
    total_max = sum(maxima.values())
    header = ["Student ID", "Name", "Email"]
    header += [_cell(f"{eid} ({points_text(maxima[eid])})") for eid in exercise_ids]
    header += [f"Total ({points_text(total_max)})", "Percent", STATUS_COLUMN]
    rows = [header]
    for sid, doc in sorted(results, key=lambda r: r[0]):
        person = roster.get(sid, {})
        row = [_cell(sid), _cell(person.get("name", "")), _cell(person.get("email", ""))]
        if doc is None:
            rows.append([*row, *([""] * len(exercise_ids)), "", "", "no submission"])
            continue
        if doc.get("status") != "graded":
            message = " ".join(str(doc.get("message", "")).split())
            rows.append([*row, *([""] * len(exercise_ids)), "", "", _cell(f"not graded: {message}")])
            continue
        by_id = {ex["exercise_id"]: ex for ex in doc.get("exercises", [])}
        scores = [float(by_id[eid]["score"]) if eid in by_id else 0.0 for eid in exercise_ids]
        total = sum(scores)
        unloaded = [eid for eid in exercise_ids if eid in by_id and by_id[eid].get("load_status") != "ok"]
        status = f"graded (did not load: {', '.join(unloaded)})" if unloaded else "graded"
        percent = 100.0 * total / total_max if total_max > 0 else 0.0
        rows.append([*row, *(points_text(s) for s in scores), points_text(total), f"{percent:.2f}", _cell(status)])
    return rows


def write_gradebook(
    path: str | Path,
    results: Sequence[tuple[str, Mapping[str, Any] | None]],
    roster: Mapping[str, Mapping[str, Any]],
    exercise_ids: Sequence[str],
) -> None:
    """Write ``gradebook.csv`` atomically (see the module docstring for the columns)."""
    from graders.atomic import atomic_write

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(gradebook_table(results, roster, exercise_ids))
    atomic_write(Path(path), buffer.getvalue())
