"""Smoke check run against an installed wheel (not the source tree).

Imports every top-level package, finds the templates through importlib.resources,
starts each console command with --help, and checks that the installed copy (the student wheel)
holds no instructor material: no answer key, mutant or multiple-choice answer of any exercise.
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
    review = files("glmm_exercises.templates").joinpath("review")
    for name in ("grade.html.j2", "final_report.html.j2", "review.css", "review.js"):
        if not review.joinpath(name).is_file():
            print(f"smoke: the review page's {name} is missing from the installed wheel")
            return 1
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
    import os

    from glmm_exercises import catalogue

    os.environ.pop(catalogue.INSTRUCTOR_ENV, None)
    package = pathlib.Path(catalogue.__file__).parent
    leaked = sorted(str(p.relative_to(package)) for p in package.rglob("*")
                    if p.name in ("instructor", "mutants", "key.py", "answers.json"))
    if leaked:
        print(f"smoke: the wheel holds instructor material: {', '.join(leaked[:5])}")
        return 1
    for exercise_id in catalogue.exercise_ids():
        catalogue.get_exercise(exercise_id)
        try:
            catalogue.key_path(exercise_id)
        except catalogue.MissingInstructorMaterial:
            continue
        print(f"smoke: exercise {exercise_id}: its answer key is reachable from the installed wheel")
        return 1
    print(f"smoke: {len(catalogue.exercise_ids())} exercises load; no key, mutant or answer is installed")
    proc = subprocess.run([sys.executable, "-m", "glmm_exercises", "--help"], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        print(f"smoke: `python -m glmm_exercises --help` failed: {proc.stderr.strip()[-500:]}")
        return 1
    print("smoke: all checks passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
