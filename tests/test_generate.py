"""`glmm-exercises generate` and the student flow `glmm-grade --assignment`: determinism, layout,
starter files, answer keys at full marks, MathML sheets (and a headless Chromium look at one)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import runpy
import struct
import subprocess
import zlib
from pathlib import Path

import nbformat
import pytest

from glmm_exercises import generate as generate_module
from glmm_exercises.catalogue import exercise_ids, exercise_module, key_path, mutant_paths
from glmm_exercises.cli import main as exercises_main
from glmm_exercises.config import load_config
from glmm_exercises.sheets import MathError, markdown_to_html
from glmm_exercises.variants import course_seed_hash, variant_params, variant_rng
from graders.cli import main as grade_main

EX = "poisson-marginal"
SEED = 0x1234_5678_9ABC_DEF0
STUDENTS = ("alice", "bob.b", "carol-3")
CONFIG = f'course = "GLMM 2026"\ntitle = "Assignment 1"\nexercises = ["{EX}"]\nexamples = 10\n'


def write_inputs(tmp: Path, students: tuple[str, ...] = STUDENTS, config: str | None = CONFIG) -> list[str]:
    rows = "".join(f"{s},Name {s},{s}@example.org\n" for s in students)
    (tmp / "roster.csv").write_text("student_id,name,email\n" + rows, encoding="utf-8")
    argv = ["generate", "--roster", str(tmp / "roster.csv"), "--seed", str(SEED), "-q"]
    if config is not None:
        (tmp / "assignment.toml").write_text(config, encoding="utf-8")
        argv += ["--config", str(tmp / "assignment.toml")]
    return argv


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def assignment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("assignment")
    assert exercises_main([*write_inputs(tmp), "--out", str(tmp / "out")]) == 0
    return tmp / "out"


# Variants ----------------------------------------------------------------------------------------


def test_variant_rng_depends_on_all_three_inputs_only() -> None:
    draw = lambda *a: variant_rng(*a).integers(0, 2**62, 4).tolist()  # noqa: E731
    base = draw(1, "s1", EX)
    assert draw(1, "s1", EX) == base
    assert draw(2, "s1", EX) != base and draw(1, "s2", EX) != base and draw(1, "s1", "other") != base
    # no accidental collision from joining the parts: ("s1", "x") vs ("s", "1x")
    assert draw(1, "s1", "x") != draw(1, "s", "1x")
    with pytest.raises(ValueError, match="course seed"):
        variant_rng(-1, "s1", EX)


def test_variant_params_are_well_posed_plain_data_and_vary() -> None:
    module = exercise_module(EX)
    drawn = [variant_params(SEED, f"s{i}", EX) for i in range(30)]
    assert all(module.problems(p) == [] for p in drawn)
    assert all(json.loads(json.dumps(p)) == p for p in drawn)
    assert len({json.dumps(p, sort_keys=True) for p in drawn}) == 30
    assert len({(p["x_min"], p["x_max"]) for p in drawn}) > 3
    assert module.problems({**module.DEFAULT_PARAMS, "x_min": 2.0, "x_max": 1.0})


# Layout, manifest, determinism ---------------------------------------------------------------------


def test_layout_and_manifest(assignment: Path, tmp_path: Path) -> None:
    for sid in STUDENTS:
        names = {p.name for p in (assignment / "students" / sid).iterdir()}
        assert {"sheet.html", "sheet.md", "solution.py", "solution.ipynb", "assignment.json"} <= names
    manifest = json.loads((assignment / "instructor" / "manifest.json").read_text(encoding="utf-8"))
    roster_bytes = (assignment.parent / "roster.csv").read_bytes()
    assert manifest["roster"]["sha256"] == hashlib.sha256(roster_bytes).hexdigest()
    assert manifest["course_seed"] == course_seed_hash(SEED)
    assert str(SEED) not in (assignment / "instructor" / "manifest.json").read_text(encoding="utf-8")
    assert manifest["exercises"][EX]["version"] == exercise_module(EX).VERSION
    assert list(manifest["students"]) == sorted(STUDENTS)
    for sid in STUDENTS:
        entry = manifest["students"][sid]
        assert entry["email"] == f"{sid}@example.org"
        assert entry["exercises"][EX]["params"] == variant_params(SEED, sid, EX)
        own = json.loads((assignment / "students" / sid / "assignment.json").read_text(encoding="utf-8"))
        assert own["exercises"] == entry["exercises"] and own["student"] == {"student_id": sid}
    assert (assignment / "instructor" / "keys" / f"{EX}.py").read_bytes() == key_path(EX).read_bytes()
    assert load_config(assignment / "instructor" / "assignment.toml") == load_config(assignment.parent / "assignment.toml")


def test_generate_twice_gives_identical_bytes_and_ignores_roster_order(tmp_path: Path) -> None:
    argv = write_inputs(tmp_path)
    assert exercises_main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert exercises_main([*argv, "--out", str(tmp_path / "b")]) == 0
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert a == b and len(a) >= 5 * len(STUDENTS) + 3
    # the same students in another order get the same files (only the roster hash differs)
    (tmp_path / "rev").mkdir()
    argv_rev = write_inputs(tmp_path / "rev", students=tuple(reversed(STUDENTS)))
    assert exercises_main([*argv_rev, "--out", str(tmp_path / "c")]) == 0
    c = tree(tmp_path / "c")
    for name, data in a.items():
        if name.startswith("students/"):
            assert c[name] == data, name
    assert c["instructor/manifest.json"] != a["instructor/manifest.json"]
    # another course seed changes the variants
    argv_other = [*argv, "--out", str(tmp_path / "d")]
    argv_other[argv_other.index("--seed") + 1] = str(SEED + 1)
    assert exercises_main(argv_other) == 0
    d = tree(tmp_path / "d")
    assert d["students/alice/solution.py"] != a["students/alice/solution.py"]


def _protocol_gaps(eid: str) -> list[str]:
    from importlib.resources import files

    from glmm_exercises.variants import check_protocol

    module = exercise_module(eid)
    gaps = check_protocol(module)
    if not gaps and not files("glmm_exercises.templates").joinpath(module.SHEET).is_file():
        gaps.append(f"no sheet template {module.SHEET}")
    return gaps


@pytest.mark.parametrize("eid", exercise_ids())
def test_every_catalogue_exercise_generates_deterministically(eid: str, tmp_path: Path) -> None:
    gaps = _protocol_gaps(eid)
    if gaps:
        pytest.skip(f"{eid} does not follow docs/catalogue-protocol.md yet: {'; '.join(gaps)}")
    argv = write_inputs(tmp_path, config=f'exercises = ["{eid}"]\n')
    assert exercises_main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert exercises_main([*argv, "--out", str(tmp_path / "b")]) == 0
    a = tree(tmp_path / "a")
    assert a == tree(tmp_path / "b")
    module = exercise_module(eid)
    for sid in STUDENTS:
        params = variant_params(SEED, sid, eid)
        assert module.problems(params) == []
        data = module.make_data(params)
        assert sorted(n for n in a if n.startswith(f"students/{sid}/data/")) == sorted(
            f"students/{sid}/data/{eid}/{name}.csv" for name in data
        )
        assert "<math" in a[f"students/{sid}/sheet.html"].decode()
        ns = runpy.run_path(str(tmp_path / "a" / "students" / sid / "solution.py"))
        for spec in module.build(params).functions:
            assert callable(ns[spec.name])


def test_existing_output_needs_force_and_failures_write_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = write_inputs(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    assert exercises_main([*argv, "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert tree(out) == {"notes.txt": b"mine"}

    calls = []

    def broken(markdown: str, *, title: str, figures: object = None) -> str:
        calls.append(title)
        if len(calls) == 2:
            raise OSError("disk full")
        return "<html></html>"

    monkeypatch.setattr(generate_module, "render_sheet_html", broken)
    assert exercises_main([*argv, "--out", str(out), "--force"]) == 2
    assert "disk full" in capsys.readouterr().err
    assert tree(out) == {"notes.txt": b"mine"}  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assignment.toml", "out", "roster.csv"]  # no temp dir left
    monkeypatch.undo()
    assert exercises_main([*argv, "--out", str(out), "--force"]) == 0
    assert not (out / "notes.txt").exists() and (out / "instructor" / "manifest.json").is_file()


def test_list_shows_every_exercise(capsys: pytest.CaptureFixture[str]) -> None:
    assert exercises_main(["list"]) == 0
    out = capsys.readouterr().out
    for eid in exercise_ids():
        assert re.search(rf"^{re.escape(eid)}\s", out, re.M)
    assert "marginal_mean, marginal_variance" in out


# Starter files -------------------------------------------------------------------------------------


def test_starter_files_import_and_raise_not_implemented(assignment: Path) -> None:
    folder = assignment / "students" / "bob.b"
    ns = runpy.run_path(str(folder / "solution.py"))
    for name in ("marginal_mean", "marginal_variance"):
        with pytest.raises(NotImplementedError):
            ns[name](0.0, 0.0, 0.0, 0.0)
        assert "Poisson log random-intercept model" in ns[name].__doc__
    text = (folder / "solution.py").read_text(encoding="utf-8")
    params = variant_params(SEED, "bob.b", EX)
    assert f"#   x_min = {params['x_min']}" in text and f"#   tau2 = {params['tau2']}" in text
    nb = nbformat.read(folder / "solution.ipynb", as_version=4)
    nbformat.validate(nb)
    code = "\n\n".join(c.source for c in nb.cells if c.cell_type == "code")
    nb_ns: dict[str, object] = {}
    exec(compile(code, "solution.ipynb", "exec"), nb_ns)
    assert callable(nb_ns["marginal_mean"]) and callable(nb_ns["marginal_variance"])


def grade_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    code = grade_main([*argv, "--format", "json", "--no-timings"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_unfilled_starter_grades_as_not_implemented(assignment: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = assignment / "students" / "alice"
    report = grade_json(capsys, [str(folder / "solution.py"), "--assignment", str(assignment), "--student", "alice"])
    assert report["student"] == "alice" and report["score"] == 0
    [ex] = report["exercises"]
    assert ex["exercise_id"] == EX and ex["mode"] == "public" and ex["examples_per_check"] == 10
    assert ex["checks"] and {c["reason"] for c in ex["checks"]} == {"not_implemented"}
    assert all("not yet implemented" in c["message"] for c in ex["checks"])


def test_answer_keys_get_full_marks_for_every_student(assignment: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = assignment / "instructor" / "key_solution.py"
    for sid in STUDENTS:
        report = grade_json(
            capsys, [str(key), "--assignment", str(assignment), "--student", sid, "--all", "--seed", str(2**40 + 3)]
        )
        [ex] = report["exercises"]
        assert ex["mode"] == "all" and ex["student"] == sid
        assert {c["visibility"] for c in ex["checks"]} == {"public", "hidden"}
        assert report["percent"] == 100.0 and report["max_score"] == ex["max_score"] > 0


def test_student_folder_is_enough_to_grade(assignment: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = assignment / "students" / "carol-3"
    mutant = mutant_paths(EX)["variance_poisson_only"]
    report = grade_json(capsys, [str(mutant), "--assignment", str(folder), "--examples", "15"])
    [ex] = report["exercises"]
    assert report["student"] == "carol-3" and ex["examples_per_check"] == 15
    failed = {c["name"] for c in ex["checks"] if c["status"] != "passed"}
    assert failed == {"variance_scalar", "variance_vector"}
    assert grade_main([str(mutant), "--assignment", str(folder), "--student", "alice"]) == 2
    assert "belongs to student 'carol-3'" in capsys.readouterr().err


def test_assignment_errors_are_one_line_exit_2(assignment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = assignment / "instructor" / "key_solution.py"
    cases = [
        ([str(key), "--assignment", str(assignment), "--student", "zed"], "student 'zed' is not on this assignment's roster"),
        ([str(key), "--assignment", str(assignment)], "needs --student"),
        ([str(key), "--assignment", str(tmp_path)], "holds neither"),
        ([str(key), "--assignment", str(assignment), "--exercise", EX], "not allowed with argument"),
    ]
    for argv, message in cases:
        assert grade_main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_reports_show_each_exercise_in_every_format(assignment: Path, tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from glmm_exercises.assignment import grade_assignment, load_assignment, render_assignment

    folder = assignment / "students" / "alice"
    out = tmp_path / "report.html"
    assert grade_main([str(folder / "solution.py"), "--assignment", str(folder), "--format", "html", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert f'id="ex-{EX}"' in page and "Total: 0/" in page and "not yet implemented" in page

    result = grade_assignment(folder / "solution.py", load_assignment(assignment, "alice"), max_examples=3)
    [ex] = result.results
    text = render_assignment(result, "text", timings=False)
    assert f"[{EX} v1]" in text and f"total 0/{ex.max_score:g}" in text
    md = render_assignment(result, "md", timings=False)
    assert f"(`{EX}`) | 0/{ex.max_score:g} |" in md
    gradescope = json.loads(render_assignment(result, "gradescope", timings=False))
    assert gradescope["score"] == 0 and len(gradescope["tests"]) == len(ex.checks)
    assert all(t["name"].startswith(f"{EX} / ") for t in gradescope["tests"])
    suites = ET.fromstring(render_assignment(result, "junit", timings=False).split("?>", 1)[1])
    assert [s.get("name") for s in suites] == [EX] and suites[0].get("failures") == str(len(ex.checks))
    with pytest.raises(ValueError, match="unknown report format"):
        render_assignment(result, "pdf")


# Sheets --------------------------------------------------------------------------------------------


def test_sheets_render_math_as_mathml(assignment: Path) -> None:
    html = (assignment / "students" / "alice" / "sheet.html").read_text(encoding="utf-8")
    md = (assignment / "students" / "alice" / "sheet.md").read_text(encoding="utf-8")
    params = variant_params(SEED, "alice", EX)
    assert md.count("$$") >= 2 and r"\beta_0" in md
    assert html.count("<math") >= 10 and 'display="block"' in html
    assert "$" not in html and r"\beta" not in html and "GLMMMATH" not in html
    assert "<script" not in html and "http" not in html.split("</head>")[0].replace('http://www.w3.org', '')
    assert f"{params['beta0']}" in md and "Assignment 1" in html and "GLMM 2026" in html


def test_markdown_math_splitting_leaves_code_alone() -> None:
    out = markdown_to_html("Cost \\$5, `a $b$ c` and $x^2$.\n\n```\n$not math$\n```\n")
    assert "$5" in out and "<code>a $b$ c</code>" in out and "$not math$" in out
    assert out.count("<math") == 1 and "<msup>" in out
    with pytest.raises(MathError, match="unclosed"):
        markdown_to_html("an $open formula\n")


CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None)


def _png_rows(path: Path) -> list[bytes]:
    """Decode an 8-bit RGB/RGBA non-interlaced PNG into rows of pixel bytes (enough for screenshots)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride, rows, prev = width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line[j] for j in range(stride) if j % bpp < 3))
        prev = line
    return rows


