"""Declarations of exercises and their checks (no execution here; see ``graders.runner``).

An :class:`Exercise` names the functions a student implements (:class:`FunctionSpec`) and the
checks that grade them. Two kinds of check exist:

* :class:`PropertyCheck` -- hypothesis generates argument sets (``cases``, a strategy of
  ``dict[parameter name, value]``); each set is sent to the student's function in the sandbox and
  the reply is compared with the ``oracle`` (a trusted function, normally a thin call into
  ``reference``) under a :class:`~graders.compare.Comparison`. On failure the shrunk smallest
  failing arguments are reported with expected and got values. ``diagnoses`` recognise classic
  mistakes: each holds the value a known-wrong formula would give (expressed through the
  reference, never a second copy of the correct formula) and the hint to show when the student's
  value matches it.
* :class:`StatisticalCheck` -- for functions that draw random numbers. The student's function is
  called with fixed argument sets plus a seeded generator (``graders.sandbox.RngSeed``) and its
  draws are tested against the reference distribution by sub-tests returning p-values. The check
  declares ``alpha``, the largest false-fail probability for a correct solution, and every sub-test
  is run at the Bonferroni level ``alpha / (number of sub-tests x number of cases)``.

Visibility: ``"public"`` checks run when students check locally (with the exercise's public seed)
and their counterexamples are shown; ``"hidden"`` checks only run in official grading with the
instructor's seed.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from hypothesis import strategies as st

from graders.compare import Comparison

__all__ = [
    "Check",
    "Diagnosis",
    "Exercise",
    "ExerciseDefinitionError",
    "FunctionSpec",
    "PropertyCheck",
    "Rejection",
    "StatisticalCheck",
    "SubTest",
    "Visibility",
    "WrittenItem",
]

Visibility = Literal["public", "hidden"]
Oracle = Callable[..., Any]
#: Turns the student's return value into the value a check judges (e.g. one entry of a returned
#: dict, or the columns of a returned DataFrame). It raises ``ValueError``, ``TypeError`` or
#: ``KeyError`` with a one-line message for the student when the value has the wrong structure.
Extract = Callable[[Any], Any]


class ExerciseDefinitionError(ValueError):
    """An exercise or check declaration is inconsistent (a catalogue bug, not a student error)."""


@dataclass(frozen=True)
class FunctionSpec:
    """A function the student implements: its name, parameter names, and docstring.

    ``signature`` is the text after the name, e.g. ``"(x, beta0, beta1, tau2)"``; arguments are
    always passed positionally in the order of ``parameters``, so students may rename nothing
    but may add defaults.
    """

    name: str
    signature: str
    docstring: str

    @property
    def parameters(self) -> tuple[str, ...]:
        """Parameter names parsed from ``signature``."""
        tree = ast.parse(f"def _f{self.signature}: pass")
        fn = tree.body[0]
        assert isinstance(fn, ast.FunctionDef)
        args = fn.args
        return tuple(a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs))

    def stub(self) -> str:
        """Source of an unfilled stub (raises ``NotImplementedError``), for starter files."""
        doc = self.docstring.strip().replace('"""', "'''")
        return (
            f"def {self.name}{self.signature}:\n"
            f'    """{doc}\n    """\n'
            f'    raise NotImplementedError("{self.name} is not implemented yet")\n'
        )


@dataclass(frozen=True)
class WrittenItem:
    """A question answered in words and graded by hand (the instructor's review).

    The student answers in ``function``, a function without parameters that returns the text
    (``def explain_se_choice(): return "..."``), in a ``.py`` file or a notebook alike.  The
    grader calls it once, in the sandbox, and keeps the text (at most :data:`MAX_WRITTEN_CHARS`
    characters) in the results; it is never scored automatically.
    """

    id: str
    function: str
    prompt: str

    def stub(self) -> str:
        """Source of the unanswered starter function."""
        doc = " ".join(self.prompt.split()).replace('"""', "'''")
        return (
            f"def {self.function}():\n"
            f'    """Written answer (graded by hand): {doc}\n    """\n'
            f'    return """\n    {UNANSWERED}\n    """\n'
        )


