"""Final scores from all parts, and what is written from them.

For a graded student, an exercise's points are its autograded score plus the points of its
manual items (an item not graded yet counts 0 and is named in the Status), unless an override
sets the exercise's points outright. The late penalty is a percent of the sum (the late
policy's), subtracted from it: ``Total = (sum of exercises) * (1 - penalty/100)``.
Students not graded (no submission, grading failed) keep blank points, as in the batch, unless
an override scores them by hand (the other exercises then count 0).

Written here:

* ``DIR/gradebook.csv`` -- the batch's columns (docs/batch.md) plus ``Late penalty`` (percent)
  and ``Audit`` (every current override with its reason, time and source; the lateness);
* ``DIR/summary.html`` / ``.json`` -- the batch summary plus the manual items (points and how
  often each rubric entry was chosen);
* ``DIR/final/<student>.html`` -- each student's final report.
"""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2

from glmm_exercises.review.folder import GradingFolder, ItemRef, read_overrides, sync_overrides
from glmm_exercises.review.late import LateInfo, late_info, submission_times
from glmm_exercises.review.rubric import item_score
from glmm_exercises.review.store import GradeEvent, OverrideEvent, ReviewStore
from graders.gradebook import STATUS_COLUMN, points_text
from graders.safe_text import clean, clip, csv_cell, one_line

__all__ = ["ExerciseFinal", "ItemFinal", "StudentFinal", "final_grades", "rebuild", "write_final_reports"]

FINAL_DIR = "final"


@dataclass
class ItemFinal:
    """One manual item of one student: the answer, the current grade and its points."""

    ref: ItemRef
    written: dict[str, Any] | None
    grade: GradeEvent | None

    @property
    def points(self) -> float | None:
        """Points of the current grade (None: not graded yet)."""
        if self.grade is None:
            return None
        if self.grade.points is not None:
            return self.grade.points
        return item_score(self.ref.item, [i for i in self.grade.entries if i < len(self.ref.item.rubric)])


@dataclass
class ExerciseFinal:
    """One exercise of one student."""

    id: str
    auto: float
    auto_max: float
    items: list[ItemFinal]
    override: OverrideEvent | None
    max: float

    @property
    def computed(self) -> float:
        """Autograded plus manual points, before any override."""
        return self.auto + sum(i.points or 0.0 for i in self.items)

    @property
    def score(self) -> float:
        """The exercise's points (the override's when there is one)."""
        return self.override.points if self.override is not None and self.override.points is not None else self.computed


@dataclass
class StudentFinal:
    """One student's final grade."""

    sid: str
    person: dict[str, Any]
    status: str
    graded: bool
    exercises: list[ExerciseFinal] = field(default_factory=list)
    late: LateInfo | None = None
    total_max: float = 0.0

    @property
    def subtotal(self) -> float:
        """Sum of the exercises' points."""
        return sum(e.score for e in self.exercises)

    @property
    def penalty_points(self) -> float:
        """Points lost to the late policy."""
        return self.subtotal * (self.late.percent if self.late else 0.0) / 100.0

    @property
    def total(self) -> float:
        """Final points."""
        return self.subtotal - self.penalty_points

    @property
    def percent(self) -> float:
        """Final percent of the maximum."""
        return 100.0 * self.total / self.total_max if self.total_max > 0 else 0.0

    def ungraded_items(self) -> list[str]:
        """``exercise/item`` of manual items not graded yet."""
        return [i.ref.key for e in self.exercises for i in e.items if i.grade is None]

    def audit(self) -> list[str]:
        """Lines for the gradebook's Audit column and the report: overrides and lateness."""
        lines = []
        for e in self.exercises:
            if e.override is not None:
                lines.append(
                    f"override {e.id}: {points_text(e.score)} instead of {points_text(e.computed)} "
                    f"({e.override.reason}; {e.override.at}, {e.override.source})"
                )
        if self.late is not None and self.late.describe():
            lines.append(self.late.describe())
        return lines