def _ink_rows(rows: list[bytes]) -> list[int]:
    return [y for y, row in enumerate(rows) if min(row) < 128]


def _screenshot(page: Path, png: Path, tmp: Path, size: str = "900,600") -> None:
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp / 'chromium-profile'}", f"--screenshot={png}", f"--window-size={size}",
        "--hide-scrollbars", page.as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed at /usr/bin/chromium (apt-get install chromium)")
def test_sheet_renders_in_headless_chromium(assignment: Path, tmp_path: Path) -> None:
    # 1. the real sheet draws text (not a blank or error page)
    png = tmp_path / "sheet.png"
    _screenshot(assignment / "students" / "alice" / "sheet.html", png, tmp_path)
    rows = _png_rows(png)
    assert len(_ink_rows(rows)) > len(rows) // 4
    # 2. MathML is laid out as math: a display fraction is much taller than one line of text,
    #    while the same TeX left as plain text (the control) stays one line high
    from glmm_exercises.sheets import render_sheet_html

    heights = {}
    for name, body in (
        ("frac", "$$\\frac{\\beta_0}{\\tau^2}$$"),
        ("line", "b0 / t2"),
        ("raw", "\\frac{\\beta_0}{\\tau^2}"),
    ):
        html = render_sheet_html(body, title="t").replace("<body>", '<body style="font-size:40px">')
        (tmp_path / f"{name}.html").write_text(html, encoding="utf-8")
        _screenshot(tmp_path / f"{name}.html", tmp_path / f"{name}.png", tmp_path, "1600,300")
        ink = _ink_rows(_png_rows(tmp_path / f"{name}.png"))
        assert ink, name
        heights[name] = ink[-1] - ink[0]
    assert heights["raw"] < 1.6 * heights["line"] < heights["frac"], heights


