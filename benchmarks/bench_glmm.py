"""Benchmark reference.glmer against lme4::glmer on simulated GLMM data.

Data sets (written to benchmarks/out/ as CSV, simulated with reference.simulate):

* random-intercept Poisson (log link) and Bernoulli (logit link) models with three fixed
  effects (intercept, x1, x2), 20 rows per cluster, N = 1e3, 1e4, 1e5, 1e6 rows:
  ``y ~ x1 + x2 + (1 | cluster)``;
* a random-slope Poisson model at N = 1e5: ``y ~ x1 + x2 + (1 + x1 | cluster)``;
* several random-effects terms (``--no-multi`` skips them): the stored data sets
  grouseticks with an observation-level effect (Poisson,
  ``TICKS ~ YEAR + sHEIGHT + (1|BROOD) + (1|INDEX) + (1|LOCATION)``) and VerbAgg with crossed
  subjects and items (binomial, ``r2y ~ Anger + Gender + btype + situ + (1|id) + (1|item)``),
  and simulated designs at ``--multi-sizes`` rows (default 1e4, 1e5): two crossed factors with
  500 and 50 levels (Bernoulli, ``y ~ x1 + x2 + (1|a) + (1|b)``) and classes nested in schools
  (50 schools × 10 classes, Poisson, ``y ~ x1 + x2 + (1|school/class)``).

Every fit runs in its own child process (Python for reference.glmer, Rscript for lme4), so
peak memory is the child's own maximum resident set size (``os.wait4`` rusage), not a running
maximum over all fits. The reported time is the fit alone (data loading excluded), the best of
``--repeat`` runs inside the same child. Usage::

    .venv/bin/python benchmarks/bench_glmm.py                 # everything (the 1e6 fits take minutes)
    .venv/bin/python benchmarks/bench_glmm.py --sizes 1e3 1e4 --skip-r
    .venv/bin/python benchmarks/bench_glmm.py --json results.json

lme4 is used when ``Rscript`` is on PATH and ``library(lme4)`` loads; otherwise its columns
read "n/a" and the reason is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported lazily (the parent process stays small)
    import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "benchmarks" / "out"
ROWS_PER_CLUSTER = 20
DEFAULT_SIZES = (1_000, 10_000, 100_000, 1_000_000)
MULTI_SIZES = (10_000, 100_000)
R_DATA = ROOT / "tests" / "r" / "data"
CROSSED_LEVELS = (500, 50)
CROSSED_SD = (0.6, 0.4)
NESTED_LEVELS = (50, 10)  # schools, classes per school
NESTED_SD = (0.5, 0.3)
SLOPE_SIZE = 100_000
DEFAULT_SEED = 20261125
BETA = {"poisson": (0.5, 0.3, -0.2), "binomial": (-0.5, 0.8, -0.4)}
TAU0 = 0.6
SLOPE_Q = ((0.6**2, 0.3 * 0.6 * 0.25), (0.3 * 0.6 * 0.25, 0.25**2))


@dataclass(frozen=True)
class Case:
    """One benchmark problem: a CSV file and the model to fit on it."""

    name: str
    family: str  # "poisson" or "binomial"
    n: int
    formula: str
    csv: Path
    factors: tuple[str, ...] = ("cluster",)  # columns read as factors (grouping and categorical)


@dataclass
class FitResult:
    """Outcome of one fit in a child process (failures are data, not exceptions)."""

    ok: bool
    seconds: float | None = None
    loglik: float | None = None
    peak_mb: float | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------- data sets


def make_cases(sizes: list[int], *, slope: bool, seed: int = DEFAULT_SEED) -> list[Case]:
    """The benchmark problems; CSV names carry the seed when it is not the default one."""
    tag = "" if seed == DEFAULT_SEED else f"_seed{seed}"
    cases = []
    for family in ("poisson", "binomial"):
        for n in sizes:
            cases.append(
                Case(f"{family}-RI", family, n, "y ~ x1 + x2 + (1 | cluster)", OUT / f"glmm_{family}_ri_{n}{tag}.csv")
            )
    if slope:
        cases.append(
            Case(
                "poisson-RS",
                "poisson",
                SLOPE_SIZE,
                "y ~ x1 + x2 + (1 + x1 | cluster)",
                OUT / f"glmm_poisson_rs_{SLOPE_SIZE}{tag}.csv",
            )
        )
    return cases


def make_multi_cases(sizes: list[int], *, seed: int = DEFAULT_SEED) -> list[Case]:
    """Models with several random-effects terms: two stored data sets, then simulated ones."""
    tag = "" if seed == DEFAULT_SEED else f"_seed{seed}"
    cases = [
        Case(
            "grouse-obs", "poisson", 403, "TICKS ~ YEAR + sHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
            R_DATA / "grouseticks.csv", ("INDEX", "BROOD", "YEAR", "LOCATION"),
        ),
        Case(
            "verbagg-x", "binomial", 7584, "r2y ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
            R_DATA / "verbagg.csv", ("id", "item", "Gender", "btype", "situ"),
        ),
    ]
    for n in sizes:
        cases.append(
            Case("crossed", "binomial", n, "y ~ x1 + x2 + (1 | a) + (1 | b)", OUT / f"glmm_crossed_{n}{tag}.csv", ("a", "b"))
        )
        cases.append(
            Case(
                "nested", "poisson", n, "y ~ x1 + x2 + (1 | school/class)", OUT / f"glmm_nested_{n}{tag}.csv",
                ("school", "class"),
            )
        )
    return cases


def simulate_multi(case: Case, seed: int) -> pd.DataFrame:
    """Crossed (a × b) or nested (class in school) random intercepts, uniform over levels."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(np.random.SeedSequence([seed, case.n, 7 if case.name == "crossed" else 8]))
    n = case.n
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    if case.name == "crossed":
        (la, lb), (sa, sb) = CROSSED_LEVELS, CROSSED_SD
        a, b = rng.integers(0, la, n), rng.integers(0, lb, n)
        eta = -0.3 + 0.5 * x1 - 0.3 * x2 + rng.normal(0, sa, la)[a] + rng.normal(0, sb, lb)[b]
        y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
        groups = {"a": [f"a{i}" for i in a], "b": [f"b{i}" for i in b]}
    else:
        (ls, per), (ss, sc) = NESTED_LEVELS, NESTED_SD
        school, cls = rng.integers(0, ls, n), rng.integers(0, per, n)
        eta = 0.4 + 0.3 * x1 - 0.2 * x2 + rng.normal(0, ss, ls)[school] + rng.normal(0, sc, ls * per)[school * per + cls]
        y = rng.poisson(np.exp(eta))
        groups = {"school": [f"s{i}" for i in school], "class": [f"c{i}" for i in cls]}
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2, **groups})