def final_grades(folder: GradingFolder, store: ReviewStore | None = None,
                 times: dict[str, tuple[datetime, str]] | None = None) -> list[StudentFinal]:
    """Every student's final grade from the batch results, the review database and the late policy
    (``times``: the submission times, read from the submissions folder when not given)."""
    store = store or folder.store()
    grades = store.current_grades()
    overrides = store.current_overrides()
    if times is None:
        times = submission_times(folder.submissions)
    maxima = {eid: folder.exercise_max(eid) for eid in folder.exercise_ids}
    out = []
    for sid, doc in folder.results.items():
        person = folder.students.get(sid, {})
        if doc is None or doc.get("status") != "graded":
            status = "no submission" if doc is None else "not graded: " + " ".join(str(doc.get("message", "")).split())
            own = {eid: o for (s, eid), o in overrides.items() if s == sid}
            st = StudentFinal(sid, person, status, False, total_max=sum(maxima.values()))
            if own:  # scored by hand although the autograder gave nothing
                st.graded = True
                st.status = f"{status} (points from overrides only)"
                st.exercises = [ExerciseFinal(eid, 0.0, folder.auto_max(eid), [], own.get(eid), maxima[eid])
                                for eid in folder.exercise_ids]
                st.late = late_info(person, folder.config.due, folder.config.late, times.get(sid))
            out.append(st)
            continue
        exercises = []
        unloaded = []
        for eid in folder.exercise_ids:
            ex = folder.exercise_result(sid, eid)
            if ex is not None and ex.get("load_status") != "ok":
                unloaded.append(eid)
            items = [ItemFinal(r, folder.written(sid, r), grades.get((sid, eid, r.item.id)))
                     for r in folder.items if r.exercise == eid]
            exercises.append(ExerciseFinal(eid, float(ex["score"]) if ex else 0.0, folder.auto_max(eid), items,
                                           overrides.get((sid, eid)), maxima[eid]))
        late = late_info(person, folder.config.due, folder.config.late, times.get(sid))
        st = StudentFinal(sid, person, "graded", True, exercises, late, sum(maxima.values()))
        notes = []
        if unloaded:
            notes.append(f"did not load: {', '.join(unloaded)}")
        pending = st.ungraded_items()
        if pending:
            notes.append(f"manual items not graded yet: {', '.join(pending)}")
        st.status = f"graded ({'; '.join(notes)})" if notes else "graded"
        out.append(st)
    return out


def _cell(value: object) -> str:
    return csv_cell(one_line(value, 2000))


def gradebook_rows(folder: GradingFolder, finals: list[StudentFinal]) -> list[list[str]]:
    """Header and rows of the final gradebook (see the module docstring)."""
    maxima = [folder.exercise_max(eid) for eid in folder.exercise_ids]
    header = ["Student ID", "Name", "Email"]
    header += [_cell(f"{eid} ({points_text(m)})") for eid, m in zip(folder.exercise_ids, maxima, strict=True)]
    header += [f"Total ({points_text(sum(maxima))})", "Percent", STATUS_COLUMN, "Late penalty", "Audit"]
    rows = [header]
    for st in sorted(finals, key=lambda s: s.sid):
        row = [_cell(st.sid), _cell(st.person.get("name", "")), _cell(st.person.get("email", ""))]
        if not st.graded:
            rows.append([*row, *([""] * len(maxima)), "", "", _cell(st.status), "", ""])
            continue
        penalty = f"{st.late.percent:g}" if st.late and st.late.percent else ""
        rows.append([*row, *(points_text(e.score) for e in st.exercises), points_text(st.total),
                     f"{st.percent:.2f}", _cell(st.status), penalty, _cell(" | ".join(st.audit()))])
    return rows


def manual_summary(folder: GradingFolder, finals: list[StudentFinal]) -> list[dict[str, Any]]:
    """Per manual item: students graded, mean points, and how often each rubric entry was chosen."""
    out = []
    for ref in folder.items:
        chosen = [0] * len(ref.item.rubric)
        points = []
        for st in finals:
            for e in st.exercises:
                for it in e.items:
                    if it.ref.key == ref.key and it.grade is not None:
                        points.append(it.points or 0.0)
                        for i in it.grade.entries:
                            if i < len(chosen):
                                chosen[i] += 1
        graded_students = sum(1 for st in finals if st.graded)
        out.append({
            "exercise_id": ref.exercise, "item": ref.item.id, "title": one_line(ref.item.title, 300),
            "max_points": ref.item.points, "graded": len(points), "to_grade": graded_students - len(points),
            "mean_points": round(statistics.fmean(points), 4) if points else None,
            "entries": [{"text": one_line(e.text, 300), "points": e.points, "students": n}
                        for e, n in zip(ref.item.rubric, chosen, strict=True)],
        })
    return out


