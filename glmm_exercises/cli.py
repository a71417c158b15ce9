"""The `glmm-exercises` command line (instructor side).

`main(argv)` is testable without a subprocess; typed errors become one-line messages and exit
code 2 in exactly one place (`main`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reference.errors import ModelInputError


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glmm-exercises",
        description="Per-student GLMM exercises backed by a reference GLM/GLMM engine.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="fit the lecture notes' beaches models on built-in data and print them")
    demo.add_argument("--seed", type=int, default=2018, help="seed of the simulated beaches data (default 2018)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "demo":
            from glmm_exercises.demo import run_demo

            return run_demo(seed=args.seed)
    except (ModelInputError, OSError) as exc:
        print(f"glmm-exercises: error: {exc}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
