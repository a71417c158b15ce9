"""Benchmark reference.inference against lme4 in the same run: profile intervals and a
parametric bootstrap.

Cases (data written by ``tests/r/inference_reference.R`` to ``tests/r/data/inference_*.csv``):

* ``cbpp``: ``glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), binomial)``;
* ``sleepstudy``: ``lmer(Reaction ~ Days + (Days | Subject))`` (REML; profiled on ML as lme4);
* ``grouseticks``: ``glmer(TICKS ~ YEAR + sHEIGHT + (1 | BROOD) + (1 | LOCATION), poisson)``.

For each: ``fit.confint()`` (profile) against lme4's ``confint(fit, method = "profile")``, and
``fit.confint("boot", nsim=N)`` (N refits, percentile intervals) with ``jobs=1`` and ``jobs=2``
against lme4's ``confint(fit, method = "boot", nsim = N)`` (``bootMer``, one process). One run
each (the times are seconds to minutes). R's times exclude its start-up and the model fit; ours
exclude the fit too. The largest relative difference of the profile limits from lme4's is
printed as a check (lme4 interpolates a spline through its profile grid, we solve for the limit).

Usage::

    .venv/bin/python benchmarks/bench_inference.py                  # all cases, nsim 500 (~3-5 min)
    .venv/bin/python benchmarks/bench_inference.py --skip-r --cases sleepstudy --nsim 100
    .venv/bin/python benchmarks/bench_inference.py --json benchmarks/out/bench_inference.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import reference  # noqa: E402

R_DIR = ROOT / "tests" / "r"
R_SCRIPT = R_DIR / "inference_bench.R"
CASES = ("cbpp", "sleepstudy", "grouseticks")


@dataclass
class Row:
    case: str
    nsim: int
    profile_ours: float
    profile_lme4: float | None
    boot_ours_1: float
    boot_ours_2: float
    boot_lme4: float | None
    profile_max_rel_diff: float | None
    note: str = ""


def load_fit(case: str) -> Any:
    ref = json.loads((R_DIR / "inference_reference.json").read_text())[case]
    data = pd.read_csv(R_DIR / ref["data"])
    for column, levels in ref["levels"].items():
        data[column] = pd.Categorical(data[column].astype(str), categories=[str(v) for v in levels])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case == "sleepstudy":
            return reference.lmer(ref["formula"], data)
        if case == "cbpp":
            return reference.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", data, "binomial")
        return reference.glmer(ref["formula"], data, ref["family"])


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def run_lme4(case: str, nsim: int) -> dict[str, Any] | None:
    exe = shutil.which("Rscript")
    if exe is None:
        return None
    done = subprocess.run(
        [exe, "--vanilla", str(R_SCRIPT), case, str(nsim)], capture_output=True, text=True, timeout=3600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"inference_bench.R {case} failed: {done.stderr.strip().splitlines()[-1]}")
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=CASES)
    ap.add_argument("--nsim", type=int, default=500)
    ap.add_argument("--skip-r", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    rows: list[Row] = []
    header = (
        f"{'case':<12}{'profile ours':>13}{'lme4':>8}   {'boot ours j=1':>13}{'j=2':>8}{'lme4':>8}"
        f"   {'profile max rel diff':>20}"
    )
    print(f"seconds; bootstrap nsim = {args.nsim}")
    print(header)
    print("-" * len(header))
    for case in args.cases:
        fit = load_fit(case)
        prof, t_prof = timed(fit.confint)
        _, t_b1 = timed(fit.confint, "boot", nsim=args.nsim, seed=1, jobs=1, progress=False)
        _, t_b2 = timed(fit.confint, "boot", nsim=args.nsim, seed=1, jobs=2, progress=False)
        r = None if args.skip_r else run_lme4(case, args.nsim)
        diff = None
        if r is not None:
            theirs = np.column_stack([r["profile"]["lower"], r["profile"]["upper"]]).astype(float)
            diff = float(np.nanmax(np.abs(prof.to_numpy() - theirs) / np.maximum(np.abs(theirs), 0.1)))
        row = Row(
            case, args.nsim, t_prof, None if r is None else r["profile_seconds"], t_b1, t_b2,
            None if r is None else r["boot_seconds"], diff, "R skipped" if args.skip_r else "",
        )
        rows.append(row)

        def fmt(v: float | None, width: int) -> str:
            return f"{v:{width}.2f}" if v is not None else f"{'n/a':>{width}}"

        diff_txt = f"{diff:20.1e}" if diff is not None else f"{'n/a':>20}"
        print(
            f"{case:<12}{fmt(t_prof, 13)}{fmt(row.profile_lme4, 8)}   {fmt(t_b1, 13)}{fmt(t_b2, 8)}"
            f"{fmt(row.boot_lme4, 8)}   {diff_txt}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
