"""``glmm-exercises export gradescope``: a Gradescope autograder bundle for a generated assignment.

``glmm-exercises export gradescope --assignment DIR -o autograder.zip [--seed N] [--wheel PATH]``
writes a zip that Gradescope unpacks into ``/autograder/source``::

    setup.sh                     run once when Gradescope builds the image: finds (or installs) a
                                 Python >= 3.11, makes /autograder/venv, pip-installs the wheel
    run_autograder               run for every submission: grades it, writes results/results.json
    glmm_exercises-<v>-*.whl     this package, built from the source checkout (or --wheel): the
                                 student wheel, without answer keys, mutants or answers
    assignment/instructor/manifest.json, assignment.toml   every student's variant (no answer keys)
    assignment/instructor/answers/<exercise>.json          the correct multiple-choice options of the
                                 exercises that have them (the hidden checks need them)
    seed                         the instructor's grading seed (one line)
    autograder.json              bundle settings (format, wheel name, examples per check)

``run_autograder`` calls ``python -m glmm_exercises.export autograde``, which reads the root from
``GLMM_AUTOGRADER_ROOT`` (default ``/autograder``), finds the student (Gradescope's
``submission_metadata.json``: a user whose ``sid`` is a roster id, or whose email is a roster
email), finds the submission (``solution.py``/``solution.ipynb``, else the only ``.py``/``.ipynb``
file under ``submission/``), and runs ``glmm-grade SUB --assignment ... --student ID --all
--format gradescope -o results/results.json`` with the seed passed through the environment
(never on a command line). The bundle carries no answer key, mutant or ``key_solution.py``; the
answers and the seed sit under ``/autograder/source``, which ``run_autograder`` makes unreadable to
the sandbox's user before grading. Anything that stops grading (student not on the roster, no file)
still writes a ``results.json`` with score 0 and an ``output`` saying what to do: the
autograder fails closed, never silently.

The zip's entries have fixed timestamps and permissions, so the same inputs give the same
bytes (apart from the wheel, whose build is up to setuptools).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["AUTOGRADER_ROOT_ENV", "ExportError", "autograde", "build_wheel", "copy_project", "export_gradescope"]

AUTOGRADER_ROOT_ENV = "GLMM_AUTOGRADER_ROOT"
AUTOGRADER_PYTHON_ENV = "GLMM_AUTOGRADER_PYTHON"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_MANIFEST = Path("instructor") / "manifest.json"
_TOML = Path("instructor") / "assignment.toml"
_ANSWERS = Path("instructor") / "answers"


class ExportError(ValueError):
    """The bundle cannot be built with the inputs given."""


SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once while building the autograder image (glmm-exercises export gradescope).
set -euo pipefail
SRC="$(cd "$(dirname "$0")" && pwd)"
PY=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && \\
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    PY="$candidate"; break
  fi
done
if [ -z "$PY" ]; then  # e.g. Ubuntu 22.04 ships 3.10: add 3.11 from the distribution
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y python3.11 python3.11-venv
  PY=python3.11
fi
"$PY" -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
/autograder/venv/bin/python -m pip install "$SRC/{wheel}"
/autograder/venv/bin/python -c "import glmm_exercises, graders, reference; print('glmm-exercises installed')"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission (glmm-exercises export gradescope).
# GLMM_AUTOGRADER_ROOT (default /autograder) and GLMM_AUTOGRADER_PYTHON (default the venv that
# setup.sh made) let you try the bundle outside Gradescope.
set -u
ROOT="${GLMM_AUTOGRADER_ROOT:-/autograder}"
PY="${GLMM_AUTOGRADER_PYTHON:-/autograder/venv/bin/python}"
chmod -R go-rwx "$ROOT/source" 2>/dev/null || true   # the seed stays unreadable to uid nobody
mkdir -p "$ROOT/results"
export GLMM_AUTOGRADER_ROOT="$ROOT"
exec "$PY" -m glmm_exercises.export autograde
"""


# Building the bundle -----------------------------------------------------------------------------


