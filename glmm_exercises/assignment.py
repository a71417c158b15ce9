"""Grading one student's solution against a whole generated assignment.

``glmm-grade solution.py --assignment DIR --student ID`` lands here. ``DIR`` is either the
output of ``glmm-exercises generate`` (the student's variants are read from
``DIR/instructor/manifest.json``) or a student's own folder (``DIR/assignment.json``, which
``generate`` writes next to the starter code and which holds only that student's variants).
Every exercise of the assignment is rebuilt from its stored parameters (``build(params)``),
adjusted by the assignment's configuration (points, public checks, time limits) and graded with
:func:`graders.runner.grade`; the per-exercise results are combined into an
:class:`AssignmentResult` and rendered in any of glmm-grade's formats.

Hidden checks that need instructor-only answers (the multiple-choice questions) read them, with
``--all``, from ``DIR/instructor/answers/`` when ``DIR`` is the generate output, else from
``$GLMM_INSTRUCTOR_DIR`` or the source tree; without them grading stops with one line saying so.
A student's own folder holds none, so students grade the public checks only.
"""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

from glmm_exercises.catalogue import answers as instructor_answers
from glmm_exercises.config import AssignmentConfig, ConfigError, apply_config, config_from_dict
from glmm_exercises.variants import build_exercise, exercise_module
from graders.checks import Exercise
from graders.grading_errors import GradingError
from graders.render import (
    SHORTENED_NOTE,
    TEXT_WIDTH,
    compact_result,
    fit_report,
    fmt_points,
    md_code,
    md_text,
    render_gradescope,
    render_junit,
    render_markdown,
    render_text,
    report_model,
)
from graders.results import SubmissionResult
from graders.runner import SandboxFactory, check_submission_path
from graders.safe_text import one_line, xml_text

__all__ = [
    "AssignmentError",
    "AssignmentResult",
    "StudentAssignment",
    "grade_assignment",
    "load_assignment",
    "render_assignment",
]

MANIFEST = Path("instructor") / "manifest.json"
INSTRUCTOR_ANSWERS = Path("instructor") / "answers"
STUDENT_FILE = "assignment.json"


class AssignmentError(GradingError):
    """The assignment directory, manifest or student id cannot be used."""


@dataclass(frozen=True)
class StudentAssignment:
    """One student's variants of every exercise of an assignment."""

    student_id: str
    config: AssignmentConfig
    params: dict[str, dict[str, Any]]
    versions: dict[str, str]
    #: the assignment's instructor folder when it holds instructor material (``answers/``), else None
    instructor: Path | None = None
    #: the student's data files (``<folder>/data``), copied read-only next to the submission in the
    #: sandbox so that ``pd.read_csv("data/...")`` works as in the student's folder
    data_dir: Path | None = None

    def exercises(self, *, hidden: bool = False) -> list[Exercise]:
        """The student's exercises as graded (variant built, configuration applied), in sheet order.

        ``hidden=True`` (every check will run) first loads each exercise's instructor-only answers
        (from :attr:`instructor`, else ``$GLMM_INSTRUCTOR_DIR`` or the source tree), so grading stops
        with :class:`~glmm_exercises.catalogue.MissingInstructorMaterial` when they are not there.

        Raises :class:`AssignmentError` when the catalogue's version of an exercise differs
        from the one the assignment was generated with (its checks may have changed).
        """
        out = []
        for eid in self.config.exercise_ids:
            try:
                current = str(exercise_module(eid).VERSION)
            except GradingError:
                raise AssignmentError(
                    f"the assignment uses exercise {eid!r}, which this installation does not have; "
                    "install the glmm-exercises version the assignment was generated with"
                ) from None
            if current != self.versions[eid]:
                raise AssignmentError(
                    f"the assignment was generated with {eid} version {self.versions[eid]}, but this "
                    f"installation has version {current}; install the matching glmm-exercises or regenerate"
                )
            answers = instructor_answers(eid, instructor=self.instructor) if hidden else None
            out.append(apply_config(build_exercise(eid, self.params[eid], answers=answers), self.config))
        return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AssignmentError(f"cannot read {str(path)!r} ({exc}); regenerate the assignment") from None
    if not isinstance(data, dict) or data.get("format") != 1:
        raise AssignmentError(f"{str(path)!r} is not an assignment file of format 1; regenerate the assignment")
    return data


def _config_from_stored(data: dict[str, Any], path: Path) -> AssignmentConfig:
    stored = dict(data.get("config") or {})
    tables = {
        eid: {k: v for k, v in table.items() if v is not None}
        for eid, table in (stored.pop("exercise", None) or {}).items()
    }
    clean = {k: v for k, v in stored.items() if v is not None}
    if tables:
        clean["exercise"] = tables
    return config_from_dict(clean, source=str(path))


