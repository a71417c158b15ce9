"""Benchmark reference.glmm_nb.glmer_nb against lme4::glmer.nb and glmmTMB(family = nbinom2).

Data sets: the five of ``tests/r/glmer_nb_reference.R`` (Salamanders, Owls, grouseticks, epil,
a simulated set; CSVs in ``tests/r/data/nb_*.csv``) and a simulated random-intercept negative
binomial data set with 1e4 rows (500 clusters × 20, k = 2; written to ``benchmarks/out/``).

Ours runs in this process (``laplace="observed"``, glmmTMB's approximation, and ``"fisher"``,
lme4's), best of ``--repeat`` fits; R runs ``tests/r/glmer_nb_bench.R`` once per data set (one
child process, both packages, best of ``--repeat``; R start-up and data loading excluded). Usage::

    .venv/bin/python benchmarks/bench_glmm_nb.py                  # everything (~3 min, mostly R)
    .venv/bin/python benchmarks/bench_glmm_nb.py --skip-r --only sim10000
    .venv/bin/python benchmarks/bench_glmm_nb.py --json benchmarks/out/bench_glmm_nb.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from reference.glmm_nb import glmer_nb  # noqa: E402

R_DIR = ROOT / "tests" / "r"
OUT = ROOT / "benchmarks" / "out"
SIM_SEED = 20261126


@dataclass(frozen=True)
class Case:
    name: str
    csv: Path
    formula: str
    offset: str | None
    factors: dict[str, list[str]]


def stored_cases() -> list[Case]:
    ref = json.loads((R_DIR / "glmer_nb_reference.json").read_text())
    return [
        Case(f["id"], R_DIR / f["data"], f["formula"], f["offset"], {k: list(v) for k, v in f["factors"].items()})
        for f in ref["fits"]
    ]


def sim_case(n: int = 10_000, per: int = 20, k: float = 2.0) -> Case:
    """Random-intercept NB data: y ~ x1 + x2 + (1 | cluster), β = (0.5, 0.3, -0.2), SD 0.6."""
    path = OUT / f"nb_sim_{n}.csv"
    if not path.exists():
        rng = np.random.default_rng(SIM_SEED)
        g = np.repeat(np.arange(n // per), per)
        x1 = np.round(rng.normal(size=g.size), 6)
        x2 = np.round(rng.uniform(size=g.size), 6)
        b = rng.normal(scale=0.6, size=n // per)
        mu = np.exp(0.5 + 0.3 * x1 - 0.2 * x2 + b[g])
        y = rng.negative_binomial(k, k / (k + mu))
        OUT.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"y": y, "x1": x1, "x2": x2, "cluster": [f"c{i}" for i in g]}).to_csv(path, index=False)
    return Case(f"sim{n}", path, "y ~ x1 + x2 + (1 | cluster)", None, {})


def load(case: Case) -> pd.DataFrame:
    frame = pd.read_csv(case.csv)
    for column, levels in case.factors.items():
        frame[column] = pd.Categorical(frame[column].astype(str), categories=levels)
    if not case.factors:
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = pd.Categorical(frame[column])
    return frame


def time_ours(case: Case, laplace: str, repeat: int) -> dict[str, Any]:
    frame = load(case)
    best = float("inf")
    res = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = glmer_nb(case.formula, frame, offset=case.offset, laplace=laplace)
        best = min(best, time.perf_counter() - t0)
    assert res is not None
    return {"elapsed_seconds": best, "loglik": res.loglik, "nb_k": res.nb_k,
            "fixef": dict(zip(res.fixef.index, res.fixef.to_numpy().tolist(), strict=True))}


def time_r(case: Case, repeat: int, timeout: float) -> dict[str, Any] | str:
    exe = shutil.which("Rscript")
    if exe is None:
        return "Rscript not installed"
    factors = ",".join(case.factors) if case.factors else ""
    if not case.factors:
        factors = "cluster"
    argv = [exe, "--vanilla", str(R_DIR / "glmer_nb_bench.R"), str(case.csv), case.formula,
            case.offset or "", str(repeat), factors, "both"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    if done.returncode != 0:
        return "R failed: " + " | ".join(done.stderr.strip().splitlines()[-3:])
    return json.loads(done.stdout)


def fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-r", action="store_true", help="do not run R")
    parser.add_argument("--only", nargs="+", help="case names (salamanders owls grouseticks epil sim sim10000)")
    parser.add_argument("--repeat", type=int, default=1, help="fits per case and tool; the best time is kept")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per R child")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    cases = [*stored_cases(), sim_case()]
    if args.only:
        unknown = set(args.only) - {c.name for c in cases}
        if unknown:
            parser.error(f"unknown case(s) {', '.join(sorted(unknown))}")
        cases = [c for c in cases if c.name in args.only]
    rows = []
    header = (f"{'case':12s} {'n':>6s} {'ours obs s':>10s} {'ours fis s':>10s} {'glmmTMB s':>9s} "
              f"{'glmer.nb s':>10s} {'ll obs-TMB':>11s} {'ll fis-lme4':>11s} {'k obs':>9s} {'k TMB':>9s}")
    print(header)
    for case in cases:
        obs = time_ours(case, "observed", args.repeat)
        fis = time_ours(case, "fisher", args.repeat)
        r = None if args.skip_r else time_r(case, args.repeat, args.timeout)
        tmb = r.get("glmmTMB") if isinstance(r, dict) else None
        lme4 = r.get("lme4") if isinstance(r, dict) else None
        row = {"case": case.name, "nobs": len(load(case)), "ours_observed": obs, "ours_fisher": fis,
               "glmmTMB": tmb, "lme4": lme4, "r_note": r if isinstance(r, str) else None}
        rows.append(row)
        print(f"{case.name:12s} {row['nobs']:6d} {obs['elapsed_seconds']:10.2f} {fis['elapsed_seconds']:10.2f} "
              f"{fmt(tmb and tmb['elapsed_seconds'], '9.2f')} {fmt(lme4 and lme4['elapsed_seconds'], '10.2f')} "
              f"{fmt(tmb and obs['loglik'] - tmb['loglik'], '+11.1e')} "
              f"{fmt(lme4 and fis['loglik'] - lme4['loglik'], '+11.1e')} "
              f"{obs['nb_k']:9.4f} {fmt(tmb and tmb['nb_k'], '9.4f')}", flush=True)
        if isinstance(r, str):
            print(f"  R: {r}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
