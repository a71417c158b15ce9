"""Acceptance: a student gets their folder and the student wheel, installs it into a fresh venv, and
works inside the folder with nothing but ``glmm-grade solution.py`` and the notebook's ``check`` cells.

The course (two students, the whole catalogue) is generated with ``--student-dist``, so the wheel is
built from this checkout; one student's folder is copied elsewhere. The fresh venv (``python -m venv``)
installs the wheel with ``pip install --no-index``: so that this works offline, a ``.pth`` file makes the
test environment's site-packages (numpy, scipy, ... and ipykernel/nbclient for the notebook run) visible
to it, and pip resolves the wheel's dependencies from there instead of downloading them. The wheel itself
lands in the venv (asserted), so nothing of the source tree -- answer keys included -- is importable:
the environment has no PYTHONPATH and no GLMM_INSTRUCTOR_DIR.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from _student_notebooks import check_results, key_notebook, run_notebook

from glmm_exercises.catalogue import exercise_ids
from glmm_exercises.cli import main as exercises_main

pytestmark = pytest.mark.slow

DATA_CELL = 'beaches = pd.read_csv("data/beaches-solutions/beaches.csv")\nassert len(beaches) > 10'


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The student's folder (copied away from the course) and the fresh venv holding the wheel."""
    root = tmp_path_factory.mktemp("accept")
    (root / "roster.csv").write_text("student_id,name\ns1001,Ann\ns1002,Bob\n", encoding="utf-8")
    course = root / "course"
    code = exercises_main(["generate", "--roster", str(root / "roster.csv"), "--seed", "90210", "--out", str(course),
                           "--student-dist", "--quiet"])
    assert code == 0
    [wheel] = sorted((course / "student-dist").glob("glmm_exercises-*.whl"))
    folder = Path(shutil.copytree(course / "students" / "s1002", root / "home" / "glmm-assignment"))

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GLMM_INSTRUCTOR_DIR", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run([str(python), "-m", "pip", "install", "--no-index", "--quiet", str(wheel)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot install the wheel offline into a fresh venv: {proc.stderr.strip()[-300:]}")
    return {"folder": folder, "python": str(python), "env": env, "course": course, "purelib": purelib}


def _grade(student: dict[str, Any], name: str) -> dict[str, Any]:
    proc = subprocess.run(
        ["glmm-grade", name, "--format", "json", "--no-timings"], cwd=student["folder"], env=student["env"],
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_the_venv_runs_the_wheel_without_instructor_material(student: dict[str, Any]) -> None:
    probe = (
        "import glmm_exercises, graders, importlib.util as u; print(glmm_exercises.__file__); "
        "print(u.find_spec('glmm_exercises.catalogue.expfam.instructor'))"
    )
    out = subprocess.run([student["python"], "-c", probe], env=student["env"], capture_output=True, text=True,
                         cwd=student["folder"], check=True).stdout.split()
    assert out[0].startswith(student["purelib"]) and out[1] == "None"
    assert shutil.which("glmm-grade", path=student["env"]["PATH"]).startswith(str(Path(student["python"]).parent))


def test_unfilled_starter_is_not_yet_implemented_everywhere(student: dict[str, Any]) -> None:
    report = _grade(student, "solution.py")
    assert report["student"] == "s1002" and report["score"] == 0
    assert {c["reason"] for ex in report["exercises"] for c in ex["checks"]} == {"not_implemented"}


def test_answer_key_as_py_scores_full_marks(student: dict[str, Any]) -> None:
    shutil.copyfile(student["course"] / "instructor" / "key_solution.py", student["folder"] / "key.py")
    report = _grade(student, "key.py")
    assert len(report["exercises"]) == len(exercise_ids()) and report["score"] == report["max_score"] > 0


@pytest.fixture(scope="module")
def key_notebook_report(student: dict[str, Any]) -> dict[str, Any]:
    folder = student["folder"]
    text = key_notebook((folder / "solution.ipynb").read_text(encoding="utf-8"), data_cell=DATA_CELL)
    (folder / "key.ipynb").write_text(text, encoding="utf-8")
    return _grade(student, "key.ipynb")


def test_answer_key_as_notebook_reading_its_data_scores_full_marks(key_notebook_report: dict[str, Any]) -> None:
    assert key_notebook_report["score"] == key_notebook_report["max_score"] > 0


def test_notebook_reads_data_where_the_starter_says(key_notebook_report: dict[str, Any]) -> None:
    warnings = [w for ex in key_notebook_report["exercises"] for w in ex["load_warnings"]]
    assert warnings == []


def test_key_notebook_runs_top_to_bottom_with_its_check_cells(student: dict[str, Any], key_notebook_report: Any) -> None:
    results = check_results(run_notebook(student["folder"] / "key.ipynb", student["python"], student["env"]))
    assert len(results) == len(exercise_ids())
    for eid, data in results.items():
        assert data["score"] == data["max_score"] > 0, (eid, data["_text"])
        assert data["student"] == "s1002"
    assert not list(student["folder"].glob(".glmm-check-*"))


def test_starter_notebook_runs_top_to_bottom_with_its_check_cells(student: dict[str, Any]) -> None:
    results = check_results(run_notebook(student["folder"] / "solution.ipynb", student["python"], student["env"]))
    assert len(results) == len(exercise_ids())
    for eid, data in results.items():
        assert {c["reason"] for c in data["checks"]} == {"not_implemented"}, eid