def _project_root() -> Path | None:
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "graders").is_dir() else None


def copy_project(dest: Path) -> Path:
    """Copy the source checkout's build inputs to ``dest/src`` (no caches or stale ``build/``); return it."""
    root = _project_root()
    if root is None:
        raise ExportError("no source checkout to build the wheel from; pass --wheel PATH to a glmm-exercises wheel")
    src = dest / "src"
    src.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".*")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (root / name).is_file():
            shutil.copy2(root / name, src / name)
    for name in ("reference", "graders", "glmm_exercises", "templates"):
        shutil.copytree(root / name, src / name, symlinks=True, ignore=ignore)
    return src


def build_wheel(dest: Path) -> Path:
    """Build this package's (student) wheel into ``dest`` from the source checkout (a copy, so the tree stays clean)."""
    with tempfile.TemporaryDirectory(prefix="glmm-wheel-") as tmp:
        src = copy_project(Path(tmp))
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dest), str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ExportError(f"building the wheel failed ({tail[0]}); pass --wheel PATH to a prebuilt wheel")
    wheels = sorted(dest.glob("glmm_exercises-*.whl"))
    if not wheels:
        raise ExportError("building the wheel produced no glmm_exercises-*.whl; pass --wheel PATH")
    return wheels[-1]


def _add(zf: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
    zf.writestr(info, data)


def _answers(assignment: Path, exercises: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The instructor-only answers the hidden checks need: from the assignment's instructor folder when
    ``generate`` wrote them there, else ``$GLMM_INSTRUCTOR_DIR`` or the source tree (``MissingInstructorMaterial``
    when neither has them)."""
    from glmm_exercises.catalogue import answers

    folder = assignment / "instructor" if (assignment / _ANSWERS).is_dir() else None
    found = {eid: answers(eid, instructor=folder) for eid in exercises}
    return {eid: data for eid, data in found.items() if data}


@dataclass(frozen=True)
class BundleInfo:
    """What :func:`export_gradescope` wrote."""

    path: Path
    wheel: str
    students: int
    exercises: tuple[str, ...]


def export_gradescope(
    assignment: str | Path,
    output: str | Path,
    *,
    seed: int,
    wheel: str | Path | None = None,
    examples: int | None = None,
) -> BundleInfo:
    """Write the Gradescope autograder zip for the assignment ``glmm-exercises generate`` wrote."""
    assignment, output = Path(assignment), Path(output)
    manifest_path = assignment / _MANIFEST
    if not manifest_path.is_file():
        raise ExportError(f"{str(assignment)!r} holds no {_MANIFEST}; pass the folder glmm-exercises generate wrote")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        exercises = tuple(manifest["config"]["exercises"])
        students = len(manifest["students"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ExportError(f"cannot read {str(manifest_path)!r} ({exc}); regenerate the assignment") from None
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ExportError(f"the grading seed must be a whole number >= 0, not {seed!r}")
    solutions = _answers(assignment, exercises)
    if output.suffix != ".zip":
        raise ExportError(f"-o {str(output)!r} should end in .zip (Gradescope uploads a zip)")
    with tempfile.TemporaryDirectory(prefix="glmm-export-") as tmp:
        if wheel is None:
            wheel_path = build_wheel(Path(tmp))
        else:
            wheel_path = Path(wheel)
            if not (wheel_path.is_file() and wheel_path.suffix == ".whl"):
                raise ExportError(f"--wheel {str(wheel_path)!r} is not a .whl file; build one with pip wheel --no-deps .")
        settings = {"format": 1, "wheel": wheel_path.name, "examples": examples, "exercises": list(exercises)}
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(f".{output.name}.tmp-{os.getpid()}")
        try:
            with zipfile.ZipFile(partial, "w") as zf:
                _add(zf, "setup.sh", SETUP_SH.replace("{wheel}", wheel_path.name).encode(), executable=True)
                _add(zf, "run_autograder", RUN_AUTOGRADER.encode(), executable=True)
                _add(zf, wheel_path.name, wheel_path.read_bytes())
                _add(zf, f"assignment/{_MANIFEST.as_posix()}", manifest_path.read_bytes())
                if (assignment / _TOML).is_file():
                    _add(zf, f"assignment/{_TOML.as_posix()}", (assignment / _TOML).read_bytes())
                for eid, data in solutions.items():
                    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
                    _add(zf, f"assignment/{(_ANSWERS / f'{eid}.json').as_posix()}", text.encode())
                _add(zf, "seed", f"{seed}\n".encode())
                _add(zf, "autograder.json", (json.dumps(settings, indent=2, sort_keys=True) + "\n").encode())
            os.replace(partial, output)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return BundleInfo(output, wheel_path.name, students, exercises)


# Running inside Gradescope -----------------------------------------------------------------------


def _fail(results: Path, message: str) -> int:
    results.parent.mkdir(parents=True, exist_ok=True)
    doc = {"score": 0.0, "output": message, "tests": []}
    results.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(message, file=sys.stderr)
    return 0


def _student(root: Path, manifest: dict[str, Any]) -> tuple[str | None, str]:
    students: dict[str, Any] = manifest.get("students", {})
    meta_path = root / "submission_metadata.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None, f"cannot read {meta_path} (Gradescope writes it); the instructor should check the autograder"
    emails = {str(s.get("email", "")).strip().lower(): sid for sid, s in students.items() if s.get("email")}
    tried = []
    for user in meta.get("users") or []:
        sid = str(user.get("sid") or "").strip()
        if sid in students:
            return sid, ""
        email = str(user.get("email") or "").strip().lower()
        if email in emails:
            return emails[email], ""
        tried.append(email or sid or "?")
    return None, (
        f"no variant of this assignment belongs to {', '.join(tried) or 'this submission'}: your Gradescope "
        "student id or email is not on the course roster; ask the instructor"
    )


def _submission(folder: Path) -> tuple[Path | None, str]:
    for name in ("solution.py", "solution.ipynb"):
        hits = sorted(p for p in folder.rglob(name) if p.is_file())
        if hits:
            return hits[0], ""
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix in (".py", ".ipynb")
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if len(files) == 1:
        return files[0], ""
    if not files:
        return None, "no .py or .ipynb file was submitted; upload your solution.py (or solution.ipynb)"
    names = ", ".join(str(p.relative_to(folder)) for p in files[:5])
    return None, f"several files were submitted ({names}); upload one file named solution.py"


def autograde(root: str | Path | None = None) -> int:
    """Grade the Gradescope submission under ``root`` and write ``root/results/results.json``."""
    from graders.cli import SEED_ENV
    from graders.cli import main as grade_main

    root = Path(root or os.environ.get(AUTOGRADER_ROOT_ENV) or "/autograder")
    source, results = root / "source", root / "results" / "results.json"
    try:
        manifest = json.loads((source / "assignment" / _MANIFEST).read_text(encoding="utf-8"))
        settings = json.loads((source / "autograder.json").read_text(encoding="utf-8"))
        seed = (source / "seed").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _fail(results, f"the autograder bundle is incomplete ({exc}); the instructor should rebuild it")
    sid, problem = _student(root, manifest)
    if sid is None:
        return _fail(results, problem)
    sub, problem = _submission(root / "submission")
    if sub is None:
        return _fail(results, problem)
    os.environ[SEED_ENV] = seed
    argv = [str(sub), "--assignment", str(source / "assignment"), "--student", sid, "--all",
            "--format", "gradescope", "-o", str(results)]
    if settings.get("examples"):
        argv += ["--examples", str(settings["examples"])]
    code = grade_main(argv)
    if code == 2 or not results.is_file():
        return _fail(results, "grading could not start (see the log above); the instructor has been told by this message")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m glmm_exercises.export autograde`` (what ``run_autograder`` runs)."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words != ["autograde"]:
        print("usage: python -m glmm_exercises.export autograde  (run by the bundle's run_autograder)", file=sys.stderr)
        return 2
    return autograde()


if __name__ == "__main__":
    raise SystemExit(main())
