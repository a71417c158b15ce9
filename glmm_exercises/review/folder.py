"""A batch output folder as the review sees it: results, assignment, rubric, overrides, times.

``glmm-grade batch`` records where its inputs were in ``DIR/inputs.json``; the assignment's
``instructor/manifest.json`` gives the roster and exercises, and its ``instructor/assignment.toml``
(or ``--config``) the rubric and late policy, so a rubric may be written or changed after
grading. ``DIR/overrides.csv`` (``student_id,exercise,points,reason``) is validated whole
before anything is recorded.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glmm_exercises.config import AssignmentConfig, load_config
from glmm_exercises.review.rubric import ManualItem
from glmm_exercises.review.store import ReviewStore
from graders.safe_text import one_line

__all__ = ["OVERRIDES_FILE", "GradingFolder", "ReviewError", "read_overrides", "sync_overrides"]

OVERRIDES_FILE = "overrides.csv"
OVERRIDES_HEADER = ("student_id", "exercise", "points", "reason")
INPUTS_FILE = "inputs.json"
RESULT_FORMAT = "glmm-batch-result 1"


class ReviewError(ValueError):
    """The grading folder, an overrides file or a manual-grades file cannot be used as given."""


@dataclass(frozen=True)
class ItemRef:
    """A manual item of one exercise."""

    exercise: str
    item: ManualItem

    @property
    def key(self) -> str:
        """``exercise/item``, as in URLs and the manual-grades CSV."""
        return f"{self.exercise}/{self.item.id}"


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReviewError(f"{str(path)!r} does not exist; {what}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReviewError(f"cannot read {str(path)!r} ({exc}); {what}") from None
    if not isinstance(data, dict):
        raise ReviewError(f"{str(path)!r} is not a JSON object; {what}")
    return data


class GradingFolder:
    """The batch output ``grading`` with everything the review needs (read once, at construction)."""

    def __init__(self, grading: str | Path, *, assignment: str | Path | None = None,
                 config: str | Path | None = None, roster: str | Path | None = None) -> None:
        self.dir = Path(grading)
        if not (self.dir / "batch.json").is_file():
            raise ReviewError(f"{str(self.dir)!r} is not a glmm-grade batch output (no batch.json); "
                              "pass the --out folder of glmm-grade batch")
        inputs: dict[str, Any] = {}
        if (self.dir / INPUTS_FILE).is_file():
            inputs = _read_json(self.dir / INPUTS_FILE, "rerun glmm-grade batch --resume")
        if assignment is None:
            if "assignment" not in inputs:
                raise ReviewError(f"{str(self.dir)!r} does not say which assignment it graded; pass --assignment DIR")
            assignment = inputs["assignment"]
        self.assignment = Path(assignment)
        sub = inputs.get("submissions")
        self.submissions: Path | None = Path(sub) if sub else None
        self.manifest = _read_json(self.assignment / "instructor" / "manifest.json",
                                   "pass --assignment with the folder glmm-exercises generate wrote")
        self.config: AssignmentConfig = load_config(config or self.assignment / "instructor" / "assignment.toml")
        manifest_ids = [str(e) for e in self.manifest.get("config", {}).get("exercises", [])]
        if list(self.config.exercise_ids) != manifest_ids:
            raise ReviewError(
                f"the configuration lists exercises {', '.join(self.config.exercise_ids)} but the assignment was "
                f"generated with {', '.join(manifest_ids)}; use the assignment's own assignment.toml"
            )
        self.exercise_ids: list[str] = manifest_ids
        self.students: dict[str, dict[str, Any]] = {
            str(k): dict(v) for k, v in self.manifest.get("students", {}).items()
        }
        if roster is not None:
            from glmm_exercises.roster import read_roster

            for st in read_roster(roster).students:
                if st.student_id in self.students:
                    self.students[st.student_id]["extension"] = st.extension
        self.results: dict[str, dict[str, Any] | None] = {}
        results_dir = self.dir / "results"
        submitted: dict[str, dict[str, Any]] = {}
        if results_dir.is_dir():
            for path in sorted(results_dir.glob("*.json")):
                try:
                    doc = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                    continue
                if isinstance(doc, dict) and doc.get("format") == RESULT_FORMAT:
                    submitted[path.stem] = doc
        for sid in sorted(set(self.students) | set(submitted)):
            self.results[sid] = submitted.get(sid)
        self.items: list[ItemRef] = [ItemRef(e.id, it) for e in self.config.exercises for it in e.manual]
        self.title = str(self.manifest.get("config", {}).get("title", "Assignment"))
        self.course = str(self.manifest.get("config", {}).get("course", ""))

    # lookups -----------------------------------------------------------------------------------

    def item(self, exercise: str, item_id: str) -> ItemRef | None:
        """The manual item ``item_id`` of ``exercise``, or None."""
        return next((r for r in self.items if r.exercise == exercise and r.item.id == item_id), None)

    def graded_students(self) -> list[str]:
        """Students whose batch result is ``graded`` (the ones manual grading applies to), sorted."""
        return [s for s, d in self.results.items() if d is not None and d.get("status") == "graded"]

    def exercise_result(self, sid: str, exercise: str) -> dict[str, Any] | None:
        """The student's autograded result of one exercise, or None."""
        doc = self.results.get(sid) or {}
        return next((e for e in doc.get("exercises", []) if e.get("exercise_id") == exercise), None)

    def written(self, sid: str, ref: ItemRef) -> dict[str, Any] | None:
        """The student's written answer for a (non-free) item: id, status, text, prompt; None when absent."""
        if ref.item.free:
            return None
        ex = self.exercise_result(sid, ref.exercise) or {}
        return next((w for w in ex.get("written", []) if w.get("id") == ref.item.id), None)

    def auto_max(self, exercise: str) -> float:
        """The exercise's autograded points (as most results say, else the manifest's)."""
        seen = [float(e["max_score"]) for d in self.results.values() if d
                for e in d.get("exercises", []) if e.get("exercise_id") == exercise]
        if seen:
            return max(set(seen), key=seen.count)
        points = [float(s["exercises"][exercise]["points"]) for s in self.students.values()
                  if exercise in s.get("exercises", {})]
        return max(points, default=0.0)

    def manual_max(self, exercise: str) -> float:
        """Points of the exercise's manual items."""
        return sum(r.item.points for r in self.items if r.exercise == exercise)

    def exercise_max(self, exercise: str) -> float:
        """Autograded plus manual points of one exercise."""
        return self.auto_max(exercise) + self.manual_max(exercise)

    def store(self) -> ReviewStore:
        """The review database of this folder (created on first use)."""
        return ReviewStore(self.dir)

    def record_grade(self, store: ReviewStore, sid: str, exercise: str, item_id: str, entries: list[int],
                     comment: str, source: str = "page") -> int:
        """Check and record one manual grade (the review page and the demo both come here); returns its id.

        Raises:
            ReviewError: no such item, the student has no graded submission, or an entry out of range.
        """
        ref = self.item(exercise, item_id)
        if ref is None:
            raise ReviewError(f"no manual item {exercise}/{item_id} in the rubric")
        if sid not in self.graded_students():
            raise ReviewError(f"{sid!r} has no graded submission in this batch")
        if any(not 0 <= j < len(ref.item.rubric) for j in entries):
            raise ReviewError("a rubric entry is out of range; reload the page (the rubric changed?)")
        return store.add_grade(sid, exercise, item_id, entries, comment, source)


