"""Benchmark grading throughput: one assignment, a class, the catalogue selftest.

Stages (each run as the command a user runs, in a fresh process, timed from outside with its
peak resident memory read from ``wait4``):

* ``key``: the 9-exercise answer key (``instructor/key_solution.py`` of a generated course)
  graded with ``glmm-grade --assignment ... --all`` (200 examples per check);
* ``mutants``: every mutant of every exercise, appended to the key of a whole assignment (the
  key with one exercise wrong), graded the same way -- what a class of partly right students costs;
* ``batch``: ``glmm-grade batch --jobs J`` over ``--students`` submissions, keys and mutants mixed,
  reported as submissions per minute; a second run with ``--jobs 1`` checks that the gradebook
  is identical;
* ``selftest``: ``glmm-exercises selftest --variants V`` of the whole catalogue.

Usage::

    .venv/bin/python benchmarks/bench_grading.py                       # everything (long)
    .venv/bin/python benchmarks/bench_grading.py --stages key batch --students 10
    .venv/bin/python benchmarks/bench_grading.py --json benchmarks/out/bench_grading.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SEED = "0x5EEDC0FFEE123456789"
STAGES = ("key", "mutants", "batch", "selftest")


def _tree(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


def _pss_mb(pid: int) -> float:
    """Proportional set size of the process tree (shared pages counted once), in MB."""
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total / 1024


LAST_TREE_PEAK = [0.0]  # the last run's peak PSS of its whole process tree (MB)


def run(cmd: list[str], cwd: Path) -> tuple[float, float, int]:
    """(seconds, peak resident memory in MB of the largest process of the command, exit code);
    the peak PSS of the whole process tree (every process, shared pages once) is sampled every
    0.2 s into ``LAST_TREE_PEAK``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "GLMM_GRADING_SEED": str(int(SEED, 0))})
    peak = 0.0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if Path("/proc/self/smaps_rollup").exists():
            peak = max(peak, _pss_mb(proc.pid))
        time.sleep(0.2)
    LAST_TREE_PEAK[0] = peak
    seconds = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        err = proc.stderr.read() if proc.stderr else ""
        raise SystemExit(f"{' '.join(cmd[:3])} ... failed with {code}: {err[-500:]}")
    return seconds, usage.ru_maxrss / 1024, code


#: The nine exercises the issue's targets were set for (the catalogue has grown since).
NINE = ("beaches-solutions", "expfam", "glmm-fit", "laplace-cluster", "link-aic", "logit-marginal",
        "poisson-marginal", "simulate-beaches", "simulate-curves")


def course(tmp: Path, students: int, exercises: tuple[str, ...] | None) -> Path:
    roster = tmp / "roster.csv"
    roster.write_text("student_id,name,email\n" + "".join(f"s{i:03d},S {i},s{i}@x.org\n" for i in range(students)),
                      encoding="utf-8")
    cmd = [BIN / "glmm-exercises", "generate", "--roster", roster, "--seed", "424242424242", "--out",
           tmp / "course", "-q"]
    if exercises is not None:
        config = tmp / "assignment.toml"
        config.write_text(f"title = \"Benchmark\"\nexercises = {json.dumps(list(exercises))}\nexamples = 200\n",
                          encoding="utf-8")
        cmd += ["--config", config]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return tmp / "course"