def write_data_in_child(case: Case, seed: int) -> None:
    """Run :func:`write_data` in a child process, so the parent stays small (see LAUNCHER)."""
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
        "import bench_glmm as b; "
        "b.write_data(b.Case(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], Path(sys.argv[6]), "
        "tuple(sys.argv[8].split(','))), int(sys.argv[7]))"
    )
    if case.csv.exists():
        return
    subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).resolve().parent), case.name, case.family,
         str(case.n), case.formula, str(case.csv), str(seed), ",".join(case.factors)],
        check=True,
    )


def write_data(case: Case, seed: int) -> None:
    """Simulate the case's data set (deterministic in seed, family and size) and write the CSV."""
    if case.csv.exists():
        return
    if case.name in ("crossed", "nested"):
        df = simulate_multi(case, seed)
        case.csv.parent.mkdir(parents=True, exist_ok=True)
        tmp = case.csv.with_suffix(".tmp")
        df.to_csv(tmp, index=False, float_format="%.10g")
        tmp.replace(case.csv)
        return
    import numpy as np

    from reference.simulate import simulate_glmm

    n_clusters = max(1, case.n // ROWS_PER_CLUSTER)
    slope = "(1 + x1" in case.formula
    df = simulate_glmm(
        BETA[case.family],
        SLOPE_Q if slope else TAU0**2,
        n_clusters=n_clusters,
        cluster_size=ROWS_PER_CLUSTER,
        family=case.family,
        random=("(Intercept)", "x1") if slope else ("(Intercept)",),
        seed=np.random.SeedSequence([seed, case.n, int(slope), int(case.family == "binomial")]),
    )
    case.csv.parent.mkdir(parents=True, exist_ok=True)
    tmp = case.csv.with_suffix(".tmp")
    df.to_csv(tmp, index=False, float_format="%.10g")
    tmp.replace(case.csv)


# ---------------------------------------------------------------------------- child processes

PY_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
csv, formula, family, repeat = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
factors = [c for c in (sys.argv[6] if len(sys.argv) > 6 else "").split(",") if c]
import pandas as pd
data = pd.read_csv(csv)
for column in factors:  # as R's factor(): labels, so integer codes are not read as numbers
    if column in data:
        data[column] = data[column].astype(str)
import reference
glmer = getattr(reference, "glmer", None)
if glmer is None:
    try:
        from reference.glmm import glmer
    except ImportError:
        print(json.dumps({"ok": False, "error": "reference.glmer does not exist yet"}))
        raise SystemExit(0)
# Peak RSS so far (interpreter, imports, data): the fit's own share is peak_mb minus this.
before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 1024)
best, fit = None, None
for _ in range(repeat):
    t0 = time.perf_counter()
    fit = glmer(formula, data, family=family)
    dt = time.perf_counter() - t0
    best = dt if best is None else min(best, dt)
