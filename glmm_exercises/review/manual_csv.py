"""Manual grades to and from a spreadsheet (``glmm-exercises review --export / --import``).

Columns: ``student_id,exercise,item,entries,points,comment,graded_at``. ``entries`` lists the
chosen rubric entries by their number on the page (1 for the first, ``;`` between them);
``points`` is the item's score. On import, a row needs ``entries`` or ``points`` (a row with
both must agree: points equal to what the entries give); ``graded_at`` is ignored. The whole
file is checked before anything is recorded, rows equal to the current grade are skipped, and
the rest are recorded in one transaction (source ``import``).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from glmm_exercises.review.folder import GradingFolder, ReviewError
from glmm_exercises.review.rubric import item_score
from graders.gradebook import points_text
from graders.safe_text import clip, csv_cell, one_line

__all__ = ["COLUMNS", "export_manual", "import_manual"]

COLUMNS = ("student_id", "exercise", "item", "entries", "points", "comment", "graded_at")


def export_manual(folder: GradingFolder, path: Path) -> int:
    """Write the current manual grades to ``path``; returns the number of rows."""
    from graders.atomic import atomic_write

    grades = folder.store().current_grades()
    rows = [list(COLUMNS)]
    for (sid, eid, item_id), g in sorted(grades.items()):
        ref = folder.item(eid, item_id)
        if ref is None:
            continue  # an item no longer in the rubric
        points = g.points if g.points is not None else item_score(ref.item, [i for i in g.entries if i < len(ref.item.rubric)])
        rows.append([csv_cell(sid), csv_cell(eid), csv_cell(item_id), ";".join(str(i + 1) for i in g.entries),
                     points_text(points), csv_cell(g.comment), g.at])
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    atomic_write(path, buffer.getvalue())
    return len(rows) - 1


def _uncell(text: str) -> str:
    """Undo the apostrophe :func:`csv_cell` puts before a formula-like cell."""
    return text[1:] if text.startswith("'") and text[1:2] in ("=", "+", "-", "@", "\t", "\r") else text


def import_manual(folder: GradingFolder, path: Path) -> tuple[int, int]:
    """Record the grades of ``path``; returns (recorded, unchanged). Raises ``ReviewError`` on any bad row."""
    name = path.name
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ReviewError(f"{str(path)!r} does not exist; pass the CSV written by --export") from None
    except UnicodeDecodeError:
        raise ReviewError(f"{name}: not UTF-8 text; save it as CSV UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    missing = [c for c in ("student_id", "exercise", "item") if c not in fields]
    if missing or ("entries" not in fields and "points" not in fields):
        raise ReviewError(f"{name}: the header needs student_id, exercise, item and entries or points "
                          f"(as --export writes: {','.join(COLUMNS)})")
    reader.fieldnames = fields
    store = folder.store()
    current = store.current_grades()
    graded = set(folder.graded_students())
    todo: list[tuple[str, str, str, list[int], float | None, str]] = []
    seen: dict[tuple[str, str, str], int] = {}
    unchanged = 0
    for row in reader:
        n = reader.line_num
        cells = {k: (v or "").strip() for k, v in row.items() if k}
        if not any(cells.values()):
            continue
        sid, eid, item_id = _uncell(cells["student_id"]), _uncell(cells["exercise"]), _uncell(cells["item"])
        ref = folder.item(eid, item_id)
        if ref is None:
            raise ReviewError(f"{name} row {n}: no manual item {one_line(eid, 60)!r} / {one_line(item_id, 60)!r} "
                              "in the rubric")
        if sid not in graded:
            raise ReviewError(f"{name} row {n}: {one_line(sid, 60)!r} is not a graded student of this batch")
        key = (sid, eid, item_id)
        if key in seen:
            raise ReviewError(f"{name} rows {seen[key]} and {n} both grade {sid} / {eid} / {item_id}; keep one")
        seen[key] = n
        entries: list[int] = []
        for part in filter(None, (p.strip() for p in cells.get("entries", "").split(";"))):
            if not part.isdigit() or not 1 <= int(part) <= len(ref.item.rubric):
                raise ReviewError(f"{name} row {n}: entry {one_line(part, 20)!r} is not a rubric entry number "
                                  f"(1 to {len(ref.item.rubric)})")
            entries.append(int(part) - 1)
        points: float | None = None
        if cells.get("points", ""):
            try:
                points = float(cells["points"])
            except ValueError:
                points = math.nan
            if not (math.isfinite(points) and 0 <= points <= ref.item.points):
                raise ReviewError(f"{name} row {n}: points {one_line(cells['points'], 20)!r} must be a number from "
                                  f"0 to {ref.item.points:g}")
        if points is None and not entries and not cells.get("entries", ""):
            raise ReviewError(f"{name} row {n}: give entries or points")
        if entries and points is not None:
            if abs(item_score(ref.item, entries) - points) > 1e-9:
                raise ReviewError(f"{name} row {n}: points {points:g} differ from the entries' "
                                  f"{item_score(ref.item, entries):g}; clear one of the two cells")
            points = None
        comment = clip(_uncell(cells.get("comment", "")), 5000)
        now = current.get(key)
        if now is not None and (list(now.entries), now.points, now.comment) == (sorted(set(entries)), points, comment):
            unchanged += 1
            continue
        todo.append((sid, eid, item_id, entries, points, comment))
    if todo:
        store.add_grades(todo, "import")
    return len(todo), unchanged
