"""``glmm-grade batch``: grade a whole course's submissions against a generated assignment.

Usage::

    glmm-grade batch SUBMISSIONS_DIR --assignment DIR --out OUT [--jobs N] [--resume] [--only ID[,ID]]
                     [--scheduler ADDRESS] [--seed N] [--all | --public] [--examples N] [--quiet]

``SUBMISSIONS_DIR`` holds one submission per student, either ``<student_id>/solution.py`` (or
``solution.ipynb``, or the only ``.py``/``.ipynb`` file in that folder) or ``<student_id>.py`` /
``<student_id>.ipynb``. ``DIR`` is the folder ``glmm-exercises generate`` wrote (its
``instructor/manifest.json`` says which variant every student has). Official grading (``--all``,
the default) needs the instructor seed from ``--seed`` or ``GLMM_GRADING_SEED``.

``OUT`` receives (every file written to a temporary name and renamed into place)::

    OUT/batch.json              the settings of the run (mode, seed reference, examples, manifest hash)
    OUT/inputs.json             where the submissions and the assignment were (for the review)
    OUT/results/<student>.json  one result per student: the unit of completion for --resume
    OUT/reports/<student>.html  the student's report
    OUT/gradebook.csv           one row per student (see graders.gradebook)
    OUT/summary.html            instructor summary with plots (see graders.summary)
    OUT/summary.json            the same figures as data

Jobs run in a ``concurrent.futures.ProcessPoolExecutor`` with ``--jobs`` workers, or on a Dask
``distributed`` cluster with ``--scheduler ADDRESS``. A job receives the submission's bytes and
the student's variants (no shared file system needed) and returns the rendered reports; only
this process writes files. A job that raises, or whose worker process dies, becomes a failure
result for that student only (a worker death is retried once alone, to tell the culprit from
the bystanders); ``--resume`` keeps every result whose inputs (submission bytes, variants,
mode, seed, examples, package version) are unchanged and regrades the rest, failures included.
``--only ID[,ID]`` regrades the named students of an existing batch (after a complaint, a late
hand-in) and keeps everyone else's results as they are.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, NoReturn

from graders.atomic import OutputExistsError, atomic_write
from graders.grading_errors import GradingError, MissingSeedError
from graders.safe_text import clip, one_line
from graders.sandbox import ISOLATION_CHOICES, SandboxError

__all__ = [
    "BatchError",
    "BatchSummary",
    "Job",
    "JobOutcome",
    "Submission",
    "atomic_write",
    "find_submissions",
    "grade_job",
    "main",
    "run_batch",
]

PROG = "glmm-grade batch"
SEED_ENV = "GLMM_GRADING_SEED"
RESULT_FORMAT = "glmm-batch-result 1"
SUFFIXES = (".py", ".ipynb")
MANIFEST = Path("instructor") / "manifest.json"
#: Generated check inputs, shared by the batch's workers and kept for reruns (graders.case_cache).
CASES_DIR = Path(".cache") / "cases"

JobFunction = Callable[["Job"], "JobOutcome"]


class BatchError(GradingError):
    """The batch cannot run with the inputs given (paths, settings, a previous run's folder)."""


# Files -------------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Submissions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """One student's submission file (``path`` is None when it could not be chosen; see ``problem``)."""

    student_id: str
    path: Path | None
    problem: str = ""


#: A student id as rosters spell them (the course layer's roster validates the same way).
_ID_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


def _valid_id(name: str) -> bool:
    return bool(_ID_RE.fullmatch(name))


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def find_submissions(directory: str | Path) -> tuple[list[Submission], list[str]]:
    """The submissions in ``directory`` (sorted by student id) and warnings about skipped entries.

    Layout: ``<student_id>/solution.py`` or ``<student_id>/solution.ipynb`` (``solution.py`` wins
    when both exist; otherwise the folder's only ``.py``/``.ipynb`` file), or a file
    ``<student_id>.py`` / ``<student_id>.ipynb``. Hidden entries are ignored. Nothing is
    followed through a symbolic link: a linked student folder is skipped with a warning, a
    linked or special submission file makes that student "not graded" with the reason (the
    files are read later without following links either, see :func:`read_submission`).
    Names are untrusted: warnings quote them with ``repr``, so no newline or escape gets through.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise BatchError(f"submissions folder {str(directory)!r} is not a directory; pass the folder holding one entry per student")
    found: dict[str, Submission] = {}
    warnings: list[str] = []
    with os.scandir(directory) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        shown = repr(entry.name)
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            warnings.append(f"{shown}: a symbolic link; skipped (links are not followed)")
            continue
        if entry.is_dir(follow_symlinks=False):
            sid = entry.name
            sub = _submission_in_folder(sid, Path(entry.path), warnings)
        elif entry.is_file(follow_symlinks=False) and Path(entry.name).suffix in SUFFIXES:
            sid = Path(entry.name).stem
            sub = Submission(sid, Path(entry.path))
        else:
            warnings.append(f"{shown}: not a student folder or a .py/.ipynb file; skipped")
            continue
        if not _valid_id(sid):
            warnings.append(f"{shown}: {sid!r} is not a valid student id; skipped")
            continue
        if sid in found:
            warnings.append(f"{sid}: both a folder and a file were found; grading {found[sid].path}")
            continue
        found[sid] = sub
    return [found[k] for k in sorted(found)], warnings


def _submission_in_folder(sid: str, folder: Path, warnings: list[str]) -> Submission:
    try:
        with os.scandir(folder) as it:
            entries = {e.name: e for e in it if not e.name.startswith(".")}
    except OSError as exc:
        return Submission(sid, None, f"cannot list the student's folder ({exc.strerror})")
    candidates = [n for n in ("solution.py", "solution.ipynb") if n in entries]
    if not candidates:
        candidates = sorted(n for n, e in entries.items() if Path(n).suffix in SUFFIXES)
        if len(candidates) > 1:
            names = ", ".join(repr(n) for n in candidates)
            return Submission(sid, None, f"several candidate files ({names}) and no solution.py; keep one")
    elif len(candidates) == 2:
        warnings.append(f"{sid}: both solution.py and solution.ipynb found; grading solution.py")
    if not candidates:
        return Submission(sid, None, "no solution.py or solution.ipynb in the student's folder")
    entry = entries[candidates[0]]
    if entry.is_symlink():
        return Submission(sid, None, f"{entry.name!r} is a symbolic link; links are not followed, "
                          "submit the file itself")
    if not entry.is_file(follow_symlinks=False):
        return Submission(sid, None, f"{entry.name!r} is not a regular file; submit the file itself")
    return Submission(sid, folder / entry.name)


def read_submission(directory: str | Path, sub: Submission) -> bytes:
    """The bytes of ``sub``'s file, opened relative to ``directory`` without following any link
    (the student's folder and the file alike), non-blocking and size-capped.

    Raises:
        UnsafeSubmission: a link, a special file, too large or unreadable (message names it).
    """
    from graders.submission_files import open_directory, read_regular_file

    assert sub.path is not None
    relative = sub.path.relative_to(directory).parts
    fds = [open_directory(directory)]
    try:
        for part in relative[:-1]:
            fds.append(open_directory(part, directory_fd=fds[-1]))
        return read_regular_file(relative[-1], directory_fd=fds[-1])
    finally:
        for fd in fds:
            os.close(fd)


def _graded_name(name: str) -> str:
    """The file name the submission is graded (and reported) under: the student's own name when
    it is plain, else ``submission.py``/``.ipynb`` (a name is untrusted text)."""
    return name if _SAFE_NAME.fullmatch(name) else "submission" + Path(name).suffix.lower()


# Jobs --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to grade one student (plain, picklable data; no shared disk)."""

    student_id: str
    key: str
    submission_name: str = ""
    submission_bytes: bytes = b""
    assignment: Any = None  # glmm_exercises.assignment.StudentAssignment, or None with ``problem``
    problem: str = ""
    mode: Literal["public", "all"] = "all"
    seed: int | None = None
    examples: int | None = None
    isolation: str | None = None  # the level the batch decided (graders.sandbox.use_isolation)
    course: Any = None  # the course layer (graders.course.CourseLayer); None: the installed one
    #: the batch's cache of generated check inputs (graders.case_cache), shared by the local
    #: workers and kept for a rerun; None where workers share no disk (dask)
    cases_dir: str | None = None


@dataclass(frozen=True)
class JobOutcome:
    """What a worker sends back: the rendered result JSON and HTML, or a failure message."""

    student_id: str
    key: str
    ok: bool
    result_json: str = ""
    report_html: str = ""
    message: str = ""
    seconds: float = 0.0
    grader_error: bool = False  # not graded because of the grader, not of the submission


def _failure_document(job: Job, message: str, submission: str, grader_error: bool) -> dict[str, Any]:
    return {
        "format": RESULT_FORMAT,
        "student": job.student_id,
        "status": "grading_failed",
        "grader_error": grader_error,
        "message": message,
        "submission": submission,
        "job": job.key,
        "score": 0.0,
        "max_score": 0.0,
        "percent": 0.0,
        "exercises": [],
    }


def _failure_html(student: str, message: str) -> str:
    s, m = html.escape(student), html.escape(message)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{s}: not graded</title></head><body style=\"font-family:system-ui,sans-serif;margin:2rem\">"
        f"<h1>{s}: not graded</h1><p>{m}</p></body></html>\n"
    )


def failure_outcome(job: Job, message: str, seconds: float = 0.0) -> JobOutcome:
    """The failure result of one job (the student gets a report saying why it was not graded).

    A job with a ``problem`` (no file, a link, not on the roster) failed because of what was
    submitted; any other failure is the grader's ("not graded: grader error"): never a zero,
    and the batch exits non-zero so that it is rerun.
    """
    grader_error = not job.problem
    message = clip(message, 20_000)  # exception texts may carry anything a submission wrote
    if grader_error:
        message = f"grader error: {message}"
    doc = _failure_document(job, message, job.submission_name, grader_error)
    return JobOutcome(
        job.student_id, job.key, False, _dumps(doc), _failure_html(job.student_id, message), message, seconds,
        grader_error,
    )


def _dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def grade_job(job: Job) -> JobOutcome:
    """Grade one student (runs in a worker process); never raises for anything the job meets."""
    t0 = time.perf_counter()
    if job.problem:
        return failure_outcome(job, job.problem)
    try:
        from graders.course import course_layer
        from graders.sandbox import use_isolation

        course = job.course or course_layer()
        if job.isolation is not None:
            use_isolation(job.isolation)  # decided once for the run; never weaker here
        with tempfile.TemporaryDirectory(prefix="glmm-batch-") as tmp:
            path = Path(tmp) / job.submission_name
            path.write_bytes(job.submission_bytes)
            options: dict[str, Any] = {}
            if job.cases_dir is not None:
                from graders.case_cache import cache_at

                options["case_cache"] = cache_at(job.cases_dir)
            result = course.grade_assignment(
                path, job.assignment, mode=job.mode, seed=job.seed, max_examples=job.examples, **options
            )
        doc = json.loads(course.render_assignment(result, "json"))
        doc = {
            "format": RESULT_FORMAT,
            "student": job.student_id,
            "status": "graded",
            "message": "",
            "submission": job.submission_name,
            "job": job.key,
            **{k: v for k, v in doc.items() if k != "student"},
        }
        return JobOutcome(
            job.student_id, job.key, True, _dumps(doc), course.render_assignment(result, "html"), "",
            time.perf_counter() - t0,
        )
    except Exception as exc:  # a grading job must never take the batch down
        return failure_outcome(job, f"grading failed ({type(exc).__name__}: {one_line(str(exc), 2000)}); "
                               "rerun with --resume, "
                               "and report it if it persists", time.perf_counter() - t0)


# Running jobs ------------------------------------------------------------------------------------


def _pool_context(preload: Sequence[str] = ("graders.batch", "graders.runner")) -> multiprocessing.context.BaseContext:
    """A fresh interpreter per worker (forkserver, else spawn): safe whatever threads this process runs.

    The fork server imports the grading stack (and the course layer's ``worker_modules``) once,
    so each worker starts from a warm copy.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
        return ctx
    return multiprocessing.get_context("spawn")


def _run_pool(
    jobs: Sequence[Job], workers: int, fn: JobFunction, on_done: Callable[[JobOutcome], None],
    preload: Sequence[str] = ("graders.batch", "graders.runner"),
) -> None:
    """Run ``jobs`` with at most ``workers`` in flight; a worker death is retried alone once."""
    suspects: list[Job] = []
    pending = deque(jobs)
    ctx = _pool_context(preload)
    while pending:
        broken = False
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            inflight: dict[Future[JobOutcome], Job] = {}
            try:
                broken = _drain(pool, pending, inflight, workers, fn, on_done, suspects)
            except KeyboardInterrupt:  # do not wait for queued jobs; finished students are on disk
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            if broken:
                suspects.extend(inflight.values())
    for job in suspects:  # alone in a fresh worker: a second death is this job's own
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            try:
                outcome = pool.submit(fn, job).result()
            except BrokenProcessPool:
                outcome = failure_outcome(
                    job, "the grading process died while grading this submission (twice); "
                    "grade it alone with glmm-grade --assignment to see why"
                )
            except Exception as exc:
                outcome = failure_outcome(job, f"grading job failed ({type(exc).__name__}: {exc})")
        on_done(outcome)


def _drain(
    pool: ProcessPoolExecutor,
    pending: deque[Job],
    inflight: dict[Future[JobOutcome], Job],
    workers: int,
    fn: JobFunction,
    on_done: Callable[[JobOutcome], None],
    suspects: list[Job],
) -> bool:
    """Keep ``workers`` jobs in flight until all are done or the pool breaks; True when it broke."""
    broken = False
    while (pending or inflight) and not broken:
        while pending and len(inflight) < workers and not broken:
            job = pending.popleft()
            try:
                inflight[pool.submit(fn, job)] = job
            except BrokenProcessPool:  # a worker died since the last wait: not this job's fault
                pending.appendleft(job)
                broken = True
        if not inflight:
            break
        done, _ = wait(inflight, return_when=FIRST_COMPLETED)
        for fut in done:
            job = inflight.pop(fut)
            try:
                on_done(fut.result())
            except BrokenProcessPool:
                broken = True
                suspects.append(job)
            except Exception as exc:
                on_done(failure_outcome(job, f"grading job failed ({type(exc).__name__}: {exc})"))
    return broken


def _run_dask(
    jobs: Sequence[Job], address: str, fn: JobFunction, on_done: Callable[[JobOutcome], None]
) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise BatchError(
            "--scheduler needs Dask distributed; install it with pip install 'glmm-exercises[dask]'"
        ) from None
    try:
        client = Client(address, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise BatchError(f"cannot reach the Dask scheduler at {address!r} ({exc}); check --scheduler") from None
    with client:
        futures = {}
        for job in jobs:
            fut = client.submit(fn, job, key=f"glmm-grade-{job.student_id}-{job.key[:16]}", pure=False)
            futures[fut.key] = (fut, job)
        for fut in as_completed([f for f, _ in futures.values()]):
            job = futures[fut.key][1]
            try:
                outcome = fut.result()
            except Exception as exc:  # KilledWorker, a worker's import error, ...
                outcome = failure_outcome(job, f"grading job failed on the cluster ({type(exc).__name__}: {exc})")
            on_done(outcome)
            fut.release()


# Progress ----------------------------------------------------------------------------------------


class _Progress:
    """One updating line on a terminal (a bar, rate and time left), one line per student otherwise."""

    def __init__(self, total: int, stream: IO[str] | None) -> None:
        self.total, self.stream, self.done, self.t0 = total, stream, 0, time.perf_counter()
        self.tty = stream is not None and stream.isatty()

    def update(self, outcome: JobOutcome, note: str) -> None:
        self.done += 1
        if self.stream is None:
            return
        elapsed = time.perf_counter() - self.t0
        rate = self.done / elapsed * 60 if elapsed > 0 else 0.0
        left = (self.total - self.done) / (self.done / elapsed) if self.done and elapsed > 0 else 0.0
        if self.tty:
            width = 24
            fill = int(width * self.done / max(self.total, 1))
            line = (
                f"\r[{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total} students "
                f"{rate:.1f}/min, about {left:.0f} s left  {outcome.student_id[:20]:<20}"
            )
            self.stream.write(line + ("\n" if self.done == self.total else ""))
        else:
            self.stream.write(one_line(f"[{self.done}/{self.total}] {outcome.student_id}: {note}") + "\n")
        self.stream.flush()


# The batch ---------------------------------------------------------------------------------------


@dataclass
class BatchSummary:
    """What a batch did (counts, paths) -- returned by :func:`run_batch`."""

    out: Path
    students: int = 0
    graded: int = 0
    reused: int = 0
    failed: int = 0
    missing: int = 0
    grader_errors: int = 0  # not graded because of the grader (the batch exits 3)
    seconds: float = 0.0
    isolation: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def gradebook(self) -> Path:
        """Path of gradebook.csv."""
        return self.out / "gradebook.csv"

    @property
    def summary_html(self) -> Path:
        """Path of the instructor summary."""
        return self.out / "summary.html"


def _read_manifest(assignment_dir: Path) -> tuple[dict[str, Any], str]:
    path = assignment_dir / MANIFEST
    if not path.is_file():
        raise BatchError(
            f"{str(assignment_dir)!r} holds no {MANIFEST}; pass the folder glmm-exercises generate wrote"
        )
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BatchError(f"cannot read {str(path)!r} ({exc}); regenerate the assignment") from None
    if not isinstance(data, dict) or not isinstance(data.get("students"), dict):
        raise BatchError(f"{str(path)!r} is not a glmm-exercises manifest; regenerate the assignment")
    return data, _sha256(raw)


def _settings(mode: str, seed: int | None, examples: int | None, manifest_sha: str,
              version: str) -> dict[str, Any]:
    seed_ref = None
    if seed is not None:
        seed_ref = "sha256:" + _sha256(f"glmm-grade batch seed|{seed}".encode())[:16]
    return {
        "format": "glmm-batch 1",
        "mode": mode,
        "seed_ref": seed_ref,
        "examples": examples,
        "manifest_sha256": manifest_sha,
        "package_version": version,
    }


def _job_key(settings: dict[str, Any], sid: str, name: str, data: bytes, variants: Any) -> str:
    text = json.dumps(
        {"settings": settings, "student": sid, "name": name, "sha256": _sha256(data), "variants": variants},
        sort_keys=True,
    )
    return _sha256(text.encode())


def _previous(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == RESULT_FORMAT else None


def _check_out(out: Path, settings: dict[str, Any], resume: bool) -> None:
    marker = out / "batch.json"
    if out.exists() and not out.is_dir():
        raise BatchError(f"--out {str(out)!r} is a file; choose a directory")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not marker.is_file():
        raise BatchError(f"--out {str(out)!r} exists, is not empty and is not a batch output; choose a new folder")
    if not resume:
        raise BatchError(
            f"--out {str(out)!r} already holds a batch; pass --resume to finish it, or choose a new folder"
        )
    try:
        old = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        old = None
    if old != settings:
        changed = sorted(k for k in settings if not isinstance(old, dict) or old.get(k) != settings[k])
        raise BatchError(
            f"--out {str(out)!r} was graded with other settings ({', '.join(changed) or 'unreadable batch.json'}); "
            "resume with the same assignment, seed, mode and examples, or choose a new folder"
        )


def run_batch(
    submissions_dir: str | Path,
    assignment_dir: str | Path,
    out: str | Path,
    *,
    mode: Literal["public", "all"] = "all",
    seed: int | None = None,
    examples: int | None = None,
    jobs: int = 1,
    resume: bool = False,
    scheduler: str | None = None,
    limit: int | None = None,
    progress: IO[str] | None = None,
    job_function: JobFunction = grade_job,
    isolation: str | None = None,
    only: Sequence[str] | None = None,
    finish: Callable[[Path], None] | None = None,
    course: Any = None,
) -> BatchSummary:
    """Grade every submission in ``submissions_dir`` and write results, reports, gradebook, summary.

    ``limit`` grades at most that many students this time (the rest stay to ``resume``; used to
    test resuming). ``job_function`` replaces :func:`grade_job` (tests inject failures with it).

    ``isolation`` is the sandbox policy (``graders.sandbox.select_isolation``; None: the default,
    ``$GLMM_ISOLATION`` or ``"auto"``; a batch is official grading, so ``"auto"`` requires the
    namespace + chroot sandbox).

    ``only`` regrades just these students of the batch already in ``out`` (whatever their previous
    result) and keeps every other result. ``finish`` is called with ``out`` instead of writing
    gradebook.csv and the summary from the autograded results alone: the course layer passes its
    rebuild from all parts (manual grades, overrides, late penalties; glmm_exercises.review).

    ``course`` is the course layer (assignments, rosters; :class:`graders.course.CourseLayer`),
    by default the installed one.

    Raises:
        BatchError: unusable folders, or ``out`` holds another run (see ``resume``).
        MissingSeedError: ``mode="all"`` without ``seed``.
        IsolationUnavailable: the sandbox the policy asks for does not work here.
    """
    from graders.course import course_layer

    layer = course or course_layer()

    t0 = time.perf_counter()
    if mode not in ("public", "all"):
        raise ValueError(f"mode must be 'public' or 'all', not {mode!r}")
    if mode == "all" and seed is None:
        raise MissingSeedError(
            f"official grading needs the instructor seed; pass --seed N or set {SEED_ENV} (or --public)"
        )
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    assignment_dir, out = Path(assignment_dir), Path(out)
    manifest, manifest_sha = _read_manifest(assignment_dir)
    settings = _settings(mode, seed, examples, manifest_sha, layer.version)
    if only is not None and not (out / "batch.json").is_file():
        raise BatchError(f"--only regrades students of an existing batch, and {str(out)!r} holds none; "
                         "grade the whole class first")
    _check_out(out, settings, resume or only is not None)
    submissions, warnings = find_submissions(submissions_dir)
    submissions_dir = Path(submissions_dir)
    if only is not None:
        unknown = sorted(set(only) - {s.student_id for s in submissions})
        if unknown or not only:
            raise BatchError(f"--only: no submission for {', '.join(map(repr, unknown)) or 'nobody'} in "
                             f"{str(submissions_dir)!r}; name students whose submission is there")
    from graders.sandbox import default_policy, isolation_selected, set_isolation

    # Decided once for the whole run, before anything is written (fail closed: a batch is
    # official grading, so "auto" insists on the namespace + chroot sandbox).
    isolation_text = set_isolation(isolation or default_policy(), official=True)
    level = isolation_selected()
    if mode == "all" and manifest["students"]:
        # the hidden checks need instructor-only answers: say once if they are missing, before
        # anything is written, rather than failing every student
        layer.check_hidden_material(assignment_dir, sorted(manifest["students"])[0])
    atomic_write(out / "batch.json", json.dumps(settings, indent=2, sort_keys=True) + "\n")
    inputs = {"assignment": str(assignment_dir.resolve()), "submissions": str(submissions_dir.resolve())}
    atomic_write(out / "inputs.json", json.dumps(inputs, indent=2) + "\n")

    roster: dict[str, dict[str, Any]] = manifest["students"]
    summary = BatchSummary(out=out, warnings=warnings, isolation=isolation_text)
    todo: list[Job] = []
    for sub in submissions:
        data, name, problem, assignment = b"", "", sub.problem, None
        if sub.path is not None:
            name = _graded_name(sub.path.name)
            try:
                data = read_submission(submissions_dir, sub)
            except GradingError as exc:  # a link, a FIFO, too large: that student's problem
                problem = str(exc)
        if not problem:
            if sub.student_id not in roster:
                problem = f"{sub.student_id!r} is not on this assignment's roster; check the folder name"
            else:
                try:
                    assignment = layer.load_assignment(assignment_dir, sub.student_id)
                except layer.assignment_errors as exc:
                    problem = str(exc)
        variants = roster.get(sub.student_id, {}).get("exercises")
        key = _job_key(settings, sub.student_id, name, data, [variants, problem])
        job = Job(sub.student_id, key, name, data, assignment, problem, mode, seed, examples, level,
                  course,  # None: each worker uses the installed layer
                  str(out / CASES_DIR) if scheduler is None else None)
        if only is not None and sub.student_id not in only:
            continue  # kept as it is
        previous = _previous(out / "results" / f"{sub.student_id}.json") if resume and only is None else None
        if previous is not None and previous.get("job") == key and previous.get("status") == "graded" \
                and (out / "reports" / f"{sub.student_id}.html").is_file():
            summary.reused += 1
            continue
        todo.append(job)
    if limit is not None:
        todo = todo[:limit]
    bar = _Progress(len(todo), progress)

    def done(outcome: JobOutcome) -> None:
        atomic_write(out / "reports" / f"{outcome.student_id}.html", outcome.report_html)
        atomic_write(out / "results" / f"{outcome.student_id}.json", outcome.result_json)  # last: completion
        if outcome.grader_error:
            summary.grader_errors += 1
        if outcome.ok:
            summary.graded += 1
            doc = json.loads(outcome.result_json)
            note = f"{doc['score']:g}/{doc['max_score']:g} ({outcome.seconds:.1f} s)"
        else:
            summary.failed += 1
            note = f"not graded: {outcome.message}"
        bar.update(outcome, note)

    if todo:
        if scheduler:
            _run_dask(todo, scheduler, job_function, done)
        elif jobs == 1:
            for job in todo:
                done(job_function(job))
        else:
            _run_pool(todo, jobs, job_function, done, ("graders.batch", "graders.runner", *layer.worker_modules))

    from graders.gradebook import write_gradebook
    from graders.summary import write_summary

    submitted = {s.student_id for s in submissions}
    results = []
    for sid in sorted(set(roster) | submitted):
        doc = _previous(out / "results" / f"{sid}.json") if sid in submitted else None
        if sid in submitted and doc is None:
            continue  # not graded yet (limit): left for --resume
        results.append((sid, doc))
    summary.students = len(results)
    summary.missing = sum(1 for _, d in results if d is None)
    title = str(manifest.get("config", {}).get("title", "Assignment"))
    course = str(manifest.get("config", {}).get("course", ""))
    exercise_ids = [str(e) for e in manifest.get("config", {}).get("exercises", [])]
    if finish is not None:
        finish(out)
    else:
        write_gradebook(out / "gradebook.csv", results, roster, exercise_ids)
        write_summary(
            out, results, exercise_ids, title=title, course=course, mode=mode,
            general_hints=layer.general_hints(exercise_ids),
        )
        if (out / "review.sqlite").exists() or (out / "overrides.csv").exists():
            summary.warnings.append(
                "this folder has manual grades or overrides, which gradebook.csv now leaves out: "
                f"run glmm-exercises gradebook --grading {out} to fold them back in"
            )
    summary.seconds = time.perf_counter() - t0
    return summary


# Command line ------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise BatchError(f"{message} (see {PROG} --help)")


def _whole(text: str, minimum: int) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, not {value}")
    return value


def _ids(text: str) -> list[str]:
    ids = [t.strip() for t in text.split(",") if t.strip()]
    if not ids:
        raise argparse.ArgumentTypeError("expected student ids separated by commas")
    return ids


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``glmm-grade batch``."""
    p = _Parser(
        prog=PROG,
        description="Grade every student's submission against a generated assignment; write per-student "
        "reports (HTML, JSON), gradebook.csv and an instructor summary with plots.",
        epilog=f"--all (default) needs the instructor seed: --seed N or {SEED_ENV}. Exit codes: 0 done "
        "(some may be 'not graded' for what was submitted: see the gradebook's Status column), 2 bad usage "
        "or the sandbox is unavailable, 3 some submissions not graded because of a grader problem "
        "(fix it, then rerun with --resume).",
    )
    p.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR",
                   help="one <student_id>/solution.py|.ipynb or <student_id>.py|.ipynb per student")
    p.add_argument("--assignment", required=True, type=Path, metavar="DIR", help="the folder glmm-exercises generate wrote")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="where results, reports, gradebook and summary go")
    p.add_argument("--jobs", "-j", type=lambda t: _whole(t, 1), default=os.cpu_count() or 1, metavar="N",
                   help="parallel grading processes (default: the number of CPUs)")
    p.add_argument("--resume", action="store_true", help="finish an interrupted batch in --out (keeps finished students)")
    p.add_argument("--only", type=_ids, metavar="ID[,ID]",
                   help="regrade only these students of the batch in --out; keep everyone else's results")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run the jobs on a Dask distributed scheduler, e.g. tcp://host:8786")
    p.add_argument("--seed", type=lambda t: _whole(t, 0), metavar="N", help=f"instructor seed (else {SEED_ENV})")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--all", dest="mode", action="store_const", const="all", help="every check, hidden too (default)")
    which.add_argument("--public", dest="mode", action="store_const", const="public", help="public checks only")
    p.set_defaults(mode="all")
    p.add_argument("--examples", type=lambda t: _whole(t, 1), metavar="N", help="examples per property check (default: the assignment's)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.add_argument("--isolation", choices=ISOLATION_CHOICES, default=None,
                   help="sandbox strength: auto (default) requires chroot (namespaces + a root holding "
                   "only system directories) and stops if it is unavailable; name a weaker level "
                   "(namespaces, setuid) to accept it explicitly; see docs/grading.md. Default: "
                   "$GLMM_ISOLATION, else auto")
    return p