def load_assignment(directory: str | Path, student_id: str | None) -> StudentAssignment:
    """``student_id``'s variants from an assignment directory (see the module docstring)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise AssignmentError(f"--assignment {str(directory)!r} is not a directory; pass the folder glmm-exercises generate wrote")
    manifest = directory / MANIFEST
    own = directory / STUDENT_FILE
    instructor = None
    if manifest.is_file():
        data = _read_json(manifest)
        if not student_id:
            raise AssignmentError("grading against an assignment needs --student ID (the id on the roster)")
        students = data.get("students", {})
        if student_id not in students:
            raise AssignmentError(
                f"student {student_id!r} is not on this assignment's roster ({len(students)} students); check --student"
            )
        entry = students[student_id]["exercises"]
        path = manifest
        if (directory / INSTRUCTOR_ANSWERS).is_dir():
            instructor = directory / INSTRUCTOR_ANSWERS.parent
    elif own.is_file():
        data = _read_json(own)
        stored_id = data.get("student", {}).get("student_id")
        if student_id and student_id != stored_id:
            raise AssignmentError(f"{str(own)!r} belongs to student {stored_id!r}, not {student_id!r}; check --student")
        student_id = stored_id
        entry = data["exercises"]
        path = own
    else:
        raise AssignmentError(
            f"{str(directory)!r} holds neither {MANIFEST} nor {STUDENT_FILE}; pass the folder glmm-exercises "
            "generate wrote, or your own student folder"
        )
    try:
        config = _config_from_stored(data, path)
    except ConfigError as exc:
        raise AssignmentError(f"{exc}; regenerate the assignment with this installation") from None
    missing = [eid for eid in config.exercise_ids if eid not in entry]
    if missing:
        raise AssignmentError(f"{str(path)!r} has no variant of {missing[0]!r} for student {student_id!r}; regenerate")
    return StudentAssignment(
        student_id=str(student_id),
        config=config,
        params={eid: entry[eid]["params"] for eid in config.exercise_ids},
        versions={eid: str(entry[eid]["version"]) for eid in config.exercise_ids},
        instructor=instructor,
        data_dir=(directory / "students" / str(student_id) / "data") if path == manifest else directory / "data",
    )


@dataclass(frozen=True)
class AssignmentResult:
    """The results of every exercise of one student's assignment."""

    student: str
    title: str
    course: str
    results: tuple[SubmissionResult, ...]

    @property
    def score(self) -> float:
        """Points earned over all exercises."""
        return float(sum(r.score for r in self.results))

    @property
    def max_score(self) -> float:
        """Points available in the checks that were run."""
        return float(sum(r.max_score for r in self.results))

    @property
    def percent(self) -> float:
        """Score as a percentage (100 when nothing was graded)."""
        return 100.0 if self.max_score == 0 else 100.0 * self.score / self.max_score


def grade_assignment(
    submission: str | Path,
    assignment: StudentAssignment,
    *,
    mode: Literal["public", "all"] = "public",
    seed: int | None = None,
    max_examples: int | None = None,
    sandbox_factory: SandboxFactory | None = None,
    progress: Callable[[str], None] | None = None,
    jobs: int = 1,
    case_cache: Any = None,
) -> AssignmentResult:
    """Grade ``submission`` against every exercise of ``assignment`` (see :func:`graders.runner.grade`).

    ``max_examples`` overrides the assignment's examples per check (``None`` keeps them).
    ``jobs`` > 1 grades exercises side by side in that many processes
    (:func:`graders.parallel.grade_exercises`); the results are the same as with one.
    ``case_cache`` (a :class:`graders.case_cache.CaseCache`) keeps generated check inputs
    (default: the process's in-memory cache).
    """
    from graders.parallel import ExerciseJob, grade_exercises
    from graders.sandbox import require_official_isolation

    path = check_submission_path(submission)
    if sandbox_factory is None and mode == "all":
        require_official_isolation()  # fail closed, as graders.runner.grade does
    exercise_jobs = [
        ExerciseJob(exercise, max_examples if max_examples is not None else assignment.config.examples_for(exercise.id))
        for exercise in assignment.exercises(hidden=mode == "all")
    ]
    results = grade_exercises(path, exercise_jobs, mode=mode, seed=seed, student=assignment.student_id,
                              budget_seconds=assignment.config.submission_time_limit, data_dir=assignment.data_dir,
                              jobs=jobs, sandbox_factory=sandbox_factory, progress=progress,
                              case_cache=case_cache)
    return AssignmentResult(assignment.student_id, assignment.config.title, assignment.config.course, tuple(results))


# Rendering ---------------------------------------------------------------------------------------
# Titles and course names come from the instructor's configuration, the student id from the
# assignment file (a student's own folder holds one): all of it is cleaned like student text.