#: Longest written answer kept (characters); a longer one is cut with a note.
MAX_WRITTEN_CHARS = 10_000
#: The text of an unanswered starter stub (an answer equal to it counts as empty).
UNANSWERED = "Your answer here, in a few sentences."


@dataclass(frozen=True)
class Diagnosis:
    """A recognisable mistake: ``wrong`` computes what the mistaken formula returns for a case."""

    name: str
    wrong: Oracle
    hint: str


def _check_common(
    name: str, points: float, visibility: str, time_limit: float, hint: str
) -> None:
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ExerciseDefinitionError(
            f"check name {name!r} must be non-empty letters, digits, '_' or '-'"
        )
    if points <= 0:
        raise ExerciseDefinitionError(f"check {name!r}: points must be positive, got {points}")
    if visibility not in ("public", "hidden"):
        raise ExerciseDefinitionError(
            f"check {name!r}: visibility must be 'public' or 'hidden', got {visibility!r}"
        )
    if time_limit <= 0:
        raise ExerciseDefinitionError(f"check {name!r}: time_limit must be positive seconds")
    if not hint.strip():
        raise ExerciseDefinitionError(f"check {name!r}: give a hint naming the likely mistake")


@dataclass(frozen=True)
class PropertyCheck:
    """A property-based check of one student function against an oracle.

    ``cases`` is a hypothesis strategy producing ``dict[parameter, value]`` (all parameters of
    the function). ``oracle(**case)`` returns the expected value. ``max_examples`` overrides the
    grading run's default when set (e.g. for a check with a tiny input space). ``extract``, when
    set, maps the student's value to the part that is compared (and diagnosed); a structural
    problem it reports fails the check as invalid output.

    ``inputs_key``, when set, is a text that determines ``cases`` completely -- the author's
    promise, for a strategy whose ``repr`` is complete but not recognisably so (a module-level
    composite using only its arguments, e.g. ``repr(strategy)``). Checks of an exercise with the
    same key share their seed and their generated inputs, and students whose variants give the
    same key share the cached inputs (``graders.case_cache``). Without it, that holds only for
    plain value strategies (:func:`graders.case_cache.plain_strategy_text`).
    """

    name: str
    function: str
    description: str
    points: float
    visibility: Visibility
    cases: st.SearchStrategy[dict[str, Any]]
    oracle: Oracle
    comparison: Comparison
    hint: str
    diagnoses: tuple[Diagnosis, ...] = ()
    time_limit: float = 5.0
    max_examples: int | None = None
    extract: Extract | None = None
    inputs_key: str | None = None

    kind: Literal["property"] = field(default="property", init=False)

    def __post_init__(self) -> None:
        _check_common(self.name, self.points, self.visibility, self.time_limit, self.hint)
        if not isinstance(self.cases, st.SearchStrategy):
            raise ExerciseDefinitionError(
                f"check {self.name!r}: cases must be a hypothesis strategy of argument dicts"
            )


@dataclass(frozen=True)
class SubTest:
    """One statistical test: ``p_value(draws, case)`` for the draws of one call with ``case``."""

    name: str
    p_value: Callable[[np.ndarray, Mapping[str, Any]], float]
    hint: str


