"""`glmm-exercises export gradescope`: the bundle's contents, and run_autograder in a simulated
Gradescope layout (GLMM_AUTOGRADER_ROOT points at a temporary /autograder)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from glmm_exercises.catalogue import expected_failures, key_path, mutant_paths
from glmm_exercises.cli import main as exercises_main

EX = "poisson-marginal"
SEED = 0x7E57_0F_6AD_35C0E
STUDENTS = ("amy", "bo")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("export")
    (tmp / "roster.csv").write_text(
        "student_id,name,email\n" + "".join(f"{s},{s.title()},{s}@Uni.example\n" for s in STUDENTS), encoding="utf-8"
    )
    (tmp / "assignment.toml").write_text(f'exercises = ["{EX}"]\nexamples = 5\ntime_limit = 2\n', encoding="utf-8")
    assert exercises_main(["generate", "--roster", str(tmp / "roster.csv"), "--seed", "99", "-q",
                           "--config", str(tmp / "assignment.toml"), "--out", str(tmp / "asg")]) == 0
    wheel = tmp / "glmm_exercises-0.0.0-py3-none-any.whl"  # stands in for the real wheel (see the slow test)
    wheel.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    code = exercises_main(["export", "gradescope", "--assignment", str(tmp / "asg"), "-o", str(tmp / "autograder.zip"),
                           "--seed", str(SEED), "--wheel", str(wheel)])
    assert code == 0
    return tmp / "autograder.zip"


def test_bundle_holds_scripts_variants_and_seed_but_no_answer_keys(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
        setup = zf.read("setup.sh").decode()
        seed = zf.read("seed").decode()
    assert {"setup.sh", "run_autograder", "seed", "autograder.json", "assignment/instructor/manifest.json",
            "glmm_exercises-0.0.0-py3-none-any.whl"} <= names
    assert not any("keys" in n or "key_solution" in n or n.startswith("assignment/students") for n in names)
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755 and modes["seed"] == 0o644
    assert "pip install" in setup and "glmm_exercises-0.0.0-py3-none-any.whl" in setup
    assert int(seed) == SEED


def _autograder(bundle: Path, root: Path, submission: Path | None, email: str) -> dict:
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
    (root / "submission").mkdir()
    if submission is not None:
        shutil.copyfile(submission, root / "submission" / "solution.py")
    (root / "submission_metadata.json").write_text(
        json.dumps({"id": 1, "users": [{"email": email, "id": 7, "name": "Someone"}]}), encoding="utf-8"
    )
    env = {**os.environ, "GLMM_AUTOGRADER_ROOT": str(root), "GLMM_AUTOGRADER_PYTHON": sys.executable}
    env.pop("GLMM_GRADING_SEED", None)
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    assert not stat.S_IMODE((root / "source" / "seed").stat().st_mode) & 0o077  # seed hidden from uid nobody
    return json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))


def _valid(results: dict) -> None:
    assert isinstance(results["score"], int | float) and isinstance(results["output"], str)
    for t in results["tests"]:
        assert set(t) >= {"name", "score", "max_score", "status", "output", "visibility"}
        assert t["status"] in ("passed", "failed") and t["visibility"] in ("visible", "after_published", "hidden")
        assert 0 <= t["score"] <= t["max_score"]
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))


def test_answer_key_gets_full_marks_in_a_simulated_gradescope(bundle: Path, tmp_path: Path) -> None:
    results = _autograder(bundle, tmp_path / "autograder", key_path(EX), "AMY@uni.example")
    _valid(results)
    assert results["tests"] and all(t["status"] == "passed" for t in results["tests"])
    assert results["score"] == pytest.approx(sum(t["max_score"] for t in results["tests"]))
    assert {t["visibility"] for t in results["tests"]} == {"visible", "after_published"}  # hidden checks ran


def test_mutant_fails_exactly_its_declared_checks(bundle: Path, tmp_path: Path) -> None:
    mutant = "variance_poisson_only"
    results = _autograder(bundle, tmp_path / "autograder", mutant_paths(EX)[mutant], "bo@uni.example")
    _valid(results)
    failed = {t["name"].split(" / ", 1)[1].split(":", 1)[0] for t in results["tests"] if t["status"] == "failed"}
    assert failed == expected_failures(EX)[mutant]


def test_unknown_student_and_missing_file_fail_closed_with_a_message(bundle: Path, tmp_path: Path) -> None:
    stranger = _autograder(bundle, tmp_path / "a1", key_path(EX), "who@else.example")
    _valid(stranger)
    assert stranger["score"] == 0 and "roster" in stranger["output"]
    empty = _autograder(bundle, tmp_path / "a2", None, "amy@uni.example")
    assert empty["score"] == 0 and "solution.py" in empty["output"]


def test_export_needs_a_seed_and_an_assignment(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLMM_GRADING_SEED", raising=False)
    assert exercises_main(["export", "gradescope", "--assignment", str(tmp_path), "-o", str(tmp_path / "a.zip")]) == 2
    assert "seed" in capsys.readouterr().err
    assert exercises_main(["export", "gradescope", "--assignment", str(tmp_path), "--seed", "5",
                           "-o", str(tmp_path / "a.zip")]) == 2
    assert "manifest" in capsys.readouterr().err and not (tmp_path / "a.zip").exists()


@pytest.mark.slow  # pip builds the wheel in an isolated environment (needs PyPI for setuptools)
def test_built_wheel_contains_the_package(tmp_path: Path) -> None:
    from glmm_exercises.export import build_wheel

    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for required in ("graders/batch.py", "glmm_exercises/export.py", "reference/__init__.py",
                     "glmm_exercises/templates/summary.html.j2", "glmm_exercises/samples/roster.csv"):
        assert required in names
