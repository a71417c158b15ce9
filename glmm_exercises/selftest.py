"""``glmm-exercises selftest``: every exercise, on sampled variants, grades the way it should.

For each exercise and each of ``variants`` sampled variants (drawn like a student's, for the
pseudo-students ``selftest-0``, ``selftest-1``, … under ``seed``):

* the variant is well posed (``problems(params) == []``);
* the answer key scores 100 % on all checks (public and hidden);
* every mutant fails each check it names in ``MUTANTS`` (it is "caught").

Keys, mutants and multiple-choice answers are the catalogue's own trusted instructor material,
found in the source tree of a clone, or in ``instructor`` (an instructor folder ``generate`` wrote,
also via ``$GLMM_INSTRUCTOR_DIR``); when they are missing, ``MissingInstructorMaterial`` says so.
They are By default they run in the real sandbox,
as students' files do; ``in_process=True`` runs them in this process instead (faster, for
development; it does not exercise the sandbox's transport of values).
"""

from __future__ import annotations

import runpy
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glmm_exercises.catalogue import answers, expected_failures, key_path, mutant_paths
from glmm_exercises.config import AssignmentConfig, apply_config, default_config
from glmm_exercises.variants import build_exercise, exercise_module, variant_params
from graders.runner import SandboxFactory, grade

__all__ = [
    "DEFAULT_EXAMPLES",
    "ExerciseReport",
    "TrustedRunner",
    "VariantReport",
    "check_variant",
    "format_table",
    "run_selftest",
    "trusted_factory",
]

DEFAULT_EXAMPLES = 25
DEFAULT_SEED = 20241125
_GRADING_SEED = 0x5E1F_7E57_0000_0001


@dataclass(frozen=True)
class VariantReport:
    """Selftest of one variant of one exercise."""

    exercise_id: str
    variant: str
    params: dict[str, Any]
    problems: tuple[str, ...]
    key_percent: float
    key_failures: tuple[str, ...]
    mutants_caught: int
    mutants_total: int
    missed: tuple[str, ...]  # "mutant: check" pairs that passed although declared to fail
    seconds: float

    @property
    def ok(self) -> bool:
        """True when the variant is well posed, the key scores 100 % and every mutant is caught."""
        return not self.problems and self.key_percent == 100.0 and self.mutants_caught == self.mutants_total