def main(argv: Sequence[str] | None = None, *, course: Any = None) -> int:
    """Entry point of ``glmm-grade batch`` (``argv`` without the word ``batch``); returns the exit code.

    ``course``: the course layer (:mod:`graders.course`), by default the installed one."""
    try:
        args = build_parser().parse_args(argv)
        seed = args.seed
        if seed is None and args.mode == "all":
            text = os.environ.get(SEED_ENV, "").strip()
            if text:
                try:
                    seed = _whole(text, 0)
                except argparse.ArgumentTypeError as exc:
                    raise BatchError(f"{SEED_ENV}: {exc}") from None
        if seed is not None and seed < 2**32:
            print(f"{PROG}: warning: the instructor seed is small and could be guessed from the seed "
                  "reference in reports; use a random 64-bit number", file=sys.stderr)
        summary = run_batch(
            args.submissions, args.assignment, args.out, mode=args.mode, seed=seed, examples=args.examples,
            jobs=args.jobs, resume=args.resume, scheduler=args.scheduler,
            progress=None if args.quiet else sys.stderr, isolation=args.isolation, only=args.only,
            course=course,
        )
    except (GradingError, SandboxError, OutputExistsError, OSError) as exc:
        print(f"{PROG}: error: {one_line(str(exc), 2000)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished students are kept: run the same command with --resume",
              file=sys.stderr)
        return 130
    except SystemExit as exc:  # --help
        return int(exc.code or 0) if isinstance(exc.code, int | None) else 2
    for w in summary.warnings:
        print(f"{PROG}: warning: {one_line(w, 1000)}", file=sys.stderr)
    print(
        f"graded {summary.graded}, reused {summary.reused}, not graded {summary.failed}, "
        f"no submission {summary.missing} ({summary.students} students) in {summary.seconds:.1f} s\n"
        f"gradebook: {summary.gradebook}\nsummary:   {summary.summary_html}\nreports:   {summary.out / 'reports'}"
    )
    if summary.grader_errors:
        print(f"{PROG}: error: {summary.grader_errors} submission(s) not graded because of a grader "
              "problem (see the gradebook's Status column); fix it and rerun with --resume",
              file=sys.stderr)
        return 3
    return 0

