"""``glmm-grade``: grade one submission against one exercise and write a report.

Usage::

    glmm-grade SUBMISSION --exercise ID [--student ID] [--seed N] [--public | --all]
               [--format text|md|html|json|gradescope|junit] [-o PATH]
               [--fail-under PCT] [--examples N] [--no-timings]
    glmm-grade SUBMISSION --assignment DIR [--student ID] [same options]
    glmm-grade SUBMISSION                 (in a student's own folder: its assignment.json is used)
    glmm-grade batch SUBMISSIONS_DIR --assignment DIR --out DIR [--jobs N] [--resume] ...  (graders/batch.py)

``--public`` (default) runs the public checks with the exercise's public seed (or ``--seed``);
``--all`` runs every check, public and hidden, with the instructor's seed from ``--seed`` or the
environment variable ``GLMM_GRADING_SEED``. ``--assignment DIR`` grades every exercise of a
student's variant of an assignment written by ``glmm-exercises generate`` (DIR is its output
folder, read with ``--student ID``, or the student's own folder); see
``glmm_exercises.assignment``. With neither ``--exercise`` nor ``--assignment``, the folder holding
the submission is the assignment when it has an ``assignment.json`` (what ``generate`` writes into
every student's folder), so a student runs just ``glmm-grade solution.py``. Exit codes: 0 graded; 1 graded but the score is
below ``--fail-under``; 2 bad usage or unreadable input (one line on stderr says what to do).

All typed exceptions become messages and exit codes in :func:`main` and nowhere else.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from graders.grading_errors import GradingError, MissingSeedError
from graders.parallel import default_jobs
from graders.render import FORMATS, render
from graders.runner import DEFAULT_EXAMPLES, SandboxFactory, grade
from graders.safe_text import one_line
from graders.sandbox import ISOLATION_CHOICES, SandboxError, default_policy, set_isolation

if TYPE_CHECKING:
    from graders.course import CourseLayer

__all__ = ["SEED_ENV", "main"]

#: Environment variable holding the instructor's grading seed for ``--all``.
SEED_ENV = "GLMM_GRADING_SEED"
PROG = "glmm-grade"
#: The file ``glmm-exercises generate`` writes into every student's folder (their variants).
ASSIGNMENT_FILE = "assignment.json"


class UsageError(GradingError):
    """The command line cannot be used as given."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {PROG} --help)")