def template_environment() -> jinja2.Environment:
    """The jinja2 environment of the review's pages and reports (autoescape, StrictUndefined)."""
    loader = jinja2.FunctionLoader(
        lambda name: files("glmm_exercises.templates").joinpath(name).read_text(encoding="utf-8")
    )
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def report_model(folder: GradingFolder, st: StudentFinal) -> dict[str, Any]:
    """Plain data of a student's final report (every text cleaned; jinja2 escapes it)."""
    exercises = []
    for e in st.exercises:
        ex = folder.exercise_result(st.sid, e.id) or {}
        items = []
        for it in e.items:
            chosen = it.grade.entries if it.grade else ()
            items.append({
                "title": clean(it.ref.item.title), "max": it.ref.item.points, "points": it.points,
                "answer": clip(str((it.written or {}).get("text", "")), 10_000) if not it.ref.item.free else None,
                "entries": [{"text": clean(r.text), "points": r.points, "comment": clean(r.comment)}
                            for i, r in enumerate(it.ref.item.rubric) if i in chosen],
                "comment": clip(it.grade.comment, 5000) if it.grade else "",
            })
        exercises.append({
            "id": e.id, "auto": e.auto, "auto_max": e.auto_max, "score": e.score, "max": e.max, "manual": items,
            "override": ({"points": e.score, "computed": e.computed, "reason": clean(e.override.reason),
                          "at": e.override.at} if e.override else None),
            "checks": [{"name": one_line(c.get("name", ""), 200), "status": one_line(c.get("status", ""), 40),
                        "score": float(c.get("score", 0)), "max": float(c.get("max_score", 0)),
                        "message": clip(str(c.get("message", "")), 2000)} for c in ex.get("checks", [])],
        })
    return {
        "title": one_line(folder.title, 300), "course": one_line(folder.course, 300),
        "student": one_line(st.sid, 100), "name": one_line(st.person.get("name", ""), 200),
        "status": one_line(st.status, 2000), "graded": st.graded, "exercises": exercises,
        "subtotal": st.subtotal if st.graded else None, "total": st.total if st.graded else None,
        "total_max": st.total_max, "percent": st.percent if st.graded else None,
        "late": st.late.describe() if st.late else "", "penalty": st.late.percent if st.late else 0.0,
        "penalty_points": st.penalty_points if st.graded else 0.0,
        "time_from_file": bool(st.late and st.late.source.startswith("the file") and st.late.due),
    }


def render_final_report(model: dict[str, Any]) -> str:
    """The final report page of one student."""
    return template_environment().get_template("review/final_report.html.j2").render(r=model, pts=points_text)


def write_final_reports(folder: GradingFolder, finals: list[StudentFinal]) -> Path:
    """Write ``DIR/final/<student>.html`` for every student with a result; returns the folder."""
    from graders.atomic import atomic_write

    target = folder.dir / FINAL_DIR
    for st in finals:
        if folder.results.get(st.sid) is None and not st.graded:
            continue  # no submission and no override: nothing to report
        atomic_write(target / f"{st.sid}.html", render_final_report(report_model(folder, st)))
    return target


def rebuild(folder: GradingFolder, *, reports: bool = False) -> list[StudentFinal]:
    """Sync overrides.csv, then rewrite gradebook.csv and the summary (and the final reports).

    ``overrides.csv`` and ``submissions.csv`` are validated whole first: a malformed file raises
    ``ReviewError`` / ``SubmissionTimeError`` and nothing is recorded or rewritten.
    """
    from glmm_exercises.course import LAYER
    from graders.atomic import atomic_write
    from graders.summary import write_summary

    rows = read_overrides(folder)
    times = submission_times(folder.submissions)  # a malformed submissions.csv stops here too
    store = folder.store()
    sync_overrides(folder, store, rows)
    finals = final_grades(folder, store, times)
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(gradebook_rows(folder, finals))
    atomic_write(folder.dir / "gradebook.csv", buffer.getvalue())
    batch = {}
    try:
        import json

        batch = json.loads((folder.dir / "batch.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    write_summary(folder.dir, list(folder.results.items()), folder.exercise_ids, title=folder.title,
                  course=folder.course, mode=str(batch.get("mode", "all")), manual=manual_summary(folder, finals),
                  general_hints=LAYER.general_hints(folder.exercise_ids))
    if reports:
        write_final_reports(folder, finals)
    return finals
