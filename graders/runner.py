"""Grading a submission: load it in the sandbox, run every selected check, collect results.

Everything here runs in the trusted grading process. The student's code only ever runs inside
the sandbox (``graders.sandbox``), which receives plain argument values -- never the seed,
the oracle, or the expected values.

Property checks run through hypothesis with explicit settings: no example database, no deadline,
a fixed number of examples, the too-slow health check suppressed, and a seed derived with
SHA-256 from (grading seed, exercise id, check name) so that grading is reproducible and every
check sees different inputs -- except checks of one exercise whose strategies are the same
value strategy (the same plain text, see :func:`graders.case_cache.plain_strategy_text`): they
share the seed, and so see the same inputs, generated once (the mean and the variance of a
model checked at the same points). The smallest failing input found by hypothesis' shrinking is
recorded by the property itself (the last failing call is the final replay of the minimal
example), together with the expected and the student's value.

Seeds: ``mode="public"`` runs the public checks with ``seed`` or, when it is ``None``, the
exercise's public seed; ``mode="all"`` runs every check with the instructor's seed, which is
required.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from graders.case_cache import CaseCache, case_digest, cases_key, default_cache, plain_strategy_text
from graders.checks import (
    MAX_WRITTEN_CHARS,
    UNANSWERED,
    Check,
    Exercise,
    PropertyCheck,
    StatisticalCheck,
)
from graders.compare import OracleValueError, compare
from graders.grading_errors import MissingSeedError, SubmissionNotFoundError
from graders.results import CheckResult, SubmissionResult, seed_reference, to_plain

__all__ = [
    "DEFAULT_EXAMPLES",
    "SUBMISSION_SUFFIXES",
    "SandboxFactory",
    "SandboxLike",
    "derive_seed",
    "grade",
]

#: Official default number of hypothesis examples per property check.
DEFAULT_EXAMPLES = 200
SUBMISSION_SUFFIXES = (".py", ".ipynb")


class CallOutcomeLike(Protocol):
    """What the checking layer reads from ``graders.sandbox.CallOutcome``."""

    status: str
    value: object
    message: str
    runtime: float


class LoadOutcomeLike(Protocol):
    """What the checking layer reads from ``graders.sandbox.LoadOutcome``."""

    status: str
    message: str
    functions: tuple[str, ...]


class SandboxLike(Protocol):
    """The part of ``graders.sandbox.Sandbox`` the checking layer uses."""

    isolation: str

    def load(self) -> LoadOutcomeLike: ...

    def call(self, function: str, *args: object, **kwargs: object) -> CallOutcomeLike: ...

    def close(self) -> None: ...


#: ``factory(submission, forbidden_imports, call_seconds)`` returns an unloaded sandbox.
SandboxFactory = Callable[[Path, Sequence[str], float], SandboxLike]


def _default_sandbox(submission: Path, forbidden: Sequence[str], call_seconds: float) -> SandboxLike:
    from graders.sandbox import Limits, Sandbox

    return Sandbox(submission, forbidden_imports=tuple(forbidden), limits=Limits(call_seconds=call_seconds))


def _rng_argument(seed: int) -> object:
    from graders.sandbox import RngSeed

    return RngSeed(seed)


def derive_seed(seed: int, exercise_id: str, check_name: str, *extra: object) -> int:
    """A 64-bit seed for one check (and optionally one case) from the grading seed."""
    text = "|".join(str(p) for p in (seed, exercise_id, check_name, *extra))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


# Sandbox statuses that stop a check at once (no shrinking: each further call would cost as
# much again, or would fail the same way for every input).
_ABORTING = {
    "timeout": ("timeout", "timeout"),
    "crashed": ("error", "crashed"),
    "missing": ("failed", "missing"),
    "not_implemented": ("failed", "not_implemented"),
    "forbidden_import": ("error", "forbidden_import"),
    "output_too_large": ("failed", "output_too_large"),
}
_LOAD_STATUS_RESULT = {"timeout": "timeout"}
_DEFAULT_MESSAGES = {
    "timeout": "did not return within the time limit; look for an endless loop or very slow code",
    "crashed": "the process running your function crashed (segfault, os._exit or killed); "
    "look for code that exits or corrupts memory",
    "forbidden_import": "imported a module this exercise does not allow",
    "output_too_large": "returned a value larger than the output limit",
    "invalid_output": "returned a value that is not plain data (numbers, lists, numpy arrays)",
}


@dataclass
class _Failure:
    status: str
    reason: str
    message: str
    case: Mapping[str, Any] | None
    expected: Any = None
    got: Any = None
    hint: str | None = None
    diagnosis: str | None = None  # the named mistake, when one explains the student's values


#: Hints for a value of the wrong kind (the formula may be right; what is returned is not).
_SHAPE_HINTS = {
    "type": "Check the type {function} returns: the docstring says what to return (a float, a numpy "
    "array, a dict, ...). A list where an array is expected is a type mismatch: wrap it in np.asarray.",
    "shape": "Check the shape of what {function} returns: one value per element of the input, in the "
    "input's shape (numpy operations on np.asarray(x) keep it; a Python loop or .ravel() may not).",
}
_REMEMBER = 12  # (input, value) pairs kept per check to confirm a diagnosis
_REMEMBER_MAX_ELEMENTS = 10_000


def _case_key(case: Mapping[str, Any]) -> str:
    """A text identifying an input (equal inputs, equal keys), for counting distinct inputs."""
    return hashlib.sha256(repr(sorted((k, repr(to_plain(v))) for k, v in case.items())).encode()).hexdigest()


class _Stop(BaseException):
    """Raised inside the hypothesis property to end a check without shrinking.

    A BaseException (not Exception) so hypothesis propagates it instead of shrinking.
    """


class _Fail(AssertionError):
    """Raised inside the property for a failing example (hypothesis shrinks it)."""


class _Unavailable(BaseException):
    """The sandbox could not be restarted: grading must stop (a BaseException, so hypothesis
    neither shrinks nor swallows it)."""


class _GraderBug(BaseException):
    """The oracle or the comparison failed: the grader, not the student, is at fault."""


def _call_text(function: str, params: Sequence[str], case: Mapping[str, Any]) -> str:
    def short(v: object) -> str:
        text = repr(to_plain(v))
        if isinstance(v, np.ndarray):
            text = f"array({text})"
        return text if len(text) <= 60 else text[:57] + "..."

    shown = (f"{p}={short(case[p])}" if p in case else f"{p}=..." for p in params)
    return f"{function}(" + ", ".join(shown) + ")"


def _not_implemented_message(function: str) -> str:
    return f"not yet implemented: {function} still raises NotImplementedError"


#: Hypothesis settings of every run: no example database, no deadline, no health checks that
#: would fail slow or filtered strategies, quiet; the seed is set per check.
_SETTINGS: dict[str, Any] = {
    "database": None,
    "deadline": None,
    "derandomize": False,
    "suppress_health_check": (HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large),
    "verbosity": Verbosity.quiet,
    "print_blob": False,
}

#: Sizes of the sweep's requests: small first (a wrong function fails on the first inputs,
#: and few calls are wasted), then large (few round trips).
_CHUNKS = (1, 4, 16, 64)
_LAST_CHUNK = 128


#: Property checks with at least this many examples draw their sweep's inputs in groups of
#: :data:`_GROUP` (one hypothesis example is a list of that many inputs): hypothesis' engine
#: costs about as much per example as drawing one input does, so this halves generation.
_GROUP_FROM = 40
_GROUP = 8


def _group_size(examples: int) -> int:
    return _GROUP if examples >= _GROUP_FROM else 1


class _SweepFailed(BaseException):
    """An input failed during the sweep: stop generating (a BaseException, so hypothesis
    neither shrinks nor replays it)."""


class _SerialBatch:
    """``call_many`` for a sandbox that only has ``call`` (the outcomes are made on ``wait``)."""

    def __init__(self, sandbox: SandboxLike, function: str, arg_lists: list[list[Any]]) -> None:
        self.sandbox, self.function, self.arg_lists = sandbox, function, arg_lists

    def poll(self) -> None:
        pass

    def wait(self) -> list[CallOutcomeLike]:
        return [self.sandbox.call(self.function, *args) for args in self.arg_lists]


class _Sweep:
    """Step 1 of a property check: inputs sent to the sandbox in requests of growing size,
    each request's outcomes judged in input order before the next request goes out."""

    def __init__(self, run: _CheckRun) -> None:
        self.run = run
        self.pending: list[dict[str, Any]] = []
        self.inflight: tuple[list[dict[str, Any]], Any] | None = None
        self.sent = 0

    def _size(self) -> int:
        return _CHUNKS[self.sent] if self.sent < len(_CHUNKS) else _LAST_CHUNK

    def add(self, case: dict[str, Any]) -> None:
        """One more input (called as hypothesis generates them); raises _SweepFailed, _Stop or
        _GraderBug when an earlier request showed a failure."""
        self.pending.append(case)
        if self.inflight is not None:
            self.inflight[1].poll()  # keep the worker's timing honest while generating
        if len(self.pending) >= self._size():
            if self._settle():
                raise _SweepFailed
            self._send()

    def abandon(self) -> None:
        """Read the answers of a request still in flight (the check ended another way), so they
        are not taken for the answers of the next call."""
        if self.inflight is not None:
            _, batch = self.inflight
            self.inflight = None
            batch.wait()

    def finish(self) -> bool:
        """Judge everything still pending; True when an input failed in a way worth shrinking."""
        if self._settle():
            return True
        if self.pending:
            self._send()
            return self._settle()
        return False

    def _send(self) -> None:
        run = self.run
        cases, self.pending = self.pending, []
        arg_lists = [[case.get(p) for p in run.params] for case in cases]
        many = getattr(run.sandbox, "call_many", None)
        batch = many(run.check.function, arg_lists) if many is not None else \
            _SerialBatch(run.sandbox, run.check.function, arg_lists)
        self.inflight = (cases, batch)
        self.sent += 1

    def _settle(self) -> bool:
        """Wait for the request in flight and judge its outcomes; True on a shrinkable failure."""
        if self.inflight is None:
            return False
        cases, batch = self.inflight
        self.inflight = None
        run = self.run
        for case, outcome in zip(cases, batch.wait(), strict=True):
            if outcome.status == "unavailable":
                raise _Unavailable(outcome.message)
            if outcome.status == "not_run":  # only after a failure, which ends the sweep first
                if run.failure is None:
                    run.failure = _Failure("error", "grader_error", f"internal grader error in check "
                                           f"{run.check.name} (a call was not run: {outcome.message}); "
                                           "report this to the instructor", None)
                raise _Stop
            run.examples += 1
            digest = case_digest(dict(case))
            if digest is not None:
                run.memo[digest] = outcome
            try:
                run.property_example(case, outcome)
            except _Fail:
                return True
        return False


