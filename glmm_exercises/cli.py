"""The `glmm-exercises` command line (instructor side).

Commands: ``demo`` (generate, grade a sample class, the lecture notes' beaches models), ``list``
(the catalogue), ``generate`` (per-student sheets, starter code and data), ``selftest`` (answer
keys and mutants on sampled variants), ``export gradescope`` (an autograder bundle); after a
batch: ``review`` (the local page for manual grading, ``--export``/``--import`` of manual grades),
``gradebook`` (gradebook.csv and summary from all parts) and ``reports`` (students' final reports).
`main(argv)` is testable without a subprocess; typed errors become one-line messages
and exit code 2 in exactly one place (`main`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from reference.errors import ModelInputError

PROG = "glmm-exercises"


class UsageError(ValueError):
    """The command line cannot be used as given."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


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


_INSTRUCTOR_HELP = (
    "instructor material (answer keys, mutants, multiple-choice answers): an instructor/ folder "
    "glmm-exercises generate wrote (default: $GLMM_INSTRUCTOR_DIR, else the source tree of a clone)"
)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Per-student GLMM exercises backed by a reference GLM/GLMM engine.",
        epilog="Exit codes: 0 success, 1 selftest failed, 2 bad usage or input.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    demo = sub.add_parser(
        "demo", help="generate a problem set, grade sample submissions, fit the lecture notes' beaches models"
    )
    demo.add_argument("--seed", type=int, default=2018, help="seed of the simulated beaches data (default 2018)")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), metavar="DIR",
                      help="output folder (default ./demo-output; replaced only if it is a previous demo output)")
    demo.add_argument("--jobs", "-j", type=_positive_int, default=2, metavar="N", help="grading processes (default 2)")

    sub.add_parser("list", help="list the exercise catalogue (id, title, points, functions)")

    gen = sub.add_parser(
        "generate",
        help="write per-student problem sheets, starter code and data, and the instructor folder",
        description="Write OUT/students/<id>/ (sheet.html, sheet.md, solution.py, solution.ipynb, data/) "
        "and OUT/instructor/ (manifest.json, assignment.toml, answer keys, mutants, answers); with --student-dist "
        "also OUT/student-dist/ (the wheel students pip install). Same inputs give byte-identical files.",
    )
    gen.add_argument("--roster", required=True, type=Path, metavar="CSV", help="class roster: student_id[,name,email]")
    gen.add_argument("--seed", required=True, type=_seed, metavar="S", help="course seed (a random 64-bit number)")
    gen.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory (must be new or empty)")
    gen.add_argument("--config", type=Path, metavar="TOML", help="assignment.toml (default: every exercise)")
    gen.add_argument("--force", action="store_true", help="replace a non-empty --out")
    gen.add_argument("--instructor", type=Path, metavar="DIR", help=_INSTRUCTOR_HELP)
    gen.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    dist = gen.add_mutually_exclusive_group()
    dist.add_argument(
        "--student-dist", action="store_true",
        help="also build the wheel students install (no keys, mutants or answers) into OUT/student-dist/ "
        "from this source checkout (takes some seconds)",
    )
    dist.add_argument("--student-wheel", type=Path, metavar="WHL",
                      help="copy this prebuilt glmm_exercises wheel into OUT/student-dist/ instead of building one")

    st = sub.add_parser(
        "selftest",
        help="check every exercise on sampled variants: key 100%%, mutants caught, variants well posed",
    )
    st.add_argument("--config", type=Path, metavar="TOML", help="assignment.toml (default: every exercise)")
    st.add_argument("--exercise", "-e", action="append", metavar="ID", help="only this exercise (repeatable)")
    st.add_argument("--variants", type=_positive_int, default=3, metavar="N", help="variants per exercise (default 3)")
    st.add_argument("--examples", type=_positive_int, default=25, metavar="N", help="examples per property check (default 25)")
    st.add_argument("--seed", type=_seed, default=None, metavar="S", help="seed of the sampled variants")
    st.add_argument("--jobs", "-j", type=_positive_int, default=1, metavar="N", help="parallel worker processes (default 1)")
    st.add_argument("--instructor", type=Path, metavar="DIR", help=_INSTRUCTOR_HELP)
    st.add_argument(
        "--in-process", action="store_true",
        help="run keys and mutants in this process instead of the sandbox (faster; skips the sandbox transport)",
    )
    export = sub.add_parser("export", help="package an assignment for an autograding platform")
    export_sub = export.add_subparsers(dest="target", metavar="TARGET", parser_class=_Parser, required=True)
    gs = export_sub.add_parser(
        "gradescope",
        help="Gradescope autograder zip (setup.sh, run_autograder, this package's wheel, variants, seed)",
        description="Build a Gradescope autograder zip; see docs/batch.md. The grading seed comes from --seed "
        "or GLMM_GRADING_SEED.",
    )
    gs.add_argument("--assignment", required=True, type=Path, metavar="DIR", help="the folder glmm-exercises generate wrote")
    gs.add_argument("-o", "--output", type=Path, default=Path("autograder.zip"), metavar="ZIP",
                    help="where to write the zip (default autograder.zip)")
    gs.add_argument("--seed", type=_seed, metavar="N", help="instructor grading seed (else GLMM_GRADING_SEED)")
    gs.add_argument("--wheel", type=Path, metavar="PATH", help="a prebuilt glmm-exercises wheel (default: build one)")
    gs.add_argument("--examples", type=_positive_int, metavar="N", help="examples per property check (default: the assignment's)")
    _review_parsers(sub)
    return parser