ll = None
for name in ("loglik", "logLik", "llf"):
    value = getattr(fit, name, None)
    if value is not None:
        ll = float(value() if callable(value) else value)
        break
print(json.dumps({"ok": True, "seconds": best, "loglik": ll, "before_mb": before_mb}))
"""

R_CHILD = r"""
args <- commandArgs(trailingOnly = TRUE)
csv <- args[1]; form <- as.formula(args[2]); fam <- args[3]; repeat_n <- as.integer(args[4])
suppressPackageStartupMessages(library(lme4))
data <- read.csv(csv)
for (nm in strsplit(Sys.getenv("FACTORS", "cluster"), ",")[[1]]) if (nzchar(nm)) data[[nm]] <- factor(data[[nm]])
best <- Inf
for (i in seq_len(repeat_n)) {
  t0 <- proc.time()[["elapsed"]]
  fit <- glmer(form, data = data, family = fam)
  best <- min(best, proc.time()[["elapsed"]] - t0)
}
cat(sprintf('{"ok": true, "seconds": %.6f, "loglik": %.12g, "lme4": "%s"}\n',
            best, as.numeric(logLik(fit)), as.character(packageVersion("lme4"))))
"""


# A minimal launcher (python -S, no imports beyond os/sys) forks the measured program and
# reports that grandchild's rusage. On Linux a process's ru_maxrss starts from the RSS of the
# process it was forked from, so forking the fit directly from a large parent (pytest, or a
# bench that has simulated 1e6 rows) would report the parent's size; the launcher is small.
LAUNCHER = r"""
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
sys.stderr.write("\n@@MAXRSS %d\n" % usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"""


def run_child(argv: list[str], timeout: float, env: dict[str, str] | None = None) -> FitResult:
    """Run one fit in a fresh process; its output is JSON on stdout; failures come back as data.

    Peak memory is the fit process's own maximum resident set size (``ru_maxrss`` of
    ``wait4``), measured through :data:`LAUNCHER` so no parent's size leaks into it.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-S", "-c", LAUNCHER, *argv], stdout=out, stderr=err, env=env, start_new_session=True
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return FitResult(False, error=f"timed out after {timeout:g} s")
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    marker = stderr.rfind("@@MAXRSS ")
    peak = None
    if marker != -1:
        # ru_maxrss is in KiB on Linux and bytes on macOS.
        scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2**20
        peak = int(stderr[marker + 9 :].split()[0]) * scale
        stderr = stderr[:marker]
    data = _last_json_object(stdout)
    if proc.returncode != 0 or data is None:
        tail = " | ".join(stderr.strip().splitlines()[-3:]) or "no output"
        return FitResult(False, peak_mb=peak, error=f"exit {proc.returncode}: {tail}")
    if "elapsed_seconds" in data:  # tests/r/lme4_bench.R's output
        data = {"ok": True, "seconds": data.pop("elapsed_seconds"), **data}
    return FitResult(
        bool(data.get("ok")),
        seconds=data.get("seconds"),
        loglik=data.get("loglik"),
        peak_mb=peak,
        error=data.get("error"),
        extra={k: v for k, v in data.items() if k in {"lme4", "warnings", "versions", "theta", "fixef", "before_mb"}},
    )


def _last_json_object(text: str) -> dict | None:
    """The last JSON object printed on stdout (one line or pretty-printed), or None."""
    decoder = json.JSONDecoder()
    found = None
    index = text.find("{")
    while index != -1:
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            index = text.find("{", index + 1)
            continue
        if isinstance(value, dict):
            found = value
        index = text.find("{", end)
    return found


