"""No secrets in student hands (issue 10): the wheel and sdist students install hold no answer key,
mutant or multiple-choice answer; generated student files hold no option permutation and nothing the
correct letters follow from; instructor flows find instructor material (source tree, the instructor
folder generate writes, the Gradescope bundle) or stop with one line saying what is missing."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest
from _fake_sandbox import fake_factory

from glmm_exercises.catalogue import (
    INSTRUCTOR_ENV,
    answers,
    exercise_module,
    key_path,
    mutant_files,
)
from glmm_exercises.cli import main as exercises_main
from glmm_exercises.export import copy_project
from glmm_exercises.samples import sample_path
from graders.cli import main as grade_main

MC = "beaches-solutions"
PM = "poisson-marginal"
STUDENTS = ("s1", "s2", "s3", "s4", "s5", "s6")
SEED = 0x5EC2_E75_0F_C0DE
CORRECT = answers(MC)  # read from the source tree before any test points GLMM_INSTRUCTOR_DIR elsewhere


# The packages students install -------------------------------------------------------------------


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``python -m build`` on a clean copy of the repository: the sdist, then the wheel built from it."""
    if importlib.util.find_spec("build") is None:
        pytest.skip("the 'build' package is not installed (pip install -e '.[dev]')")
    tmp = tmp_path_factory.mktemp("dists")
    src = copy_project(tmp)
    proc = subprocess.run([sys.executable, "-m", "build", "--outdir", str(tmp / "dist"), str(src)],
                          capture_output=True, text=True, timeout=300, check=False)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0 and re.search(r"No matching distribution|Could not find a version|NewConnectionError", log):
        pytest.skip("python -m build could not install setuptools>=77 into its isolated environment (offline?)")
    assert proc.returncode == 0, log[-2000:]
    [wheel] = sorted((tmp / "dist").glob("*.whl"))
    [sdist] = sorted((tmp / "dist").glob("*.tar.gz"))
    return {"wheel": wheel, "sdist": sdist, "tmp": tmp}


def _secret_members(names: list[str]) -> list[str]:
    pattern = re.compile(r"(^|/)(instructor|mutants)/|(^|/)(key|key_solution)\.py$|answers(\.json|/)"
                         r"|samples/(ada|ben|cy)\.py|samples/dee\.ipynb")
    return [n for n in names if pattern.search(n)]


def test_wheel_and_sdist_hold_no_key_mutant_or_answer(dists: dict[str, Path]) -> None:
    with zipfile.ZipFile(dists["wheel"]) as zf:
        wheel = {n: zf.read(n) for n in zf.namelist()}
    with tarfile.open(dists["sdist"]) as tf:
        sdist = [m.name.split("/", 1)[1] for m in tf.getmembers() if m.isfile()]
    assert "glmm_exercises/catalogue/beaches_solutions/__init__.py" in wheel  # the exercises themselves ship
    assert "graders/_runner.py" in wheel and "glmm_exercises/templates/summary.html.j2" in wheel
    assert _secret_members(list(wheel)) == []
    assert _secret_members(sdist) == []
    # the source tree does hold them: the check above is about packaging, not about their absence
    assert len(_secret_members([str(p.relative_to(key_path(MC).parents[3])) for p in
                                (key_path(MC), mutant_files(MC)["wrong_mc"], sample_path("ada.py"))])) == 3
    # a correct option appears only as one of its question's options, all in alphabetical order
    correct = CORRECT
    module = wheel["glmm_exercises/catalogue/beaches_solutions/__init__.py"].decode()
    for q, (_text, options) in exercise_module(MC).QUESTIONS.items():
        positions = [module.index(f'"{option}"') for option in options]
        assert positions == sorted(positions) and list(options) == sorted(options), q
    others = [n for n, data in wheel.items() if n != "glmm_exercises/catalogue/beaches_solutions/__init__.py"
              and any(text.encode() in data for text in correct.values())]
    assert others == []


