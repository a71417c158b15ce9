"""A small graded course for the review tests: a generated assignment with a rubric and a late
policy, submissions with recorded times, and a batch graded by a stand-in job (no sandbox), so
the tests know every autograded score and written answer they start from."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from glmm_exercises.cli import main as exercises_main
from graders.batch import RESULT_FORMAT, Job, JobOutcome, run_batch

EX = "poisson-marginal"
ITEM = "above_not_mean"
FREE = "clarity"
AUTO_MAX = 10.0
#: rubric of ITEM (points) and of FREE
ENTRIES = (2.0, 2.0, 0.0)
FREE_ENTRIES = (1.0, 0.0)
ITEM_POINTS, FREE_POINTS = 4.0, 1.0
DUE = datetime(2026, 12, 1, 23, 59, tzinfo=UTC)
PER_DAY, CAP, GRACE_MINUTES = 10.0, 30.0, 15.0
CONFIG = f'''title = "Review test"
exercises = ["{EX}"]
examples = 5
due = {DUE.isoformat()}

[late]
grace_minutes = {GRACE_MINUTES}
per_day = {PER_DAY}
cap = {CAP}

[exercise.{EX}]
points = {AUTO_MAX}

[[exercise.{EX}.manual]]
id = "{ITEM}"
points = {ITEM_POINTS}
rubric = [
  {{ text = "Names the convexity of exp (Jensen)", points = {ENTRIES[0]} }},
  {{ text = "Says the random effect's spread lifts the mean", points = {ENTRIES[1]} }},
  {{ text = "No reason given", points = {ENTRIES[2]}, comment = "Say why, not only that it does." }},
]

[[exercise.{EX}.manual]]
id = "{FREE}"
free = true
title = "Clear code"
points = {FREE_POINTS}
rubric = [{{ text = "Clear", points = {FREE_ENTRIES[0]} }}, {{ text = "Hard to follow", points = {FREE_ENTRIES[1]} }}]
'''
#: student -> (autograded points, written answer, extension)
STUDENTS: dict[str, tuple[float, str, str]] = {
    "s1": (8.0, "exp is convex, so by Jensen E[exp(eta + b)] > exp(eta).", ""),
    "s2": (5.0, "<script>document.title='pwned'</script> the variance lifts it", ""),
    "s3": (10.0, "Because the spread of b adds sigma^2/2 on the log scale.", "2d"),
    "s4": (6.0, "", ""),
}
ABSENT = "s5"
#: submission times (submissions.csv); s4 has none: its file time is used
TIMES = {"s1": "2026-12-01T23:10:00+00:00", "s2": "2026-12-03T10:00:00+00:00", "s3": "2026-12-03T10:00:00+01:00"}
S4_FILE_TIME = datetime(2026, 12, 2, 0, 5, tzinfo=UTC)  # 6 minutes late: inside the grace period


def written_status(text: str) -> str:
    return "answered" if text.strip() else "empty"


def make_job(scores: Mapping[str, float]):  # type: ignore[no-untyped-def]
    """A stand-in grading job: the given autograded score and the student's written answer."""

    def job_function(job: Job) -> JobOutcome:
        score = scores[job.student_id]
        text = STUDENTS[job.student_id][1]
        doc = {
            "format": RESULT_FORMAT, "student": job.student_id, "status": "graded", "message": "",
            "submission": job.submission_name, "job": job.key, "score": score, "max_score": AUTO_MAX,
            "percent": 100 * score / AUTO_MAX,
            "exercises": [{
                "exercise_id": EX, "score": score, "max_score": AUTO_MAX, "load_status": "ok",
                "checks": [{"name": "mean_scalar", "status": "passed" if score == AUTO_MAX else "failed",
                            "reason": "ok" if score == AUTO_MAX else "mismatch", "score": score,
                            "max_score": AUTO_MAX, "message": "", "hint": None}],
                "written": [{"id": ITEM, "function": "explain_above_not_mean", "prompt": "Explain.",
                             "status": written_status(text), "text": text}],
            }],
        }
        html = f"<!DOCTYPE html><title>report</title><p>autograded report of {job.student_id}</p>"
        return JobOutcome(job.student_id, job.key, True, json.dumps(doc), html)

    return job_function


def make_course(tmp: Path) -> Path:
    """Generate the assignment and write the submissions under ``tmp``; returns ``tmp``."""
    roster = "student_id,name,email,extension\n" + "".join(
        f"{sid},Name {sid},{sid}@example.org,{ext}\n" for sid, (_, _, ext) in STUDENTS.items()
    ) + f"{ABSENT},Name {ABSENT},{ABSENT}@example.org,\n"
    (tmp / "roster.csv").write_text(roster, encoding="utf-8")
    (tmp / "assignment.toml").write_text(CONFIG, encoding="utf-8")
    assert exercises_main([
        "generate", "--roster", str(tmp / "roster.csv"), "--seed", "987654321", "-q",
        "--config", str(tmp / "assignment.toml"), "--out", str(tmp / "assignment"),
    ]) == 0
    subs = tmp / "submissions"
    for sid in STUDENTS:
        (subs / sid).mkdir(parents=True)
        (subs / sid / "solution.py").write_text(f"# {sid}\n", encoding="utf-8")
    stamp = S4_FILE_TIME.timestamp()
    os.utime(subs / "s4" / "solution.py", (stamp, stamp))
    (subs / "submissions.csv").write_text(
        "student_id,submitted_at\n" + "".join(f"{s},{t}\n" for s, t in TIMES.items()), encoding="utf-8"
    )
    return tmp


def grade(course: Path, out: Path, scores: Mapping[str, float] | None = None, **kwargs: object) -> Path:
    """Run the batch with the stand-in job into ``out``."""
    scores = scores or {sid: auto for sid, (auto, _, _) in STUDENTS.items()}
    run_batch(course / "submissions", course / "assignment", out, mode="public", jobs=1,
              job_function=make_job(scores), **kwargs)  # type: ignore[arg-type]
    return out
