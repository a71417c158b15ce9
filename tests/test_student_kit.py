"""The student side: the folder's README and the student wheel, ``glmm-grade solution.py`` without
flags, ``check("id")`` inside a notebook (nbclient and a terminal IPython), and the sheets' figures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
from _student_notebooks import check_results, key_notebook, run_notebook

from glmm_exercises.config import load_config
from glmm_exercises.export import ExportError
from glmm_exercises.figures import CLUSTER_CURVES, draw_figure, exercise_figure, has_figure
from glmm_exercises.generate import STUDENT_DIST, generate
from glmm_exercises.notebook import CheckError, grade_kernel, kernel_cells
from glmm_exercises.roster import read_roster
from glmm_exercises.variants import exercise_module, variant_params
from graders.cli import main as grade_main
from graders.notebook import read_cells

SEED = 424242
FIGURE_EXERCISES = ("poisson-marginal", "logit-marginal", "simulate-curves", "beaches-solutions", "simulate-beaches")


def _course(tmp: Path, exercises: tuple[str, ...], *, examples: int = 20, **options: object) -> Path:
    (tmp / "roster.csv").write_text("student_id,name\ns1001,Ann\ns1002,Bob\n", encoding="utf-8")
    listed = ", ".join(json.dumps(e) for e in exercises)
    (tmp / "a.toml").write_text(f'title = "Assignment 3"\nexercises = [{listed}]\nexamples = {examples}\n', encoding="utf-8")
    out = tmp / "course"
    generate(read_roster(tmp / "roster.csv"), SEED, out, config=load_config(tmp / "a.toml"), **options)  # type: ignore[arg-type]
    return out


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _course(tmp_path_factory.mktemp("kit"), ("poisson-marginal", "logit-marginal"))


@pytest.fixture
def own_folder(course: Path, tmp_path: Path) -> Path:
    """A student's folder copied away from the course, as the student gets it."""
    return Path(shutil.copytree(course / "students" / "s1001", tmp_path / "my-glmm-work"))


# The folder and the wheel -------------------------------------------------------------------------


def test_every_student_folder_has_a_readme_with_the_exact_commands(course: Path) -> None:
    for sid in ("s1001", "s1002"):
        text = (course / "students" / sid / "README.md").read_text(encoding="utf-8")
        assert f"student `{sid}`" in text
        for command in ("python3 -m venv .venv", "source .venv/bin/activate", "pip install ",
                        "glmm-grade solution.py", "glmm-grade solution.ipynb", 'check("...")'):
            assert command in text, command
        assert "--assignment" not in text and "--student" not in text
    assert not (course / STUDENT_DIST).exists()  # only on request