def _seed(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be >= 0, not {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {value}")
    return value


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage 0-100, not {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected a percentage 0-100, not {value:g}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``glmm-grade``."""
    p = _Parser(
        prog=PROG,
        description="Grade a submission (.py or .ipynb) against an exercise of the GLMM catalogue. "
        f"Students, inside their own folder: {PROG} solution.py (the folder's assignment.json says the "
        f"variant). To grade a whole class: {PROG} batch SUBMISSIONS_DIR --assignment DIR --out DIR "
        f"(see {PROG} batch --help).",
        epilog=f"--all needs the instructor seed: --seed N or the environment variable {SEED_ENV}. "
        "Exit codes: 0 graded, 1 below --fail-under, 2 bad usage or unreadable input.",
    )
    p.add_argument("submission", type=Path, help="the student's .py file or .ipynb notebook")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--exercise", "-e", metavar="ID", help="exercise id, e.g. poisson-marginal")
    target.add_argument(
        "--assignment", type=Path, metavar="DIR",
        help="grade every exercise of a generated assignment (the generate output folder with --student, "
        "or a student's own folder; default: the submission's folder when it holds assignment.json)",
    )
    p.add_argument(
        "--student", metavar="ID",
        help="the student whose variant is graded: with --assignment pointing at the generate output "
        "folder, picks that student's variants from its manifest (required there); with a student's own "
        "folder it is optional (checked against assignment.json); with --exercise it is only written "
        "into the report",
    )
    p.add_argument("--seed", type=_seed, metavar="N", help="grading seed (public seed by default; instructor seed with --all)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--public", dest="mode", action="store_const", const="public", help="public checks only (default)")
    which.add_argument("--all", dest="mode", action="store_const", const="all", help="all checks, hidden included (official grading)")
    p.set_defaults(mode="public")
    p.add_argument("--format", "-f", choices=tuple(FORMATS), default="text", help="report format (default text)")
    p.add_argument("-o", "--output", type=Path, metavar="PATH", help="write the report here instead of stdout")
    p.add_argument("--fail-under", type=_percent, metavar="PCT", help="exit 1 when the score is below PCT percent")
    p.add_argument(
        "--examples", type=_positive_int, default=None, metavar="N",
        help=f"hypothesis examples per property check (default {DEFAULT_EXAMPLES}, or the assignment's setting)",
    )
    p.add_argument(
        "--jobs", "-j", type=_positive_int, default=None, metavar="N",
        help="with an assignment, grade up to N exercises side by side, each in its own sandbox "
        "(default: the cores available, at most 4); the results do not depend on N",
    )
    p.add_argument("--no-timings", action="store_true", help="leave wall-clock times out (reproducible output)")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="text report: also describe the sandbox's isolation and limits in full")
    p.add_argument(
        "--isolation", choices=ISOLATION_CHOICES, default=None,
        help="sandbox strength: auto (default) takes the strongest that works, and for official grading "
        "(--all, --format gradescope) as root requires chroot, stopping with exit 2 when it is unavailable; "
        "name a weaker level (namespaces, setuid, plain) to accept it explicitly (docs/grading.md); "
        "the default comes from $GLMM_ISOLATION when set",
    )
    return p


def _instructor_seed(cli_seed: int | None) -> int:
    if cli_seed is not None:
        return cli_seed
    text = os.environ.get(SEED_ENV)
    if text is None or not text.strip():
        raise MissingSeedError(
            f"--all grades the hidden checks and needs the instructor seed; pass --seed N or set {SEED_ENV}"
        )
    try:
        return _seed(text.strip())
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{SEED_ENV}: {exc}; set it to the instructor's whole-number seed") from None


def _own_folder(submission: Path) -> Path:
    """The student's own folder: the submission's folder when it holds ``assignment.json``."""
    folder = submission.parent
    if (folder / ASSIGNMENT_FILE).is_file():
        return folder
    raise UsageError(
        f"no {ASSIGNMENT_FILE} next to {str(submission)!r}; run glmm-grade inside your student folder "
        "(the one with sheet.html and assignment.json), or pass --exercise ID or --assignment DIR"
    )


def _run(argv: Sequence[str] | None, sandbox_factory: SandboxFactory | None,
         course: CourseLayer | None) -> int:
    from graders.course import course_layer

    args = build_parser().parse_args(argv)
    course = course or course_layer()
    seed = _instructor_seed(args.seed) if args.mode == "all" else args.seed
    if args.mode == "all" and seed < 2**32:
        print(
            f"{PROG}: warning: the instructor seed is small and could be guessed from the seed "
            "reference in reports; use a random 64-bit number",
            file=sys.stderr,
        )
    # The isolation is decided once, before anything runs (fail closed for official grading).
    if sandbox_factory is None:
        set_isolation(args.isolation or default_policy(),
                      official=args.mode == "all" or args.format == "gradescope")
    to_terminal = args.output is None
    colour = (
        args.format == "text" and to_terminal and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    )
    result: Any  # a SubmissionResult, or the course layer's assignment result
    if args.assignment is None and args.exercise is None:
        args.assignment = _own_folder(args.submission)
    if args.assignment is not None:
        assignment = course.load_assignment(args.assignment, args.student)
        result = course.grade_assignment(
            args.submission,
            assignment,
            mode=args.mode,
            seed=seed,
            max_examples=args.examples,
            sandbox_factory=sandbox_factory,
            jobs=args.jobs or default_jobs(),
        )
        text = course.render_assignment(result, args.format, timings=not args.no_timings, colour=colour,
                                        verbose=args.verbose)
    else:
        result = grade(
            args.submission,
            course.get_exercise(args.exercise, hidden=args.mode == "all"),
            mode=args.mode,
            seed=seed,
            max_examples=DEFAULT_EXAMPLES if args.examples is None else args.examples,
            student=args.student,
            sandbox_factory=sandbox_factory,
            data_dir=args.submission.parent / "data",  # the student's data/, when there is one
        )
        text = render(result, args.format, timings=not args.no_timings, colour=colour, verbose=args.verbose)
    if to_terminal:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                f"cannot write the report to {str(args.output)!r} ({exc.strerror}); choose a writable path"
            ) from None
    if args.fail_under is not None and result.percent < args.fail_under:
        return 1
    return 0


def main(argv: Sequence[str] | None = None, *, sandbox_factory: SandboxFactory | None = None,
         course: CourseLayer | None = None) -> int:
    """Entry point of ``glmm-grade``; returns the exit code (0, 1 or 2).

    ``course`` is the course layer (exercises, assignments; :mod:`graders.course`); by default
    the installed one.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["batch"]:  # glmm-grade batch ...: a whole course (graders/batch.py)
        from graders.batch import main as batch_main

        return batch_main(words[1:], course=course)
    try:
        return _run(argv, sandbox_factory, course)
    except (GradingError, SandboxError) as exc:
        print(f"{PROG}: error: {one_line(str(exc), 2000)}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help / --version from argparse
        return int(exc.code or 0) if isinstance(exc.code, int | None) else 2


if __name__ == "__main__":
    raise SystemExit(main())