class _CheckRun:
    """State of one check: calls the sandbox and records failures."""

    def __init__(self, exercise: Exercise, check: Check, sandbox: SandboxLike) -> None:
        self.exercise = exercise
        self.check = check
        self.sandbox = sandbox
        self.params = exercise.function(check.function).parameters
        self.examples = 0
        self.failure: _Failure | None = None
        self.first_seen: list[tuple[dict[str, Any], Any]] = []
        self.seen: deque[tuple[dict[str, Any], Any]] = deque(maxlen=_REMEMBER // 2)
        self.memo: dict[str, CallOutcomeLike] = {}  # input digest -> outcome of the sweep's call

    def _outcome_failure(self, outcome: CallOutcomeLike, case: Mapping[str, Any]) -> _Failure:
        call = _call_text(self.check.function, self.params, case)
        if outcome.status == "not_implemented":
            return _Failure(
                "failed",
                "not_implemented",
                _not_implemented_message(self.check.function),
                None,  # any input shows it: no "smallest failing input"
                hint=f"Replace the `raise NotImplementedError` in {self.check.function} with your code.",
            )
        status, reason = _ABORTING.get(outcome.status, ("error", outcome.status))
        if outcome.status == "error":
            status, reason = "error", "exception"
        elif outcome.status == "invalid_output":
            status, reason = "failed", "invalid_output"
        hint = self.check.hint if reason in ("exception", "invalid_output") else None
        detail = outcome.message.strip() or _DEFAULT_MESSAGES.get(
            outcome.status, f"the call ended with status {outcome.status}"
        )
        return _Failure(status, reason, f"{call}: {detail}", case, hint=hint)

    def call(self, case: Mapping[str, Any], extra: Mapping[str, object] | None = None) -> Any:
        """Call the student's function with ``case`` (plus ``extra`` arguments); raise on failure.

        An input the sweep already ran (:meth:`run_property`) is answered from its outcome.
        """
        outcome = None
        if extra is None and self.memo:
            digest = case_digest(dict(case))
            outcome = self.memo.get(digest) if digest is not None else None
        if outcome is None:
            args = [(extra or {}).get(p, case.get(p)) for p in self.params]
            outcome = self.sandbox.call(self.check.function, *args)
            if outcome.status == "unavailable":  # the grading machine failed, not the student
                raise _Unavailable(outcome.message)
            self.examples += 1
        return self.value(outcome, case)

    def value(self, outcome: CallOutcomeLike, case: Mapping[str, Any]) -> Any:
        """The value of a call's outcome; a failed call records the failure and raises."""
        if outcome.status == "ok" and outcome.runtime > self.check.time_limit:
            call = _call_text(self.check.function, self.params, case)
            self.failure = _Failure(
                "timeout",
                "timeout",
                f"{call}: took {outcome.runtime:.2g} s, over this check's limit of "
                f"{self.check.time_limit:g} s per call; make it faster",
                case,
            )
            raise _Stop
        if outcome.status == "ok":
            return outcome.value
        self.failure = self._outcome_failure(outcome, case)
        if outcome.status in ("error", "invalid_output"):
            raise _Fail(self.failure.message)
        raise _Stop

    def extracted(self, got: Any, case: Mapping[str, Any]) -> Any:
        """The part of the student's value the check judges (``check.extract``); raise on bad structure."""
        extract = self.check.extract
        if extract is None:
            return got
        try:
            return extract(got)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            call = _call_text(self.check.function, self.params, case)
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            self.failure = _Failure(
                "failed", "invalid_output", f"{call}: {text}", case, hint=self.check.hint
            )
            raise _Fail(self.failure.message) from None

    # -- property checks ------------------------------------------------------------------

    def property_example(self, case: dict[str, Any], outcome: CallOutcomeLike | None = None) -> None:
        check = self.check
        assert isinstance(check, PropertyCheck)
        got = self.extracted(self.call(case) if outcome is None else self.value(outcome, case), case)
        try:
            expected = check.oracle(**case)
        except (OracleValueError, ArithmeticError, ValueError, TypeError) as exc:
            self.failure = _Failure(
                "error",
                "grader_error",
                f"internal grader error in check {check.name} "
                f"({type(exc).__name__}: {exc}); report this to the instructor",
                case,
            )
            raise _GraderBug from exc
        try:
            mismatch = compare(expected, got, check.comparison)
        except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
            # The oracle's value is fine (computed above), so what cannot be compared is the
            # student's value: e.g. an integer beyond the float range, an unusual type.
            call = _call_text(check.function, self.params, case)
            self.failure = _Failure(
                "failed",
                "invalid_output",
                f"{call}: your value cannot be compared with the expected one "
                f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); return real numbers "
                "of the expected shape",
                case,
                hint=self.check.hint,
            )
            raise _Fail(self.failure.message) from None
        self._remember(case, got)
        if mismatch is None:
            return
        if mismatch.kind in ("type", "shape"):  # the formula may be right: say what to return
            hint = _SHAPE_HINTS[mismatch.kind].format(function=check.function)
        else:
            hint = check.hint  # a named mistake replaces it after the run (see diagnose_failure)
        diagnosis = None
        call = _call_text(check.function, self.params, case)
        self.failure = _Failure(
            "failed",
            "mismatch",
            f"{call}: {mismatch.message}",
            case,
            expected=expected,
            got=got,
            hint=hint,
            diagnosis=diagnosis,
        )
        raise _Fail(self.failure.message)

    def _remember(self, case: Mapping[str, Any], got: object) -> None:
        """Keep the first few (input, student's value) pairs -- drawn at random, before shrinking
        makes inputs alike -- and the last few: a diagnosis must explain them all."""
        if isinstance(got, np.ndarray) and np.size(got) > _REMEMBER_MAX_ELEMENTS:
            return
        if len(self.first_seen) < _REMEMBER // 2:
            self.first_seen.append((dict(case), got))
        else:
            self.seen.append((dict(case), got))

    def _explaining(self, inputs: list[tuple[dict[str, Any], Any]]) -> list[Any]:
        """The declared diagnoses that reproduce the student's value on every input given (and
        on at least three distinct ones where there are)."""
        check = self.check
        assert isinstance(check, PropertyCheck)
        needed = min(3, len({_case_key(c) for c, _ in inputs}))
        explaining = []
        for diagnosis in check.diagnoses:
            matched = set()
            try:
                for c, g in inputs:
                    if compare(diagnosis.wrong(**c), g, check.comparison) is not None:
                        break
                    matched.add(_case_key(c))
                else:
                    if len(matched) >= needed:
                        explaining.append(diagnosis)
            except (OracleValueError, ArithmeticError, ValueError, TypeError, RecursionError):
                continue
        return explaining

    def diagnose_failure(self, seed: int) -> None:
        """After a property check failed on a value: name the known mistake when exactly one
        explains every input seen; when several do (simple inputs, where two mistakes agree),
        call the function on a few more inputs drawn from the check's cases to tell them apart."""
        failure, check = self.failure, self.check
        if failure is None or failure.reason != "mismatch" or failure.case is None \
                or not isinstance(check, PropertyCheck) or not check.diagnoses \
                or failure.hint != check.hint:
            return
        inputs = [(dict(failure.case), failure.got), *self.first_seen, *self.seen]
        explaining = self._explaining(inputs)
        if len({d.hint for d in explaining}) > 1:
            explaining = self._explaining(inputs + self._probe(seed))
        if len({d.hint for d in explaining}) == 1:
            failure.hint, failure.diagnosis = explaining[0].hint, explaining[0].name

    def _probe(self, seed: int, n: int = 6) -> list[tuple[dict[str, Any], Any]]:
        """(input, student's value) on ``n`` more inputs of the check (no shrinking; a call that
        fails otherwise is skipped); the check's result is left as it was."""
        check = self.check
        assert isinstance(check, PropertyCheck)
        failure, examples = self.failure, self.examples
        extra: list[tuple[dict[str, Any], Any]] = []

        @settings(max_examples=n, phases=(Phase.generate,), **_SETTINGS)
        @hypothesis_seed(seed)
        @given(check.cases)
        def probe(case: dict[str, Any]) -> None:
            try:
                extra.append((dict(case), self.extracted(self.call(case), case)))
            except (_Fail, _Stop):
                pass

        try:
            probe()
        except Exception:  # hypothesis could not draw more inputs: decide on what is known
            pass
        self.failure, self.examples = failure, examples + len(extra)
        return extra

    def run_property(self, seed: int, max_examples: int, cache: CaseCache | None = None,
                     plain: str | None = None) -> None:
        """Run a property check in two steps.

        1. The sweep: the check's ``n`` inputs (from ``cache``, else generated by hypothesis
           without calling anything; checks with many examples draw them :data:`_GROUP` at a
           time) go to the sandbox in a few requests of growing size (:data:`_CHUNKS`). Each
           request's outcomes are judged, in input order, before the next is sent, so which
           calls run depends only on where the first failure is; while the worker answers one
           request, hypothesis generates the next.
        2. Only when an input failed on a value or an exception: an ordinary hypothesis run
           (one input per example, generate then shrink, same seed) calling the sandbox live,
           which finds the smallest failing input. Should it find no failure (a rare one the
           sweep hit), the sweep's failing input is reported as found.

        Which inputs are tried depends only on the seed, the strategy and ``n``: a cache entry
        changes how fast, never what.
        """
        check = self.check
        assert isinstance(check, PropertyCheck)
        n = check.max_examples or max_examples
        key = None
        if cache is not None:
            key = cases_key(exercise_id=self.exercise.id, exercise_version=self.exercise.version,
                            variant=self.exercise.variant, check_name=check.name, function=check.function,
                            strategy=check.cases, seed=seed, examples=n, group=_group_size(n),
                            plain=plain)
        try:
            shrink = self._sweep(seed, n, cache, key)
        except (_Stop, _GraderBug):
            return
        except Exception as exc:  # hypothesis' own errors while generating (Unsatisfiable, ...)
            if self.failure is None:
                self.failure = _Failure(
                    "error",
                    "grader_error",
                    f"internal grader error in check {check.name} ({type(exc).__name__}); "
                    "report this to the instructor",
                    None,
                )
            return
        if not shrink:
            return

        @settings(max_examples=n, phases=(Phase.generate, Phase.shrink), report_multiple_bugs=False,
                  **_SETTINGS)
        @hypothesis_seed(seed)
        @given(check.cases)
        def prop(case: dict[str, Any]) -> None:
            self.property_example(case)

        try:
            prop()
        except _Fail:
            pass
        except Exception as exc:  # hypothesis' own errors (Flaky, Unsatisfiable, ...)
            if self.failure is None:
                self.failure = _Failure(
                    "error",
                    "grader_error",
                    f"internal grader error in check {check.name} ({type(exc).__name__}); "
                    "report this to the instructor",
                    None,
                )
            elif type(exc).__name__.startswith("Flaky"):
                self.failure.message += (
                    " (this input failed only sometimes: does your function depend on randomness or state?)"
                )
            return
        self.diagnose_failure(seed ^ 0xD1A6_0000)

    def _sweep(self, seed: int, n: int, cache: CaseCache | None, key: str | None) -> bool:
        """Step 1 of :meth:`run_property`; True when an input failed in a way worth shrinking
        (``self.failure`` says how). Raises _Stop/_GraderBug to end the check at once."""
        check = self.check
        assert isinstance(check, PropertyCheck)
        sweep = _Sweep(self)
        try:
            return self._sweep_inputs(sweep, seed, n, cache, key)
        finally:
            sweep.abandon()

    def _sweep_inputs(self, sweep: _Sweep, seed: int, n: int, cache: CaseCache | None, key: str | None) -> bool:
        check = self.check
        assert isinstance(check, PropertyCheck)
        cached = cache.get(key) if cache is not None and key is not None else None
        if cached is not None:
            try:
                for case in cached:
                    sweep.add(case)
            except _SweepFailed:
                return True
            return sweep.finish()

        generated: list[dict[str, Any]] = []
        group = _group_size(n)
        strategy = check.cases if group == 1 else st.lists(check.cases, min_size=group, max_size=group)

        @settings(max_examples=-(-n // group), phases=(Phase.generate,), **_SETTINGS)
        @hypothesis_seed(seed)
        @given(strategy)
        def generate(drawn: Any) -> None:
            for case in drawn if group > 1 else (drawn,):
                if len(generated) < n:
                    generated.append(case)
                    sweep.add(case)

        try:
            generate()
        except _SweepFailed:
            return True
        failed = sweep.finish()
        if cache is not None and key is not None:
            cache.put(key, generated)
        return failed

    # -- statistical checks ---------------------------------------------------------------

    def run_statistical(self, seed: int) -> None:
        check = self.check
        assert isinstance(check, StatisticalCheck)
        for i, case in enumerate(check.cases):
            rng_seed = derive_seed(seed, self.exercise.id, check.name, i)
            try:
                draws = self.extracted(self.call(case, {check.rng_parameter: _rng_argument(rng_seed)}), case)
            except _Fail:
                return
            call = _call_text(check.function, [p for p in self.params if p != check.rng_parameter], case)
            try:
                rejection = check.verdict(draws, case)
            except (ArithmeticError, ValueError, TypeError) as exc:
                self.failure = _Failure(
                    "error",
                    "grader_error",
                    f"internal grader error in check {check.name} "
                    f"({type(exc).__name__}: {exc}); report this to the instructor",
                    case,
                )
                return
            if rejection is not None:
                reason = "invalid_output" if rejection.test == "structure" else "statistical"
                self.failure = _Failure("failed", reason, f"{call}: {rejection.message}", case, hint=rejection.hint)
                return


def _package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("glmm-exercises", "numpy", "scipy", "hypothesis"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _result(check: Check, run: _CheckRun | None, failure: _Failure | None, runtime: float) -> CheckResult:
    examples = run.examples if run is not None else 0
    if failure is None:
        return CheckResult(
            name=check.name,
            function=check.function,
            description=check.description,
            visibility=check.visibility,
            status="passed",
            reason="ok",
            score=float(check.points),
            max_score=float(check.points),
            message=f"passed ({examples} calls)",
            examples=examples,
            runtime=runtime,
        )
    return CheckResult(
        name=check.name,
        function=check.function,
        description=check.description,
        visibility=check.visibility,
        status=failure.status,  # type: ignore[arg-type]
        reason=failure.reason,
        score=0.0,
        max_score=float(check.points),
        message=failure.message,
        hint=failure.hint,
        diagnosis=failure.diagnosis,
        counterexample=to_plain(dict(failure.case)) if failure.case is not None else None,
        expected=to_plain(failure.expected),
        got=to_plain(failure.got),
        examples=examples,
        runtime=runtime,
    )


def _written_answers(exercise: Exercise, sandbox: SandboxLike, load: LoadOutcomeLike) -> tuple[dict[str, str], ...]:
    """Call each written item's function once and keep its text (never scored here)."""
    out = []
    for item in exercise.written:
        entry = {"id": item.id, "function": item.function, "prompt": item.prompt, "status": "missing", "text": ""}
        if item.function in load.functions:
            outcome = sandbox.call(item.function)
            if outcome.status == "unavailable":
                from graders.sandbox import SandboxUnavailable

                raise SandboxUnavailable(outcome.message)
            if outcome.status == "ok" and type(outcome.value) is str:
                text = outcome.value.strip()
                entry["text"] = text[:MAX_WRITTEN_CHARS]
                entry["status"] = "empty" if text in ("", UNANSWERED) else "answered"
            elif outcome.status == "ok":
                entry.update(status="error", text=f"{item.function}() must return a str, not "
                             f"{type(outcome.value).__name__}")
            else:
                entry.update(status="error", text=outcome.message or outcome.status)
        out.append(entry)
    return tuple(out)


def check_submission_path(submission: str | Path) -> Path:
    """The submission as a Path, or :class:`SubmissionNotFoundError` naming what is wrong.

    The file is opened as the sandbox will open it: a symbolic link, a FIFO or device, or a file
    over the size limit is refused (see :mod:`graders.submission_files`).
    """
    from graders.submission_files import read_regular_file

    path = Path(submission)
    if path.suffix not in SUBMISSION_SUFFIXES:
        raise SubmissionNotFoundError(
            f"submission {str(path)!r} is not a .py or .ipynb file; save your work as one"
        )
    read_regular_file(path)
    return path


def grade(
    submission: str | Path,
    exercise: Exercise,
    *,
    mode: Literal["public", "all"] = "public",
    seed: int | None = None,
    max_examples: int = DEFAULT_EXAMPLES,
    student: str | None = None,
    sandbox_factory: SandboxFactory | None = None,
    budget: Any = None,
    data_dir: str | Path | None = None,
    case_cache: CaseCache | None = None,
) -> SubmissionResult:
    """Grade ``submission`` against ``exercise`` and return the results (never raises for student faults).

    ``budget`` (a :class:`graders.sandbox.Budget`) is wall time shared by every exercise of one
    submission; when it runs out the remaining calls fail as timeouts. ``data_dir`` is copied,
    read-only, to ``data/`` next to the submission in the sandbox (the student's data files, at
    the path the starter code reads them from). ``case_cache`` keeps the inputs hypothesis
    generates (:mod:`graders.case_cache`; default: this process's in-memory cache); the results
    are the same with or without it.

    Raises:
        SubmissionNotFoundError: the file is missing, a link, unreadable, or not .py/.ipynb.
        MissingSeedError: ``mode="all"`` without the instructor's ``seed``.
        IsolationUnavailable: ``mode="all"`` where the official sandbox cannot be set up.
        SandboxUnavailable: the sandbox could not be started (the grading machine's problem).
        ValueError: ``mode`` or ``max_examples`` invalid.
    """
    if mode not in ("public", "all"):
        raise ValueError(f"mode must be 'public' or 'all', not {mode!r}")
    if max_examples < 1:
        raise ValueError(f"max_examples must be at least 1, got {max_examples}")
    path = check_submission_path(submission)
    if mode == "all":
        if seed is None:
            raise MissingSeedError(
                "grading hidden checks needs the instructor's seed; pass --seed N or set GLMM_GRADING_SEED"
            )
        grading_seed = seed
        checks = exercise.checks
    else:
        grading_seed = exercise.public_seed if seed is None else seed
        checks = exercise.select(("public",))

    if sandbox_factory is None and mode == "all":
        from graders.sandbox import require_official_isolation

        require_official_isolation()  # fail closed: raises IsolationUnavailable
    factory = sandbox_factory or _default_sandbox
    cache = case_cache if case_cache is not None else default_cache()
    call_seconds = max([exercise.call_seconds, *(c.time_limit for c in checks)])
    started = time.perf_counter()
    results: list[CheckResult] = []
    sandbox = factory(path, exercise.forbidden_imports, call_seconds)
    if budget is not None and hasattr(sandbox, "budget"):
        sandbox.budget = budget  # wall time shared with the submission's other exercises
    if data_dir is not None and hasattr(sandbox, "data_dir"):
        sandbox.data_dir = Path(data_dir)
    try:
        load = sandbox.load()
        isolation = str(sandbox.isolation)
        if load.status != "ok":
            status = _LOAD_STATUS_RESULT.get(load.status, "error")
            hint = None
            if load.status == "empty":
                hint = "Define the functions " + ", ".join(f.name for f in exercise.functions) + " in your file."
            for check in checks:
                # the load message is shown once, at the top of the report; checks only refer to it
                failure = _Failure(status, "load_failed", f"not run: the submission did not load ({load.status}); "
                                   "see the message at the top", None, hint=hint)
                results.append(_result(check, None, failure, 0.0))
        else:
            timed_out: dict[str, str] = {}  # function -> first check in which it timed out
            for check in checks:
                t0 = time.perf_counter()
                run = _CheckRun(exercise, check, sandbox)
                if check.function in timed_out:
                    run.failure = _Failure(
                        "timeout",
                        "timeout",
                        f"not run: {check.function} already exceeded the time limit in check "
                        f"{timed_out[check.function]}; make it finish within {call_seconds:g} s per call",
                        None,
                    )
                elif check.function not in load.functions:
                    run.failure = _Failure(
                        "failed",
                        "missing",
                        f"your submission does not define {check.function}; "
                        f"define it with the signature {check.function}{exercise.function(check.function).signature}",
                        None,
                    )
                else:
                    plain = (check.inputs_key or plain_strategy_text(check.cases)) \
                        if isinstance(check, PropertyCheck) else None
                    check_seed = derive_seed(grading_seed, exercise.id, check.name if plain is None
                                             else "inputs:" + hashlib.sha256(plain.encode()).hexdigest())
                    try:
                        if isinstance(check, PropertyCheck):
                            run.run_property(check_seed, max_examples, cache, plain)
                        else:
                            run.run_statistical(check_seed)
                    except (_Stop, _GraderBug):
                        pass
                    except _Unavailable as exc:
                        from graders.sandbox import SandboxUnavailable

                        raise SandboxUnavailable(str(exc)) from None
                    if run.failure is not None and run.failure.reason == "timeout":
                        timed_out[check.function] = check.name
                results.append(_result(check, run, run.failure, time.perf_counter() - t0))
        written = _written_answers(exercise, sandbox, load) if load.status == "ok" else ()
    finally:
        sandbox.close()
    if load.status != "ok":
        written = tuple({"id": w.id, "function": w.function, "prompt": w.prompt, "status": "missing",
                         "text": ""} for w in exercise.written)

    return SubmissionResult(
        exercise_id=exercise.id,
        exercise_version=exercise.version,
        exercise_title=exercise.title,
        submission=path.name,
        student=student,
        mode=mode,
        seed_ref=seed_reference(grading_seed, exercise.id),
        load_status=load.status,
        load_message=load.message,
        load_warnings=tuple(getattr(load, "warnings", ())),
        hidden_points=float(sum(c.points for c in exercise.checks if c not in checks)),
        written=written,
        isolation=isolation,
        package_versions=_package_versions(),
        checks=tuple(results),
        examples_per_check=max_examples,
        execution_time=time.perf_counter() - started,
    )