@dataclass
class ExerciseReport:
    """Selftest of one exercise over all sampled variants."""

    exercise_id: str
    variants: list[VariantReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every variant passed."""
        return all(v.ok for v in self.variants)

    @property
    def seconds(self) -> float:
        """Total time spent on this exercise."""
        return sum(v.seconds for v in self.variants)


# In-process runner for trusted catalogue files ---------------------------------------------------


@dataclass(frozen=True)
class _Load:
    status: str
    message: str = ""
    functions: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Call:
    status: str
    value: object = None
    message: str = ""
    runtime: float = 0.0


def _plain(value: object) -> object:
    """Normalise a return value the way the sandbox does (numpy scalars, 0-d arrays, tuples)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.item() if value.ndim == 0 else value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class TrustedRunner:
    """Runs a trusted catalogue file (key or mutant) in this process with the sandbox's interface."""

    isolation = "none: trusted catalogue file run in the grading process (selftest --in-process)"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.namespace: dict[str, Any] = {}

    def load(self) -> _Load:
        self.namespace = runpy.run_path(str(self.path))
        names = tuple(sorted(k for k, v in self.namespace.items() if callable(v) and not k.startswith("_")))
        return _Load("ok", "", names)

    def call(self, function: str, *args: object, **kwargs: object) -> _Call:
        from graders.sandbox import RngSeed

        fn = self.namespace.get(function)
        if fn is None:
            return _Call("missing", message=f"{function} is not defined")
        args = tuple(np.random.default_rng(a.seed) if isinstance(a, RngSeed) else a for a in args)
        t0 = time.perf_counter()
        try:
            value = fn(*args, **kwargs)
        except NotImplementedError as exc:
            return _Call("not_implemented", message=str(exc), runtime=time.perf_counter() - t0)
        except Exception as exc:
            return _Call("error", message=f"{type(exc).__name__}: {exc}", runtime=time.perf_counter() - t0)
        return _Call("ok", _plain(value), runtime=time.perf_counter() - t0)

    def close(self) -> None:
        self.namespace = {}


def trusted_factory(path: Path, forbidden: Sequence[str], call_seconds: float) -> TrustedRunner:
    """A :data:`graders.runner.SandboxFactory` running trusted files in-process."""
    return TrustedRunner(path)


# The selftest ------------------------------------------------------------------------------------


def _variant_params(exercise_id: str, index: int, seed: int) -> tuple[str, dict[str, Any]]:
    if index < 0:
        return "default", dict(exercise_module(exercise_id).DEFAULT_PARAMS)
    label = f"selftest-{index}"
    return label, variant_params(seed, label, exercise_id)


def _declared_failures(
    exercise_id: str, params: dict[str, Any], paths: dict[str, Path]
) -> dict[str, frozenset[str]]:
    """Mutant → checks it must fail in this variant (``mutants_for(params)`` when the exercise has it).

    Mutants declared with no checks for a variant are not run for it (a mistake that only shows
    in some variants, e.g. a gamma-specific one in a Poisson variant).
    """
    module = exercise_module(exercise_id)
    hook = getattr(module, "mutants_for", None)
    declared = dict(hook(params)) if hook is not None else expected_failures(exercise_id)
    unknown = sorted(set(declared) - set(paths))
    if unknown:
        raise ValueError(f"{exercise_id}: MUTANTS names {unknown[0]!r}, but there is no mutants/{unknown[0]}.py")
    return {name: frozenset(checks) for name, checks in declared.items() if checks}


def check_variant(
    exercise_id: str,
    index: int,
    *,
    seed: int = DEFAULT_SEED,
    examples: int = DEFAULT_EXAMPLES,
    config: AssignmentConfig | None = None,
    in_process: bool = False,
    instructor: str | Path | None = None,
) -> VariantReport:
    """Selftest of one variant (``index`` -1 is the default variant); ``instructor`` as in :func:`run_selftest`."""
    t0 = time.perf_counter()
    config = config or default_config()
    label, params = _variant_params(exercise_id, index, seed)
    problems = tuple(exercise_module(exercise_id).problems(params))
    key_file = key_path(exercise_id, instructor=instructor)
    paths = mutant_paths(exercise_id, instructor=instructor)
    solutions = answers(exercise_id, instructor=instructor)
    exercise = apply_config(build_exercise(exercise_id, params, answers=solutions), config)
    factory: SandboxFactory | None = trusted_factory if in_process else None
    key = grade(key_file, exercise, mode="all", seed=_GRADING_SEED, max_examples=examples, sandbox_factory=factory)
    key_failures = tuple(c.name for c in key.checks if not c.passed)
    declared = _declared_failures(exercise_id, params, paths)
    caught, missed = 0, []
    for name, must_fail in sorted(declared.items()):
        result = grade(paths[name], exercise, mode="all", seed=_GRADING_SEED, max_examples=examples, sandbox_factory=factory)
        failed = {c.name for c in result.checks if not c.passed}
        escaped = sorted(must_fail - failed)
        if escaped or result.score >= result.max_score:
            missed += [f"{name}: {check}" for check in escaped] or [f"{name}: (full marks)"]
        else:
            caught += 1
    return VariantReport(
        exercise_id=exercise_id,
        variant=label,
        params=params,
        problems=problems,
        key_percent=round(key.percent, 6),
        key_failures=key_failures,
        mutants_caught=caught,
        mutants_total=len(declared),
        missed=tuple(missed),
        seconds=time.perf_counter() - t0,
    )


def run_selftest(
    *,
    variants: int = 3,
    seed: int = DEFAULT_SEED,
    examples: int = DEFAULT_EXAMPLES,
    config: AssignmentConfig | None = None,
    exercises: Sequence[str] | None = None,
    jobs: int = 1,
    in_process: bool = False,
    instructor: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[ExerciseReport]:
    """Selftest ``variants`` sampled variants of every exercise (of ``config``, or of ``exercises``).

    ``instructor``: an instructor folder ``generate`` wrote, holding the keys, mutants and answers;
    ``None`` uses ``$GLMM_INSTRUCTOR_DIR`` or the source tree. Raises ``MissingInstructorMaterial``
    (before any grading) when an exercise's material is not there.
    """
    if variants < 1:
        raise ValueError(f"variants must be at least 1, got {variants}")
    config = config or default_config()
    ids = tuple(exercises) if exercises is not None else config.exercise_ids
    tasks = [(eid, i) for eid in ids for i in range(variants)]
    reports = {eid: ExerciseReport(eid) for eid in ids}
    for eid in ids:  # fail before any work when instructor material is missing
        key_path(eid, instructor=instructor)
        mutant_paths(eid, instructor=instructor)
        answers(eid, instructor=instructor)
    kwargs = {"seed": seed, "examples": examples, "config": config, "in_process": in_process, "instructor": instructor}

    def record(done: int, report: VariantReport) -> None:
        reports[report.exercise_id].variants.append(report)
        if progress is not None:
            state = "ok" if report.ok else "FAILED"
            progress(f"[{done}/{len(tasks)}] {report.exercise_id} {report.variant}: {state} ({report.seconds:.1f} s)")

    if jobs <= 1:
        for done, (eid, i) in enumerate(tasks, start=1):
            record(done, check_variant(eid, i, **kwargs))  # type: ignore[arg-type]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(check_variant, eid, i, **kwargs) for eid, i in tasks]  # type: ignore[arg-type]
            for done, future in enumerate(futures, start=1):
                record(done, future.result())
    return [reports[eid] for eid in ids]


def format_table(reports: Sequence[ExerciseReport]) -> str:
    """The selftest summary table, then one line per failure."""
    header = ("exercise", "variants", "key %", "mutants caught", "problems", "time", "result")
    rows = []
    for r in reports:
        key_min = min((v.key_percent for v in r.variants), default=100.0)
        caught = sum(v.mutants_caught for v in r.variants)
        total = sum(v.mutants_total for v in r.variants)
        problems = sum(1 for v in r.variants if v.problems)
        rows.append((r.exercise_id, str(len(r.variants)), f"{key_min:.1f}", f"{caught}/{total}", str(problems), f"{r.seconds:.1f} s", "ok" if r.ok else "FAILED"))
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    for r in reports:
        for v in r.variants:
            if v.ok:
                continue
            where = f"{v.exercise_id} {v.variant} (params {v.params})"
            for p in v.problems:
                lines.append(f"{where}: ill-posed: {p}")
            if v.key_failures:
                lines.append(f"{where}: answer key fails {', '.join(v.key_failures)}")
            for m in v.missed:
                lines.append(f"{where}: mutant not caught: {m}")
    return "\n".join(lines) + "\n"
