"""Benchmark reference.lmm.lmer against lme4::lmer in the same run.

Problems (simulated data are written to benchmarks/out/ as CSV, so R fits the same numbers):

* ``sleepstudy``: ``Reaction ~ Days + (Days | Subject)`` (180 rows), REML and ML;
* ``slope_N``: one grouping factor with a correlated random slope, 20 rows per cluster,
  ``y ~ x1 + x2 + (1 + x1 | g)``, N = 1e3, 1e4, 1e5 rows (REML);
* ``crossed_N``: two crossed factors, ``y ~ x1 + (1 | a) + (1 | b)`` with 500 and 40 levels,
  N = 1e4 and 1e5 rows (REML).

Our time is the whole ``lmer`` call (formula parsing and design included), the best of
``--repeat`` runs in this process after one warm-up call; lme4's is the best of as many runs
inside one Rscript process (``tests/r/lmer_bench.R``; R start-up and CSV reading excluded).
The log-likelihoods of both are printed: ours must be at least lme4's (up to 1e-6).

Usage::

    .venv/bin/python benchmarks/bench_lmm.py                    # everything (~1-2 minutes)
    .venv/bin/python benchmarks/bench_lmm.py --skip-r --repeat 3
    .venv/bin/python benchmarks/bench_lmm.py --json benchmarks/out/bench_lmm.json
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

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from reference.lmm import lmer  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
R_SCRIPT = ROOT / "tests" / "r" / "lmer_bench.R"
SEED = 20261126


@dataclass
class Case:
    name: str
    csv: Path
    formula: str
    reml: bool
    factors: tuple[str, ...]
    nobs: int


@dataclass
class Row:
    name: str
    nobs: int
    reml: bool
    ours_seconds: float
    lme4_seconds: float | None
    ours_loglik: float
    lme4_loglik: float | None
    structure: str
    note: str = ""


def _slope_data(n: int, rng: np.random.Generator) -> pd.DataFrame:
    ng = n // 20
    g = np.repeat(np.arange(ng), 20)
    x1 = rng.normal(size=n)
    x2 = rng.uniform(size=n)
    b0 = rng.normal(scale=0.6, size=ng)
    b1 = 0.3 * b0 + rng.normal(scale=0.25, size=ng)
    y = 0.5 + 0.3 * x1 - 0.2 * x2 + b0[g] + b1[g] * x1 + rng.normal(scale=0.8, size=n)
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2, "g": [f"g{v}" for v in g]})


def _crossed_data(n: int, rng: np.random.Generator, na: int = 500, nb: int = 40) -> pd.DataFrame:
    a = rng.integers(0, na, n)
    b = rng.integers(0, nb, n)
    x1 = rng.normal(size=n)
    y = 1.0 + 0.4 * x1 + rng.normal(scale=0.7, size=na)[a] + rng.normal(scale=0.5, size=nb)[b]
    y = y + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x1": x1, "a": [f"a{v}" for v in a], "b": [f"b{v}" for v in b]})


def make_cases(sizes: list[int], crossed_sizes: list[int]) -> list[Case]:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    sleep = ROOT / "tests" / "r" / "data" / "lmer_sleepstudy.csv"
    cases = [
        Case("sleepstudy", sleep, "Reaction ~ Days + (Days | Subject)", True, ("Subject",), 180),
        Case("sleepstudy", sleep, "Reaction ~ Days + (Days | Subject)", False, ("Subject",), 180),
    ]
    for n in sizes:
        path = OUT / f"lmm_slope_{n}.csv"
        _slope_data(n, rng).to_csv(path, index=False, float_format="%.17g")
        cases.append(Case(f"slope_{n}", path, "y ~ x1 + x2 + (1 + x1 | g)", True, ("g",), n))
    for n in crossed_sizes:
        path = OUT / f"lmm_crossed_{n}.csv"
        _crossed_data(n, rng).to_csv(path, index=False, float_format="%.17g")
        cases.append(Case(f"crossed_{n}", path, "y ~ x1 + (1 | a) + (1 | b)", True, ("a", "b"), n))
    return cases


def time_ours(case: Case, repeat: int) -> tuple[float, float, str]:
    data = pd.read_csv(case.csv)
    for c in case.factors:
        data[c] = data[c].astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmer(case.formula, data, REML=case.reml)  # warm-up (imports, caches)
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            fit = lmer(case.formula, data, REML=case.reml)
            best = min(best, time.perf_counter() - t0)
    return best, fit.loglik, str(fit.optinfo["structure"])


def time_lme4(case: Case, repeat: int) -> tuple[float | None, float | None, str]:
    exe = shutil.which("Rscript")
    if exe is None:
        return None, None, "Rscript not found"
    done = subprocess.run(
        [exe, "--vanilla", str(R_SCRIPT), str(case.csv), case.formula, str(case.reml).upper(), str(repeat),
         ",".join(case.factors)],
        capture_output=True, text=True, timeout=1800, check=False,
    )
    if done.returncode != 0:
        return None, None, "lme4 failed: " + done.stderr.strip().splitlines()[-1]
    out = json.loads(done.stdout)
    return float(out["elapsed_seconds"]), float(out["loglik"]), ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="*", type=float, default=[1e3, 1e4, 1e5])
    ap.add_argument("--crossed", nargs="*", type=float, default=[1e4, 1e5])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-r", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    cases = make_cases([int(s) for s in args.sizes], [int(s) for s in args.crossed])
    rows: list[Row] = []
    header = f"{'case':<16}{'n':>8} {'crit':<5}{'ours [s]':>10}{'lme4 [s]':>10}{'speed-up':>9}  {'logLik ours':>14}{'lme4':>14}  structure"
    print(header)
    print("-" * len(header))
    for case in cases:
        ours, ll, structure = time_ours(case, args.repeat)
        r_t, r_ll, note = (None, None, "skipped") if args.skip_r else time_lme4(case, args.repeat)
        row = Row(case.name, case.nobs, case.reml, ours, r_t, ll, r_ll, structure, note)
        rows.append(row)
        speed = f"{r_t / ours:8.1f}x" if r_t else "     n/a"
        r_txt = f"{r_t:10.4f}" if r_t is not None else "       n/a"
        rl_txt = f"{r_ll:14.4f}" if r_ll is not None else "           n/a"
        print(f"{case.name:<16}{case.nobs:>8} {'REML' if case.reml else 'ML':<5}{ours:10.4f}{r_txt}{speed}  {ll:14.4f}{rl_txt}  {structure} {note}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