def _grading_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grading", required=True, type=Path, metavar="DIR", help="the --out folder of glmm-grade batch")
    p.add_argument("--assignment", type=Path, metavar="DIR",
                   help="the folder glmm-exercises generate wrote (default: the one the batch recorded)")
    p.add_argument("--config", type=Path, metavar="TOML",
                   help="assignment.toml with the rubric and late policy (default: ASSIGNMENT/instructor/assignment.toml)")
    p.add_argument("--roster", type=Path, metavar="CSV",
                   help="roster whose extension column to use (default: the roster the assignment was generated from)")


def _review_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rv = sub.add_parser(
        "review", help="grade written answers by hand in a local web page (docs/review.md)",
        description="Serve the review page on 127.0.0.1 (the URL with its access token is printed), or move "
        "manual grades to (--export) or from (--import) a CSV file.",
    )
    _grading_options(rv)
    rv.add_argument("--port", type=int, default=0, metavar="N", help="port to listen on (default: a free one)")
    io_group = rv.add_mutually_exclusive_group()
    io_group.add_argument("--export", type=Path, metavar="CSV", help="write the manual grades to CSV and exit")
    io_group.add_argument("--import", dest="import_", type=Path, metavar="CSV",
                          help="record the manual grades of CSV (as --export writes it) and exit")
    gb = sub.add_parser(
        "gradebook", help="rebuild gradebook.csv and the summary from autograded scores, manual grades, "
        "overrides and late penalties",
    )
    _grading_options(gb)
    rp = sub.add_parser("reports", help="write each student's final report (DIR/final/<id>.html)")
    _grading_options(rp)


def _review(args: argparse.Namespace) -> int:
    from glmm_exercises.review.folder import GradingFolder

    folder = GradingFolder(args.grading, assignment=args.assignment, config=args.config, roster=args.roster)
    if args.command == "review":
        if args.export is not None:
            from glmm_exercises.review.manual_csv import export_manual

            print(f"wrote {export_manual(folder, args.export)} manual grades to {args.export}")
            return 0
        if args.import_ is not None:
            from glmm_exercises.review.manual_csv import import_manual

            recorded, same = import_manual(folder, args.import_)
            print(f"recorded {recorded} manual grades from {args.import_} ({same} unchanged); "
                  f"run {PROG} gradebook --grading {args.grading} to update gradebook.csv")
            return 0
        if not 0 <= args.port <= 65535:
            raise UsageError(f"--port must be from 0 to 65535, not {args.port}")
        from glmm_exercises.review.folder import read_overrides, sync_overrides
        from glmm_exercises.review.server import serve

        sync_overrides(folder, folder.store(), read_overrides(folder))  # the page shows overrides.csv too
        return serve(folder, args.port)
    from glmm_exercises.review.final import rebuild

    finals = rebuild(folder, reports=args.command == "reports")
    pending = sum(len(f.ungraded_items()) for f in finals if f.graded)
    what = f"final reports in {folder.dir / 'final'}, " if args.command == "reports" else ""
    print(f"wrote {what}{folder.dir / 'gradebook.csv'} and {folder.dir / 'summary.html'} ({len(finals)} students"
          + (f"; {pending} manual grades still missing" if pending else "") + ")")
    return 0