def test_installed_wheel_says_what_is_missing_and_grades_publicly(dists: dict[str, Path]) -> None:
    site = dists["tmp"] / "site"
    with zipfile.ZipFile(dists["wheel"]) as zf:
        zf.extractall(site)  # a pure-Python wheel unpacked is an installed copy (without scripts)
    work = dists["tmp"] / "work"
    work.mkdir()
    (work / "roster.csv").write_text("student_id\ns1\n", encoding="utf-8")
    (work / "stub.py").write_text("def beaches_answers(options):\n    raise NotImplementedError\n", encoding="utf-8")
    script = textwrap.dedent(f"""
        import contextlib, io, json
        import glmm_exercises
        from glmm_exercises.cli import main as exercises
        from graders.cli import main as grade
        out = {{"origin": glmm_exercises.__file__}}
        def run(name, fn, argv):
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = fn(argv)
            out[name] = [code, err.getvalue()]
        run("selftest", exercises, ["selftest", "-e", "{PM}", "--in-process"])
        run("generate", exercises, ["generate", "--roster", "roster.csv", "--seed", "1", "--out", "o", "-q"])
        run("demo", exercises, ["demo", "--out", "d"])
        run("all", grade, ["stub.py", "--exercise", "{MC}", "--all", "--seed", "{SEED}"])
        run("public", grade, ["stub.py", "--exercise", "{MC}", "--format", "json", "-o", "public.json"])
        print(json.dumps(out))
    """)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "HOME": str(work)}
    proc = subprocess.run([sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["origin"].startswith(str(site))
    for name, what in (("selftest", f"answer key for {PM}"), ("generate", "answer key for"),
                       ("all", f"multiple-choice answers for {MC}"), ("demo", "sample submission")):
        code, err = out[name]
        assert code == 2 and err.count("\n") == 1, (name, err)
        assert what in err and "cannot be found: the package students install leaves" in err, err
        assert "clone of the repository" in err
        assert "--instructor DIR" in err and INSTRUCTOR_ENV in err
    assert not (work / "o").exists() and not (work / "d").exists()
    assert out["public"][0] == 0, out["public"][1]
    report = json.loads((work / "public.json").read_text(encoding="utf-8"))
    assert report["checks"] and {c["visibility"] for c in report["checks"]} == {"public"}


# A generated course --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("course")
    (tmp / "roster.csv").write_text("student_id\n" + "".join(f"{s}\n" for s in STUDENTS), encoding="utf-8")
    (tmp / "a.toml").write_text(f'exercises = ["{PM}", "{MC}"]\nexamples = 2\n', encoding="utf-8")
    assert exercises_main(["generate", "--roster", str(tmp / "roster.csv"), "--seed", "77", "-q",
                           "--config", str(tmp / "a.toml"), "--out", str(tmp / "out")]) == 0
    return tmp / "out"


def _letters(params: dict, correct: dict[str, str]) -> tuple[str, ...]:
    return tuple("ABCD"[q["options"].index(correct[qid])] for qid, q in sorted(params["questions"].items()))


def test_student_files_hold_no_permutation_and_the_order_differs_per_student(course: Path) -> None:
    letters = set()
    for sid in STUDENTS:
        folder = course / "students" / sid
        texts = {p.name: p.read_text(encoding="utf-8") for p in folder.rglob("*") if p.is_file() and p.suffix != ".csv"}
        assert set(texts) >= {"assignment.json", "solution.py", "solution.ipynb", "sheet.md", "sheet.html"}
        for name, text in texts.items():
            assert '"orders"' not in text and "orders =" not in text, name
            assert "KEY_PHRASES" not in text and "answers.json" not in text, name
        params = json.loads(texts["assignment.json"])["exercises"][MC]["params"]
        assert set(params) == {"beta", "tau0", "n_beaches", "per_beach", "data_seed", "questions"}
        for qid, q in params["questions"].items():  # the sheet shows exactly the stored order
            shown = "\n".join(f"- **{letter}.** {option}" for letter, option in zip("ABCD", q["options"], strict=True))
            assert shown in texts["sheet.md"].replace("\n\n", "\n"), qid
        letters.add(_letters(params, CORRECT))
    assert len(letters) > 1  # where the correct option sits differs between students


def test_instructor_folder_holds_keys_mutants_and_answers(course: Path) -> None:
    instructor = course / "instructor"
    assert json.loads((instructor / "answers" / f"{MC}.json").read_text(encoding="utf-8")) == CORRECT
    assert not (instructor / "answers" / f"{PM}.json").exists()  # no multiple choice there
    for eid in (PM, MC):
        assert (instructor / "keys" / f"{eid}.py").read_bytes() == key_path(eid).read_bytes()
        stored = {p.stem: p.read_bytes() for p in (instructor / "mutants" / eid).glob("*.py")}
        assert stored == {name: path.read_bytes() for name, path in mutant_files(eid).items()}


def test_selftest_runs_from_the_instructor_folder(course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = exercises_main(["selftest", "-e", PM, "--variants", "1", "--examples", "5", "--in-process",
                           "--instructor", str(course / "instructor")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(rf"^{PM}\s+1\s+100\.0\s+(\d+)/\1\s", out, re.M), out


def _mc_only(tmp: Path) -> Path:
    """A submission that answers the multiple choice right (the test knows the answers) and nothing else."""
    path = tmp / "mc_only.py"
    path.write_text(f"RIGHT = {CORRECT!r}\n\n\ndef beaches_answers(options):\n"
                    "    return {q: 'ABCD'[texts.index(RIGHT[q])] for q, texts in options.items()}\n", encoding="utf-8")
    return path


def _grade(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = grade_main([*argv, "--format", "json", "--examples", "1"], sandbox_factory=fake_factory())
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_hidden_mc_checks_read_the_assignments_answers_or_stop_with_one_line(
    course: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(INSTRUCTOR_ENV, str(tmp_path))  # an empty folder: the source tree is not used
    sub = _mc_only(tmp_path)
    seed = str(2**40 + 5)
    code, out, _ = _grade(capsys, [str(sub), "--assignment", str(course), "--student", "s3", "--all", "--seed", seed])
    assert code == 0
    [mc] = [e for e in json.loads(out)["exercises"] if e["exercise_id"] == MC]
    checks = {c["name"]: c["status"] for c in mc["checks"]}
    assert {checks[f"mc_{q}"] for q in CORRECT} == {"passed"}
    # the student's own folder holds no answers: --all stops with one line instead of scoring them
    own = str(course / "students" / "s3")
    code, _, err = _grade(capsys, [str(sub), "--assignment", own, "--all", "--seed", seed])
    assert code == 2 and err.count("\n") == 1
    assert f"multiple-choice answers for {MC} cannot be found in the instructor folder" in err
    # public grading (what students run) needs no answers
    code, out, _ = _grade(capsys, [str(sub), "--assignment", own])
    assert code == 0 and all(c["visibility"] == "public" for e in json.loads(out)["exercises"] for c in e["checks"])


def test_gradescope_bundle_carries_answers_but_no_key_or_mutant(
    course: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = tmp_path / "glmm_exercises-0.0.0-py3-none-any.whl"  # stands in for the student wheel
    wheel.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    assert exercises_main(["export", "gradescope", "--assignment", str(course), "-o", str(tmp_path / "ag.zip"),
                           "--seed", "12345678901", "--wheel", str(wheel)]) == 0
    capsys.readouterr()
    with zipfile.ZipFile(tmp_path / "ag.zip") as zf:
        names = zf.namelist()
        zf.extractall(tmp_path / "source")
    assert f"assignment/instructor/answers/{MC}.json" in names
    assert [n for n in names if re.search(r"keys/|mutants/|key_solution|key\.py", n)] == []
    # grading inside the bundle finds the answers there (nothing else is available)
    monkeypatch.setenv(INSTRUCTOR_ENV, str(tmp_path / "source" / "assignment" / "students"))
    (tmp_path / "source" / "assignment" / "students").mkdir()
    code, out, err = _grade(capsys, [str(_mc_only(tmp_path)), "--assignment", str(tmp_path / "source" / "assignment"),
                                     "--student", "s1", "--all", "--seed", "12345678901"])
    assert code == 0, err
    [mc] = [e for e in json.loads(out)["exercises"] if e["exercise_id"] == MC]
    assert all(c["status"] == "passed" for c in mc["checks"] if c["name"].startswith("mc_"))