def _total_line(result: AssignmentResult) -> str:
    hidden = sum(r.hidden_points for r in result.results)
    line = (
        f"{one_line(result.title)}: total {fmt_points(result.score)}/{fmt_points(result.max_score)} "
        f"({result.percent:.1f}%) over {len(result.results)} exercises"
    )
    if hidden:
        line += f"; {fmt_points(hidden)} more points are in hidden checks, which only the official grading runs"
    return line


def _text(result: AssignmentResult, timings: bool, note: str | None, colour: bool = False,
          verbose: bool = False) -> str:
    rule = "=" * 78
    course = f" -- {one_line(result.course)}" if result.course else ""
    head = "\n".join([rule, *textwrap.wrap(f"{one_line(result.title)}{course}", TEXT_WIDTH),
                      *textwrap.wrap(f"student: {one_line(result.student, 300)}", TEXT_WIDTH), ""])
    parts = [head + "".join(f"{line}\n" for line in textwrap.wrap(f"note: {note}", TEXT_WIDTH) if note)
             + f"{rule}\n"]
    for r in result.results:
        parts.append(render_text(r, timings=timings, colour=colour, verbose=verbose))
        parts.append("-" * 78 + "\n")
    parts.append("\n".join(textwrap.wrap(_total_line(result), TEXT_WIDTH)) + "\n")
    return "\n".join(parts)


def _markdown(result: AssignmentResult, timings: bool, note: str | None) -> str:
    head = f"# {md_text(result.title)}\n\nStudent: {md_code(result.student)}\n\n"
    if note:
        head += f"> {md_text(note)}\n\n"
    rows = "| exercise | score |\n|---|---|\n" + "".join(
        f"| {md_text(r.exercise_title)} ({md_code(r.exercise_id)}) | {fmt_points(r.score)}/{fmt_points(r.max_score)} |\n"
        for r in result.results
    )
    body = "\n".join(render_markdown(r, timings=timings) for r in result.results)
    return f"{head}{rows}\n**{md_text(_total_line(result))}**\n\n{body}"


def _html(result: AssignmentResult, timings: bool, note: str | None) -> str:
    from glmm_exercises.sheets import template_environment

    env = template_environment(autoescape=True)
    model = {
        "title": one_line(result.title),
        "course": one_line(result.course),
        "student": one_line(result.student, 300),
        "note": note,
        "score": f"{result.score:g}",
        "max_score": f"{result.max_score:g}",
        "percent": f"{result.percent:.1f}",
        "exercises": [report_model(r, timings=timings) for r in result.results],
    }
    return env.get_template("assignment_report.html.j2").render(report=model)


def _json(result: AssignmentResult, timings: bool, note: str | None) -> str:
    data = {
        "student": one_line(result.student, 300),
        "title": one_line(result.title),
        "course": one_line(result.course),
        "score": result.score,
        "max_score": result.max_score,
        "percent": round(result.percent, 6),
        "exercises": [r.to_dict(timings=timings) for r in result.results],
    }
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _gradescope(result: AssignmentResult, timings: bool, note: str | None) -> str:
    tests: list[dict[str, Any]] = []
    execution = 0.0
    for r in result.results:
        one = json.loads(render_gradescope(r, timings=timings))
        for t in one["tests"]:
            t["name"] = f"{r.exercise_id} / {t['name']}"
        tests += one["tests"]
        execution += r.execution_time
    output = _total_line(result) + (f"\n{note}" if note else "")
    out: dict[str, Any] = {"score": result.score, "output": output, "tests": tests}
    if timings:
        out["execution_time"] = round(execution)
    return json.dumps(out, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _junit(result: AssignmentResult, timings: bool, note: str | None) -> str:
    root = ET.Element("testsuites", {"name": xml_text(one_line(result.title))})
    for r in result.results:
        text = render_junit(r, timings=timings, note=note)
        root.append(ET.fromstring(text.split("?>", 1)[1] if text.startswith("<?xml") else text))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def render_assignment(result: AssignmentResult, fmt: str, *, timings: bool = True, colour: bool = False,
                      verbose: bool = False) -> str:
    """Render an assignment's results in one of glmm-grade's formats (every exercise shown).

    Like :func:`graders.render.render`, the report is at most ``MAX_REPORT_BYTES``: a bigger one
    is rendered again from shortened results and says so.
    """
    renderers: dict[str, Callable[[AssignmentResult, bool, str | None], str]] = {
        "text": partial(_text, colour=colour, verbose=verbose),
        "md": _markdown,
        "html": _html,
        "json": _json,
        "gradescope": _gradescope,
        "junit": _junit,
    }
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(renderers)}")
    renderer = renderers[fmt]

    def produce(level: int) -> str:
        if level == 0:
            return renderer(result, timings, None)
        shortened = replace(result, results=tuple(compact_result(r, level) for r in result.results))
        return renderer(shortened, timings, SHORTENED_NOTE)

    return fit_report(produce, fmt)