@dataclass(frozen=True)
class StatisticalCheck:
    """A check of a random-number-drawing function against the reference distribution.

    For every argument set in ``cases`` the student's function is called once with the case's
    arguments and ``rng`` (a seeded generator, derived from the grading seed) passed as the
    parameter named ``rng_parameter``; ``validate(draws, case)`` returns a message when the
    draws have the wrong structure (shape, dtype, support) or ``None``; then each sub-test's
    p-value is compared with ``alpha / (len(subtests) * len(cases))``. A correct solution fails
    the check with probability at most ``alpha`` (Bonferroni). ``extract``, when set, maps the
    student's value to the draws before ``validate`` (a structural problem it reports fails the
    check as invalid output).
    """

    name: str
    function: str
    description: str
    points: float
    visibility: Visibility
    cases: tuple[Mapping[str, Any], ...]
    subtests: tuple[SubTest, ...]
    validate: Callable[[object, Mapping[str, Any]], str | None]
    hint: str
    alpha: float = 1e-6
    rng_parameter: str = "rng"
    time_limit: float = 10.0
    extract: Extract | None = None

    kind: Literal["statistical"] = field(default="statistical", init=False)

    def __post_init__(self) -> None:
        _check_common(self.name, self.points, self.visibility, self.time_limit, self.hint)
        if not 0 < self.alpha < 0.5:
            raise ExerciseDefinitionError(
                f"check {self.name!r}: alpha must be in (0, 0.5), got {self.alpha}"
            )
        if not self.cases or not self.subtests:
            raise ExerciseDefinitionError(
                f"check {self.name!r}: a statistical check needs at least one case and one sub-test"
            )

    @property
    def level(self) -> float:
        """Per-sub-test significance level after the Bonferroni correction."""
        return self.alpha / (len(self.subtests) * len(self.cases))

    def verdict(self, draws: object, case: Mapping[str, Any]) -> Rejection | None:
        """Judge the draws of one case: ``None`` if they pass, else the first :class:`Rejection`.

        Exceptions raised by a sub-test propagate (they are grader bugs, not student errors).
        """
        problem = self.validate(draws, case)
        if problem is not None:
            return Rejection("structure", problem, self.hint)
        arr = np.asarray(draws, dtype=np.float64)
        for sub in self.subtests:
            p = float(sub.p_value(arr, case))
            if not p >= self.level:  # NaN p-values reject too
                return Rejection(
                    sub.name,
                    f"the draws fail the {sub.name} test (p = {p:.3g} < {self.level:.3g}; "
                    f"a correct solution fails this check with probability at most {self.alpha:g})",
                    sub.hint,
                )
        return None


@dataclass(frozen=True)
class Rejection:
    """Why a statistical check rejected one case's draws (``test`` is ``"structure"`` or a sub-test)."""

    test: str
    message: str
    hint: str


Check = PropertyCheck | StatisticalCheck


@dataclass(frozen=True)
class Exercise:
    """An exercise: the functions to implement, the checks, and the grading defaults.

    ``public_seed`` is known to students (it drives the public checks when they check locally);
    the hidden checks always need the instructor's seed. ``version`` must change whenever a
    check's cases, oracle or points change, so reports say which grading rules applied.
    """

    id: str
    version: str
    title: str
    functions: tuple[FunctionSpec, ...]
    checks: tuple[Check, ...]
    public_seed: int
    forbidden_imports: tuple[str, ...] = ("reference", "graders", "glmm_exercises")
    call_seconds: float = 5.0
    written: tuple[WrittenItem, ...] = ()
    #: fingerprint of the variant's parameters ("" when unknown): inputs of a check whose
    #: strategy text does not show everything it depends on are cached under it
    #: (``graders.case_cache``), so they are shared by the key and mutants of one variant only
    variant: str = ""

    def __post_init__(self) -> None:
        names = [c.name for c in self.checks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ExerciseDefinitionError(f"exercise {self.id!r}: duplicate check names {dupes}")
        known = {f.name: f for f in self.functions}
        taken = set(known)
        for item in self.written:
            if item.function in taken or not item.function.isidentifier():
                raise ExerciseDefinitionError(
                    f"exercise {self.id!r}: written item {item.id!r} needs a function name of its own, "
                    f"not {item.function!r}")
            taken.add(item.function)
        for check in self.checks:
            if check.function not in known:
                raise ExerciseDefinitionError(
                    f"exercise {self.id!r}: check {check.name!r} targets unknown function "
                    f"{check.function!r}; declare it in functions"
                )
            if isinstance(check, StatisticalCheck):
                params = known[check.function].parameters
                if check.rng_parameter not in params:
                    raise ExerciseDefinitionError(
                        f"check {check.name!r}: {check.function} has no parameter "
                        f"{check.rng_parameter!r} to receive the generator"
                    )

    def function(self, name: str) -> FunctionSpec:
        """The :class:`FunctionSpec` called ``name``."""
        for spec in self.functions:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def select(self, visibilities: Sequence[str]) -> tuple[Check, ...]:
        """Checks whose visibility is in ``visibilities``, in declaration order."""
        return tuple(c for c in self.checks if c.visibility in visibilities)

    @property
    def max_score(self) -> float:
        """Total points of all checks."""
        return float(sum(c.points for c in self.checks))