def _export(args: argparse.Namespace) -> int:
    import os

    from glmm_exercises.export import export_gradescope

    seed = args.seed
    if seed is None:
        text = os.environ.get("GLMM_GRADING_SEED", "").strip()
        if not text:
            raise UsageError("the bundle needs the instructor grading seed; pass --seed N or set GLMM_GRADING_SEED")
        try:
            seed = _seed(text)
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"GLMM_GRADING_SEED: {exc}") from None
    info = export_gradescope(args.assignment, args.output, seed=seed, wheel=args.wheel, examples=args.examples)
    print(
        f"wrote {info.path} ({info.students} students, exercises {', '.join(info.exercises)}, {info.wheel}); "
        "upload it as the Gradescope autograder (Ubuntu base image)"
    )
    return 0


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _list() -> int:
    from glmm_exercises.catalogue import exercise_ids
    from glmm_exercises.variants import build_exercise

    rows = []
    for eid in exercise_ids():
        ex = build_exercise(eid)
        rows.append((eid, ex.title, f"{ex.max_score:g}", ", ".join(f.name for f in ex.functions)))
    header = ("id", "title", "points", "functions to implement")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _config(path: Path | None):  # type: ignore[no-untyped-def]
    from glmm_exercises.config import default_config, load_config

    return load_config(path) if path is not None else default_config()


def _generate(args: argparse.Namespace) -> int:
    from glmm_exercises.atomic import check_destination
    from glmm_exercises.generate import generate
    from glmm_exercises.roster import read_roster

    roster = read_roster(args.roster)
    config = _config(args.config)
    check_destination(args.out, force=args.force)
    t0 = time.perf_counter()
    summary = generate(
        roster, args.seed, args.out, config=config, force=args.force, instructor=args.instructor,
        progress=None if args.quiet else _progress,
        student_dist=args.student_wheel if args.student_wheel is not None else args.student_dist,
    )
    print(
        f"wrote {summary.files} files for {summary.students} students and "
        f"{len(summary.exercises)} exercises ({', '.join(summary.exercises)}) to {summary.out} "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    return 0


def _selftest(args: argparse.Namespace) -> int:
    from glmm_exercises.catalogue import exercise_ids
    from glmm_exercises.selftest import DEFAULT_SEED, format_table, run_selftest

    config = _config(args.config)
    if args.exercise:
        for eid in args.exercise:
            if eid not in config.exercise_ids:
                raise UsageError(
                    f"--exercise {eid!r} is not among the configured exercises; choose from "
                    f"{', '.join(config.exercise_ids if args.config else exercise_ids())}"
                )
    reports = run_selftest(
        variants=args.variants,
        seed=DEFAULT_SEED if args.seed is None else args.seed,
        examples=args.examples,
        config=config,
        exercises=args.exercise,
        jobs=args.jobs,
        in_process=args.in_process,
        instructor=args.instructor,
        progress=_progress,
    )
    print(format_table(reports), end="")
    return 0 if all(r.ok for r in reports) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``glmm-exercises``; returns the exit code."""
    from glmm_exercises.atomic import OutputExistsError
    from glmm_exercises.config import ConfigError
    from glmm_exercises.demo import DemoOutputError
    from glmm_exercises.export import ExportError
    from glmm_exercises.review.folder import ReviewError
    from glmm_exercises.review.late import SubmissionTimeError
    from glmm_exercises.roster import RosterError
    from glmm_exercises.variants import ProtocolError
    from graders.grading_errors import GradingError

    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        if args.command == "demo":
            from glmm_exercises.demo import run_demo

            return run_demo(seed=args.seed, output_dir=args.out, jobs=args.jobs)
        if args.command == "list":
            return _list()
        if args.command == "generate":
            return _generate(args)
        if args.command == "selftest":
            return _selftest(args)
        if args.command == "export":
            return _export(args)
        if args.command in ("review", "gradebook", "reports"):
            return _review(args)
        raise UsageError(f"unknown command {args.command!r}")
    except (
        UsageError, RosterError, ConfigError, OutputExistsError, GradingError, ProtocolError, ModelInputError, OSError,
        DemoOutputError, ExportError, ReviewError, SubmissionTimeError,
    ) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help from argparse
        return int(exc.code or 0) if isinstance(exc.code, int | None) else 2


if __name__ == "__main__":
    raise SystemExit(main())
