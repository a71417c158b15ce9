"""Smoke check run against an installed wheel (not the source tree).

Imports every top-level package, finds the templates through importlib.resources,
and starts each console command with --help.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import pathlib
import shutil
import subprocess
import sys


def main() -> int:
    for name in ("reference", "graders", "glmm_exercises", "glmm_exercises.templates"):
        module = importlib.import_module(name)
        origin = pathlib.Path(module.__file__ or "").resolve()
        if "site-packages" not in str(origin):
            print(f"smoke: {name} was imported from {origin}, not from the installed wheel")
            return 1
    from importlib.resources import files

    templates = [p.name for p in files("glmm_exercises.templates").iterdir() if p.name.endswith(".j2")]
    print(f"smoke: templates found: {sorted(templates)}")
    scripts = [ep.name for ep in md.entry_points(group="console_scripts") if ep.value.split(".")[0]
               in {"glmm_exercises", "graders", "reference"}]
    for script in scripts:
        exe = shutil.which(script, path=str(pathlib.Path(sys.executable).parent))
        if exe is None:
            print(f"smoke: console command {script} is not installed")
            return 1
        proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            print(f"smoke: `{script} --help` exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
            return 1
        print(f"smoke: `{script} --help` ok")
    from glmm_exercises import catalogue

    for exercise_id in catalogue.exercise_ids():
        catalogue.get_exercise(exercise_id)
        if not catalogue.key_path(exercise_id).is_file() or not catalogue.mutant_paths(exercise_id):
            print(f"smoke: exercise {exercise_id}: answer key or mutants missing from the wheel")
            return 1
    print(f"smoke: {len(catalogue.exercise_ids())} exercises load with their keys and mutants")
    proc = subprocess.run([sys.executable, "-m", "glmm_exercises", "--help"], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        print(f"smoke: `python -m glmm_exercises --help` failed: {proc.stderr.strip()[-500:]}")
        return 1
    print("smoke: all checks passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