def r_available() -> str | None:
    """None when Rscript with lme4 is usable, else the reason it is not."""
    if shutil.which("Rscript") is None:
        return "Rscript not found on PATH"
    probe = subprocess.run(
        ["Rscript", "-e", "suppressPackageStartupMessages(library(lme4))"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if probe.returncode != 0:
        return "R package lme4 does not load: " + (probe.stderr.strip().splitlines() or ["?"])[-1]
    return None


# ---------------------------------------------------------------------------- report


def fmt(value: float | None, spec: str) -> str:
    """Format a number, or a right-aligned "n/a" of the same width when it is missing."""
    width = int(spec.split(".")[0]) if spec[0].isdigit() else 0
    return "n/a".rjust(width) if value is None else format(value, spec)


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'model':<12} {'N':>9} {'py s':>9} {'R s':>9} {'R/py':>7} "
        f"{'py logLik':>16} {'R logLik':>16} {'|diff|':>9} {'py MB':>8} {'R MB':>8} {'py base':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        py, r = row["python"], row["r"]
        ratio = r.seconds / py.seconds if (py.ok and r and r.ok and py.seconds) else None
        diff = abs(py.loglik - r.loglik) if (py.ok and r and r.ok and py.loglik is not None) else None
        print(
            f"{row['case'].name:<12} {row['case'].n:>9} {fmt(py.seconds if py.ok else None, '9.3f')} "
            f"{fmt(r.seconds if r and r.ok else None, '9.3f')} {fmt(ratio, '7.2f')} "
            f"{fmt(py.loglik if py.ok else None, '16.4f')} {fmt(r.loglik if r and r.ok else None, '16.4f')} "
            f"{fmt(diff, '9.2e')} {fmt(py.peak_mb, '8.0f')} {fmt(r.peak_mb if r else None, '8.0f')}"
            f" {fmt(py.extra.get('before_mb'), '8.0f')}"
        )
    print("times: best fit time in the child (data loading excluded); MB: the child's peak RSS;")
    print("py base: the Python child's peak RSS before the fit (interpreter + imports + data).")
    for row in rows:
        for who in ("python", "r"):
            res = row[who]
            if res is not None and not res.ok:
                print(f"  {row['case'].name} N={row['case'].n} {who}: {res.error}")


def parse_size(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not a number (use e.g. 1e4)") from None
    if value < ROWS_PER_CLUSTER or value != int(value):
        raise argparse.ArgumentTypeError(f"size {text!r} must be an integer ≥ {ROWS_PER_CLUSTER}")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=list(DEFAULT_SIZES),
                        help="numbers of rows for the random-intercept data sets (default 1e3 1e4 1e5 1e6)")
    parser.add_argument("--skip-r", action="store_true", help="do not run lme4")
    parser.add_argument("--no-slope", action="store_true", help="skip the random-slope model at N = 1e5")
    parser.add_argument("--no-multi", action="store_true", help="skip the models with several random-effects terms")
    parser.add_argument("--only-multi", action="store_true", help="run only the models with several terms")
    parser.add_argument("--multi-sizes", nargs="+", type=parse_size, default=list(MULTI_SIZES),
                        help="numbers of rows for the simulated crossed and nested designs (default 1e4 1e5)")
    parser.add_argument("--repeat", type=int, default=1, help="fits per child process; the best time is kept")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="simulation seed")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per fit")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    if args.no_multi and args.only_multi:
        parser.error("--no-multi and --only-multi exclude each other")
    cases = [] if args.only_multi else make_cases(sorted(set(args.sizes)), slope=not args.no_slope, seed=args.seed)
    if not args.no_multi:
        cases += make_multi_cases(sorted(set(args.multi_sizes)), seed=args.seed)
    for case in cases:
        t0 = time.perf_counter()
        existed = case.csv.exists()
        write_data_in_child(case, args.seed)
        if not existed:
            print(f"wrote {case.csv.relative_to(ROOT)} ({time.perf_counter() - t0:.1f} s)", flush=True)

    r_reason = "skipped (--skip-r)" if args.skip_r else r_available()
    if r_reason:
        print(f"lme4: {r_reason}")
    r_script = None
    if r_reason is None:
        shared = ROOT / "tests" / "r" / "lme4_bench.R"
        if shared.exists():
            # The project's lme4 timing script: DATA.csv FORMULA FAMILY [LINK] [nAGQ] [REPEATS].
            r_script = [str(shared), "{csv}", "{formula}", "{family}", "", "1", "{repeat}"]
        else:
            inline = OUT / "lme4_bench_inline.R"
            inline.write_text(R_CHILD)
            r_script = [str(inline), "{csv}", "{formula}", "{family}", "{repeat}"]

    rows = []
    for case in cases:
        print(f"fitting {case.name} N={case.n} ...", flush=True)
        factors = ",".join(case.factors)
        py = run_child(
            [sys.executable, "-c", PY_CHILD, str(ROOT), str(case.csv), case.formula, case.family, str(args.repeat),
             factors],
            args.timeout,
        )
        r = None
        if r_script is not None:
            fields = {"csv": str(case.csv), "formula": case.formula, "family": case.family, "repeat": str(args.repeat)}
            r_env = {**os.environ, "FACTORS": factors}
            r = run_child(["Rscript", *(a.format(**fields) for a in r_script)], args.timeout, env=r_env)
        rows.append({"case": case, "python": py, "r": r})

    print()
    print_table(rows)
    if args.json:
        payload = [
            {
                "model": row["case"].name,
                "n": row["case"].n,
                "formula": row["case"].formula,
                "python": asdict(row["python"]),
                "r": None if row["r"] is None else asdict(row["r"]),
            }
            for row in rows
        ]
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