def _fake_wheel(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def test_student_wheel_is_copied_and_named_in_the_readme_and_instructor_material_is_refused(tmp_path: Path) -> None:
    clean = _fake_wheel(tmp_path / "glmm_exercises-9.9-py3-none-any.whl", {"graders/cli.py": "", "reference/glm.py": ""})
    (tmp_path / "a").mkdir()
    out = _course(tmp_path / "a", ("poisson-marginal",), student_dist=clean)
    assert (out / STUDENT_DIST / clean.name).read_bytes() == clean.read_bytes()
    assert f"pip install {clean.name}" in (out / "students" / "s1002" / "README.md").read_text(encoding="utf-8")

    leaky = _fake_wheel(tmp_path / "glmm_exercises-9.8-py3-none-any.whl",
                        {"glmm_exercises/catalogue/expfam/instructor/key.py": "ANSWER = 1"})
    (tmp_path / "b").mkdir()
    with pytest.raises(ExportError, match="instructor material"):
        _course(tmp_path / "b", ("poisson-marginal",), student_dist=leaky)
    assert not (tmp_path / "b" / "course").exists()  # nothing half-written


def test_glmm_grade_inside_the_student_folder_needs_no_flags(
    own_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(own_folder)
    assert grade_main(["solution.py", "--format", "json", "--no-timings"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["student"] == "s1001"
    assert [ex["exercise_id"] for ex in report["exercises"]] == ["poisson-marginal", "logit-marginal"]
    reasons = {c["reason"] for ex in report["exercises"] for c in ex["checks"]}
    assert reasons == {"not_implemented"}
    # the notebook's check import and check(...) cells are not run by the grader: no load warnings
    assert grade_main(["solution.ipynb", "--format", "json", "--no-timings"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert all(ex["load_status"] == "ok" and not ex["load_warnings"] for ex in report["exercises"])
    assert {c["reason"] for ex in report["exercises"] for c in ex["checks"]} == {"not_implemented"}


def test_glmm_grade_without_assignment_json_says_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "solution.py").write_text("x = 1\n", encoding="utf-8")
    assert grade_main([str(tmp_path / "solution.py")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "assignment.json" in err and "--exercise" in err


def test_starter_texts_give_the_one_command(course: Path) -> None:
    folder = course / "students" / "s1001"
    assert "    glmm-grade solution.py\n" in (folder / "solution.py").read_text(encoding="utf-8")
    nb = nbformat.read(folder / "solution.ipynb", as_version=4)
    assert "`glmm-grade solution.ipynb`" in nb.cells[0].source and "ASSIGNMENT_DIR" not in nb.cells[0].source
    checks = [c.source for c in nb.cells if c.source.startswith("check(")]
    assert checks == ['check("poisson-marginal")', 'check("logit-marginal")']


# The grader and the kernel's history -------------------------------------------------------------


def test_the_grader_leaves_out_only_the_kernel_check_lines(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import numpy as np\nfrom glmm_exercises.notebook import check as grade_here"),
        nbformat.v4.new_code_cell("def f(x):\n    return x\n\ngrade_here('poisson-marginal')\ny = f(2)"),
        nbformat.v4.new_code_cell("check('x')"),  # a name the helper import did not bind: kept
    ]
    path = tmp_path / "s.ipynb"
    nbformat.write(nb, path)
    cells = [source for _, source in read_cells(path)]
    assert cells[0].splitlines() == ["import numpy as np", ""]
    assert cells[1].splitlines() == ["def f(x):", "    return x", "", "", "y = f(2)"]  # line numbers kept
    assert "check('x')" in cells[2]


def test_kernel_cells_leave_out_failed_broken_and_check_only_cells() -> None:
    history = ["", "import numpy as np", "def f(:", "def g():\n    return 1", "check('poisson-marginal')",
               "1/0", "%time g()", "   "]
    assert kernel_cells(history, {5: True}) == {1: "import numpy as np", 3: "def g():\n    return 1", 6: "%time g()"}


def test_check_errors_are_one_line_and_say_what_to_do(own_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckError, match="choose one of: poisson-marginal, logit-marginal"):
        grade_kernel("expfam", ["", "x = 1"], folder=own_folder)
    with pytest.raises(CheckError, match=r"no assignment\.json"):
        grade_kernel("poisson-marginal", ["", "x = 1"], folder=tmp_path)


def test_check_in_a_terminal_ipython_prints_the_text_report(own_folder: Path) -> None:
    session = (
        "import numpy as np\n"
        "from glmm_exercises.notebook import check\n"
        "def marginal_mean(x, beta0, beta1, tau2): return np.exp(beta0 + beta1 * np.asarray(x, dtype=float) + tau2 / 2)\n"
        "check('poisson-marginal', examples=5)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", "--HistoryManager.enabled=False",
         "--simple-prompt"],
        input=session, capture_output=True, text=True, cwd=own_folder, timeout=300, check=False,
    )
    out = proc.stdout
    assert "Traceback" not in out and "Error" not in out, out[-2000:]
    assert "PASS" in out and "mean_scalar" in out  # marginal_mean defined in the session passes
    assert "does not define marginal_variance" in out
    assert "<iframe" not in out and "kernel" in out  # text, and the kernel's code named as such
    assert not list(own_folder.glob(".glmm-check-*"))  # the temporary file is gone


def test_starter_notebook_runs_top_to_bottom_with_stubs_and_with_the_keys(own_folder: Path) -> None:
    starter = own_folder / "solution.ipynb"
    stubs = check_results(run_notebook(starter))
    assert set(stubs) == {"poisson-marginal", "logit-marginal"}
    for eid, data in stubs.items():
        assert data["score"] == 0 and data["checks"], eid
        assert {c["reason"] for c in data["checks"]} == {"not_implemented"}, eid
        assert "not yet implemented" in data["_text"] and data["_html"].startswith("<iframe")
        assert all(c["visibility"] == "public" for c in data["checks"])

    keyed = own_folder / "key.ipynb"
    keyed.write_text(key_notebook(starter.read_text(encoding="utf-8")), encoding="utf-8")
    keys = check_results(run_notebook(keyed))
    for eid, data in keys.items():
        assert data["score"] == data["max_score"] > 0, (eid, data["_text"])
        assert data["student"] == "s1001" and not data["load_warnings"], eid
    assert not list(own_folder.glob(".glmm-check-*"))


# Figures on the sheets ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def figure_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _course(tmp_path_factory.mktemp("fig"), (*FIGURE_EXERCISES, "expfam"))


def test_html_sheet_holds_the_svg_inline_and_markdown_links_the_file(figure_course: Path) -> None:
    folder = figure_course / "students" / "s1002"
    html, md = (folder / "sheet.html").read_text(encoding="utf-8"), (folder / "sheet.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in (folder / "figures").iterdir()) == sorted(f"{e}.svg" for e in FIGURE_EXERCISES)
    for eid in FIGURE_EXERCISES:
        svg = (folder / "figures" / f"{eid}.svg").read_text(encoding="utf-8")
        assert svg.startswith("<svg") and f'<figure class="plot">{svg}</figure>' in html
        assert f"](figures/{eid}.svg)" in md
    assert "<img" not in html and 'href="http' not in html and "src=" not in html  # offline
    assert not has_figure("expfam") and "figures/expfam" not in md
    assert "figures/" in (folder / "README.md").read_text(encoding="utf-8")


def test_figures_are_reproducible_byte_for_byte() -> None:
    for eid in FIGURE_EXERCISES:
        params = variant_params(SEED, "s1001", eid)
        data = exercise_module(eid).make_data(params)
        first = exercise_figure(eid, params, data)
        assert first is not None and first == exercise_figure(eid, params, data)
        assert "<dc:date>" not in first
    probe = (
        "from glmm_exercises.figures import exercise_figure as f; from glmm_exercises.variants import "
        f"variant_params as v, exercise_module as m; p = v({SEED}, 's1001', 'beaches-solutions'); "
        "print(f('beaches-solutions', p, m('beaches-solutions').make_data(p)), end='')"
    )
    other_process = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    params = variant_params(SEED, "s1001", "beaches-solutions")
    assert other_process == exercise_figure("beaches-solutions", params, exercise_module("beaches-solutions").make_data(params))
    other = variant_params(SEED, "s1002", "poisson-marginal")
    assert exercise_figure("poisson-marginal", other, {}) != exercise_figure(
        "poisson-marginal", variant_params(SEED, "s1001", "poisson-marginal"), {})


def _lines(fig: object) -> dict[str, np.ndarray]:
    ax = fig.axes[0]  # type: ignore[attr-defined]
    return {line.get_label(): np.asarray(line.get_ydata(), dtype=float) for line in ax.lines}


def test_poisson_figure_draws_the_variants_curves() -> None:
    p = variant_params(SEED, "s1001", "poisson-marginal")
    fig = draw_figure("poisson-marginal", p, {})
    lines = _lines(fig)
    x = np.asarray(fig.axes[0].lines[0].get_xdata(), dtype=float)
    eta = p["beta0"] + p["beta1"] * x
    np.testing.assert_allclose(lines["population mean"], np.exp(eta + p["tau2"] / 2), rtol=1e-8)
    np.testing.assert_allclose(lines['"not mean"'], np.exp(eta), rtol=1e-12)
    clusters = [line for line in fig.axes[0].lines if line.get_label().startswith("_")]
    assert len(clusters) == CLUSTER_CURVES
    ratios = np.array([np.asarray(c.get_ydata()) for c in clusters]) / np.exp(eta)
    assert np.allclose(ratios, ratios[:, :1])  # random intercept only: each curve is a shifted exp(η)


def test_beaches_figure_plots_every_row_of_the_data() -> None:
    p = variant_params(SEED, "s1001", "beaches-solutions")
    data = exercise_module("beaches-solutions").make_data(p)
    fig = draw_figure("beaches-solutions", p, data)
    points = sorted(
        (float(x), float(y)) for line in fig.axes[0].lines for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)
    )
    frame = data["beaches"]
    assert points == sorted(zip(frame["NAP"].astype(float), frame["Richness"].astype(float), strict=True))
    assert len(fig.axes[0].lines) == p["n_beaches"]


def test_readme_and_sheets_are_written_for_students_not_instructors(figure_course: Path) -> None:
    for path in (figure_course / "students" / "s1001").rglob("*"):
        if path.is_file() and path.suffix in (".md", ".html", ".svg", ".py", ".ipynb"):
            text = path.read_text(encoding="utf-8")
            assert "instructor/" not in text and "keys/" not in text, path


def test_demo_names_commands_as_they_can_be_typed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from glmm_exercises.demo import command_path

    bin_dir = Path(sys.executable).parent
    monkeypatch.setenv("PATH", str(tmp_path))  # the venv is not activated
    typed = command_path("glmm-grade")
    assert typed != "glmm-grade" and (Path.cwd() / typed).resolve() == (bin_dir / "glmm-grade").resolve()
    monkeypatch.setenv("PATH", str(bin_dir))
    if (bin_dir / "glmm-grade").is_file():
        assert command_path("glmm-grade") == "glmm-grade"


def test_student_help_says_what_it_does(capsys: pytest.CaptureFixture[str]) -> None:
    assert grade_main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "batch" in text and "manifest" in text and "optional" in text
