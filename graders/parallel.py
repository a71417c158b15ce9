"""Grading the exercises of one submission side by side, when cores are free.

Each exercise is graded exactly as :func:`graders.runner.grade` grades it alone (its checks'
seeds depend only on the grading seed, the exercise and the check), so the results do not
depend on how many processes share the work or which one took which exercise.

With ``jobs`` > 1, ``jobs - 1`` helper processes are forked before any sandbox exists (no
threads are running yet); every process takes the next exercise from a shared counter, the
most expensive first, and grades it in its own warm sandbox worker
(:class:`graders.sandbox.SubmissionSandboxes`). Helpers send their results back as they finish.
If a helper dies, the exercises it did not report are graded by the main process, so nothing is
lost; an exception a helper raises (the sandbox could not start, ...) is raised again here.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from graders.checks import Exercise, PropertyCheck
from graders.results import SubmissionResult

__all__ = ["ExerciseJob", "default_jobs", "grade_exercises"]


@dataclass(frozen=True)
class ExerciseJob:
    """One exercise of a submission with its own number of examples per property check."""

    exercise: Exercise
    examples: int


def default_jobs() -> int:
    """Processes for one submission's exercises: the cores this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def _cost(job: ExerciseJob) -> float:
    """A rough estimate of an exercise's grading time in milliseconds, for ordering: about 1 ms
    per example of a quick check, and a fixed 150 ms for a check whose calls are allowed more
    than 5 s (model fits: few examples, each costly), 50 ms for a statistical check."""
    total = 0.0
    for check in job.exercise.checks:
        if isinstance(check, PropertyCheck):
            total += (check.max_examples or job.examples) + (150.0 if check.time_limit > 5 else 0.0)
        else:
            total += 50.0
    return total


def grade_exercises(
    submission: Path,
    jobs_list: Sequence[ExerciseJob],
    *,
    mode: Literal["public", "all"],
    seed: int | None,
    student: str | None,
    budget_seconds: float,
    data_dir: Path | None,
    jobs: int = 1,
    sandbox_factory: Any = None,
    progress: Callable[[str], None] | None = None,
    case_cache: Any = None,
) -> list[SubmissionResult]:
    """Grade every exercise of ``jobs_list`` (results in the same order).

    ``budget_seconds`` is the wall time of the whole submission, shared by all exercises and
    processes. A caller-supplied ``sandbox_factory`` (tests, the notebook check) keeps the
    grading in this process. ``case_cache`` is passed to :func:`graders.runner.grade`.
    """
    from graders.sandbox import Budget

    run = _Run(submission, tuple(jobs_list), mode, seed, student, Budget(budget_seconds), data_dir, progress,
               case_cache)
    jobs = max(1, min(jobs, len(jobs_list)))
    if multiprocessing.current_process().daemon:
        jobs = 1  # a pool's worker (a batch job) may not fork helpers of its own
    if jobs == 1 or sandbox_factory is not None:
        done = run.grade(range(len(jobs_list)), sandbox_factory)
        return [done[i] for i in range(len(jobs_list))]
    order = sorted(range(len(jobs_list)), key=lambda i: (-_cost(jobs_list[i]), i))
    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("i", 0)
    helpers = []
    for _ in range(jobs - 1):
        reader, writer = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_helper, args=(run, writer, counter, order), daemon=True)
        proc.start()
        writer.close()
        helpers.append((proc, reader))
    results: dict[int, SubmissionResult] = {}
    failure: BaseException | None = None
    try:
        results.update(run.grade(_taken(counter, order)))
    except BaseException as exc:
        failure = exc
        with counter.get_lock():
            counter.value = len(order)  # the helpers finish the exercise they are on, then stop
    for proc, reader in helpers:
        try:
            while True:
                kind, payload = reader.recv()
                if kind == "result":
                    index, result = payload
                    results[index] = result
                elif kind == "error":
                    failure = failure or _rebuild(payload)
                else:
                    break
        except (EOFError, OSError, pickle.UnpicklingError):
            pass  # the helper died: what it did not report is graded below
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if failure is not None:
        raise failure
    results.update(run.grade([i for i in range(len(jobs_list)) if i not in results]))
    return [results[i] for i in range(len(jobs_list))]


@dataclass(frozen=True)
class _Run:
    """What every process grading one submission shares (inherited by forked helpers)."""

    submission: Path
    jobs_list: tuple[ExerciseJob, ...]
    mode: Literal["public", "all"]
    seed: int | None
    student: str | None
    budget: Any
    data_dir: Path | None
    progress: Callable[[str], None] | None
    cache: Any

    def grade(self, indices: Iterable[int], factory: Any = None,
              report: Callable[[int, SubmissionResult], None] | None = None) -> dict[int, SubmissionResult]:
        """Grade the exercises at ``indices`` one after another, in one warm sandbox worker
        (:class:`graders.sandbox.SubmissionSandboxes`) unless ``factory`` makes the sandboxes."""
        from graders.runner import grade
        from graders.sandbox import Limits, SubmissionSandboxes

        done: dict[int, SubmissionResult] = {}
        shared = SubmissionSandboxes(Limits(total_seconds=self.budget.seconds)) if factory is None else None
        try:
            for index in indices:
                job = self.jobs_list[index]
                if self.progress is not None:
                    self.progress(f"grading {job.exercise.id} ...")
                done[index] = grade(self.submission, job.exercise, mode=self.mode, seed=self.seed,
                                    max_examples=job.examples, student=self.student,
                                    sandbox_factory=shared.factory if shared is not None else factory,
                                    budget=self.budget, data_dir=self.data_dir, case_cache=self.cache)
                if report is not None:
                    report(index, done[index])
            return done
        finally:
            if shared is not None:
                shared.close()


def _taken(counter: Any, order: list[int]) -> Iterator[int]:
    """Exercises taken from the counter shared by the processes, until none is left."""
    while True:
        with counter.get_lock():
            position = counter.value
            counter.value += 1
        if position >= len(order):
            return
        yield order[position]


def _helper(run: _Run, writer: Any, counter: Any, order: list[int]) -> None:
    try:
        run.grade(_taken(counter, order), report=lambda index, result: writer.send(("result", (index, result))))
    except BaseException as exc:
        writer.send(("error", _portable(exc)))
    finally:
        try:
            writer.send(("done", None))
        finally:
            writer.close()


def _portable(exc: BaseException) -> Any:
    """The exception itself when it pickles, else its type name, message and traceback."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return (type(exc).__name__, str(exc), "".join(traceback.format_exception(exc))[-2000:])


def _rebuild(payload: Any) -> BaseException:
    if isinstance(payload, BaseException):
        return payload
    name, message, tb = payload
    return RuntimeError(f"a grading process failed with {name}: {message}\n{tb}")