def test_roster_and_config_text_cannot_break_the_sheet(tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_text('student_id,name\ns1,"Ke$ha <b>*x*</b>"\n', encoding="utf-8")
    (tmp_path / "a.toml").write_text(f'exercises = ["{EX}"]\ncourse = "Stats $101 <i>"\n', encoding="utf-8")
    argv = ["generate", "--roster", str(tmp_path / "roster.csv"), "--seed", "5", "--out", str(tmp_path / "o"), "-q"]
    assert exercises_main([*argv, "--config", str(tmp_path / "a.toml")]) == 0
    html = (tmp_path / "o" / "students" / "s1" / "sheet.html").read_text(encoding="utf-8")
    assert "Ke$ha &lt;b&gt;*x*&lt;/b&gt;" in html and "Stats $101 &lt;i&gt;" in html
    assert "<b>" not in html and "<i>" not in html


def test_combined_key_binds_every_function_of_the_catalogue(tmp_path: Path) -> None:
    from glmm_exercises.variants import build_exercise

    names = {eid: tuple(f.name for f in build_exercise(eid).functions) for eid in exercise_ids()}
    path = tmp_path / "key_solution.py"
    path.write_text(generate_module._combined_key(names), encoding="utf-8")
    ns = runpy.run_path(str(path), run_name="key_solution")
    for eid, functions in names.items():
        for name in functions:
            assert callable(ns[name]), (eid, name)
            assert ns[name].__module__ == "key_solution"  # the sandbox counts it as defined by the file
    ns_key = runpy.run_path(str(key_path(EX)))
    assert ns["marginal_mean"](1.0, 0.5, 0.3, 1.0) == ns_key["marginal_mean"](1.0, 0.5, 0.3, 1.0)


@pytest.mark.slow
def test_combined_key_full_marks_on_the_whole_catalogue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = write_inputs(tmp_path, students=("s1",), config=None)
    assert exercises_main([*argv, "--out", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    key = tmp_path / "out" / "instructor" / "key_solution.py"
    report = grade_json(capsys, [str(key), "--assignment", str(tmp_path / "out"), "--student", "s1", "--examples", "10"])
    assert len(report["exercises"]) == len(exercise_ids())
    assert report["percent"] == 100.0, [c["message"] for e in report["exercises"] for c in e["checks"] if c["status"] != "passed"]


def test_grading_refuses_an_assignment_from_another_exercise_version(
    assignment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = json.loads((assignment / "students" / "alice" / "assignment.json").read_text(encoding="utf-8"))
    own["exercises"][EX]["version"] = "0"
    (tmp_path / "assignment.json").write_text(json.dumps(own), encoding="utf-8")
    solution = assignment / "students" / "alice" / "solution.py"
    assert grade_main([str(solution), "--assignment", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"generated with {EX} version 0, but this installation has version 1" in err
    (tmp_path / "assignment.json").write_text("{not json", encoding="utf-8")
    assert grade_main([str(solution), "--assignment", str(tmp_path)]) == 2
    assert "regenerate the assignment" in capsys.readouterr().err