def read_overrides(folder: GradingFolder, path: Path | None = None) -> list[tuple[str, str, float, str]]:
    """The rows of ``overrides.csv`` (missing file: none), validated whole.

    Raises:
        ReviewError: one line naming the row and what to fix.
    """
    path = path or folder.dir / OVERRIDES_FILE
    if not path.is_file():
        return []
    name = path.name
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReviewError(f"{name}: not UTF-8 text; save it as CSV UTF-8") from None
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or tuple(h.strip().lower() for h in rows[0]) != OVERRIDES_HEADER:
        raise ReviewError(f"{name}: the header must be exactly {','.join(OVERRIDES_HEADER)}")
    out: list[tuple[str, str, float, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != 4:
            raise ReviewError(f"{name} row {n}: expected 4 cells (student_id,exercise,points,reason), found {len(row)}; "
                              "quote a reason that holds a comma")
        sid, eid, points_text, reason = (c.strip() for c in row)
        if sid not in folder.results:
            raise ReviewError(f"{name} row {n}: unknown student {one_line(sid, 80)!r}; use an id of the roster")
        if eid not in folder.exercise_ids:
            raise ReviewError(f"{name} row {n}: unknown exercise {one_line(eid, 80)!r}; "
                              f"choose from {', '.join(folder.exercise_ids)}")
        try:
            points = float(points_text)
        except ValueError:
            points = math.nan
        top = folder.exercise_max(eid)
        if not math.isfinite(points) or not 0 <= points <= top:
            raise ReviewError(f"{name} row {n}: points {one_line(points_text, 40)!r} must be a number from 0 to "
                              f"{top:g} (the exercise's maximum)")
        if not reason:
            raise ReviewError(f"{name} row {n}: empty reason; say why the score is overridden")
        if (sid, eid) in seen:
            raise ReviewError(f"{name} rows {seen[(sid, eid)]} and {n} both override {sid} / {eid}; keep one")
        seen[(sid, eid)] = n
        out.append((sid, eid, points, one_line(reason, 1000)))
    return out


def sync_overrides(folder: GradingFolder, store: ReviewStore, rows: list[tuple[str, str, float, str]]) -> int:
    """Record ``overrides.csv`` rows that changed since the last sync (and withdraw removed rows
    whose newest event came from the file); returns the number of events written."""
    history = store.override_history()
    newest: dict[tuple[str, str], Any] = {}
    newest_csv: dict[tuple[str, str], Any] = {}
    for ev in history:
        newest[(ev.student, ev.exercise)] = ev
        if ev.source == OVERRIDES_FILE:
            newest_csv[(ev.student, ev.exercise)] = ev
    events: list[tuple[str, str, float | None, str]] = []
    wanted = {(s, e): (p, r) for s, e, p, r in rows}
    for key, (points, reason) in wanted.items():
        last = newest_csv.get(key)
        if last is None or (last.points, last.reason) != (points, reason):
            events.append((*key, points, reason))
    for key, ev in newest.items():
        if key not in wanted and ev.source == OVERRIDES_FILE and ev.points is not None:
            events.append((*key, None, "removed from overrides.csv"))
    if events:
        store.add_overrides(events, OVERRIDES_FILE)
    return len(events)


def student_person(folder: GradingFolder, sid: str) -> Mapping[str, Any]:
    """The manifest's entry of a student (empty for one not on the roster)."""
    return folder.students.get(sid, {})