def mutant_sources(whole_key: str) -> list[tuple[str, str, str]]:
    """(exercise, mutant, the whole assignment's key with that one exercise's key replaced by the
    mutant): a student who got one exercise wrong."""
    sys.path.insert(0, str(ROOT))
    from glmm_exercises.catalogue import exercise_ids, key_path, mutant_paths

    out = []
    for eid in exercise_ids():
        own = repr(key_path(eid).read_text(encoding="utf-8"))
        if own not in whole_key:
            continue  # not part of this assignment
        for name, path in sorted(mutant_paths(eid).items()):
            out.append((eid, name, whole_key.replace(own, repr(path.read_text(encoding="utf-8")))))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    p.add_argument("--students", type=int, default=50, help="submissions in the batch stage (default 50)")
    p.add_argument("--jobs", type=int, default=2, help="--jobs of the batch stage (default 2)")
    p.add_argument("--variants", type=int, default=10, help="selftest variants per exercise (default 10)")
    p.add_argument("--exercises", default="nine",
                   help="'nine' (the issue's nine, default), 'all' (the whole catalogue) or a comma-separated list")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    figures: dict[str, object] = {"cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp_text:
        tmp = Path(tmp_text)
        chosen = (NINE if args.exercises == "nine" else None if args.exercises == "all"
                  else tuple(e.strip() for e in args.exercises.split(",") if e.strip()))
        figures["exercises"] = list(chosen) if chosen is not None else "all"
        c = course(tmp, max(args.students, 2), chosen)
        key = c / "instructor" / "key_solution.py"
        grade = [str(BIN / "glmm-grade")]
        if "key" in args.stages:
            s, mb, _ = run([*grade, str(key), "--assignment", str(c), "--student", "s000", "--all", "-f", "json",
                            "-o", str(tmp / "key.json")], tmp)
            score = json.loads((tmp / "key.json").read_text())
            figures["key"] = {"seconds": round(s, 2), "peak_mb": round(mb), "tree_pss_mb": round(LAST_TREE_PEAK[0]),
                              "score": score["score"], "max_score": score["max_score"]}
            print(f"key:      {s:6.1f} s  peak {mb:5.0f} MB (largest process; all processes together "
                  f"{LAST_TREE_PEAK[0]:.0f} MB PSS)  score {score['score']:g}/{score['max_score']:g}")
        if "mutants" in args.stages:
            rows = []
            for eid, name, source in mutant_sources(key.read_text(encoding="utf-8")):
                path = tmp / f"mutant_{eid}_{name}.py"
                path.write_text(source, encoding="utf-8")
                s, mb, _ = run([*grade, str(path), "--assignment", str(c), "--student", "s000", "--all", "-f",
                                "json", "-o", str(tmp / "m.json")], tmp)
                doc = json.loads((tmp / "m.json").read_text())
                rows.append({"exercise": eid, "mutant": name, "seconds": round(s, 2), "peak_mb": round(mb),
                             "score": doc["score"], "max_score": doc["max_score"]})
                print(f"mutant {eid}:{name:<32} {s:6.1f} s  peak {mb:5.0f} MB  {doc['score']:g}/{doc['max_score']:g}")
            figures["mutants"] = rows
            total = sum(r["seconds"] for r in rows)
            print(f"mutants:  {len(rows)} gradings, {total:.1f} s in all, {total / max(len(rows), 1):.1f} s each")
        if "batch" in args.stages:
            subs = tmp / "subs"
            whole = key.read_text(encoding="utf-8")
            sources = [whole] + [src for _, _, src in mutant_sources(whole)]
            for i in range(args.students):
                (subs / f"s{i:03d}").mkdir(parents=True)
                (subs / f"s{i:03d}" / "solution.py").write_text(sources[i % len(sources)], encoding="utf-8")
            out = {}
            for jobs in (args.jobs, 1):
                s, mb, code = run([*grade, "batch", str(subs), "--assignment", str(c), "--out",
                                   str(tmp / f"out{jobs}"), "--jobs", str(jobs), "--quiet"], tmp)
                out[jobs] = (s, mb, (tmp / f"out{jobs}" / "gradebook.csv").read_bytes())
                rate = args.students / s * 60
                print(f"batch --jobs {jobs}: {args.students} submissions in {s:.1f} s = {rate:.1f}/min, peak {mb:.0f} MB")
            figures["batch"] = {"students": args.students,
                                **{f"jobs{j}": {"seconds": round(v[0], 1), "per_minute": round(args.students / v[0] * 60, 1),
                                                "peak_mb": round(v[1])} for j, v in out.items()},
                                "gradebooks_identical": out[args.jobs][2] == out[1][2]}
            print(f"gradebooks identical across --jobs: {out[args.jobs][2] == out[1][2]}")
        if "selftest" in args.stages:
            s, mb, code = run([str(BIN / "glmm-exercises"), "selftest", "--variants", str(args.variants),
                               "--jobs", str(args.jobs)], tmp)
            figures["selftest"] = {"variants": args.variants, "seconds": round(s, 1), "peak_mb": round(mb),
                                   "exit": code}
            print(f"selftest --variants {args.variants}: {s:.1f} s, peak {mb:.0f} MB, exit {code}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(ROOT / "benchmarks" / "out" / "tmp", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
