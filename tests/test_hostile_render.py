"""Hostile text and values in every report, table and summary (issue 10, findings 5-7).

A student's program controls its messages, printed output, tracebacks and returned values; a
roster controls names and ids. Whatever they hold, every writer must produce strict UTF-8 with no
terminal control characters, JUnit must be well-formed XML 1.0, JSON must parse, gradebook cells
must not be spreadsheet formulas, names must stay on one line, and reports must stay small.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from _fake_sandbox import fake_factory
from hypothesis import given, settings
from hypothesis import strategies as st

from glmm_exercises.assignment import AssignmentResult, render_assignment
from glmm_exercises.catalogue import get_exercise
from glmm_exercises.roster import RosterError, parse_roster
from graders.gradebook import gradebook_table, write_gradebook
from graders.render import FORMATS, MAX_REPORT_BYTES, SHORTENED_NOTE, render
from graders.results import CheckResult, SubmissionResult, to_plain
from graders.runner import grade
from graders.safe_text import clean, csv_cell, one_line, summarise_value, xml_text
from graders.summary import render_summary_html, summary_model, svg_plots

#: Everything the attacker tried: a lone surrogate, ANSI/OSC escapes, NUL, BEL, NEL, line
#: separators, CR, a bidirectional override, XML noncharacters.
NASTY = [
    "\ud800",
    "\udfff",
    "\x1b[2J",
    "\x1b]0;title\x07",
    "\x1b[1A\x1b[2K",
    "\x9b31m",
    "\x00",
    "\x07",
    "\x85",
    "\u2028",
    "\u2029",
    "\r",
    "\x0b\x0c",
    "\u202e",
    "\ufffe\uffff",
]
HOSTILE = "start " + " | ".join(NASTY) + " end\nsecond line"
FORMULAS = ['=HYPERLINK("http://x")', "-A1-B1", "@SUM(1)", "+1", "\tX", "\rX"]
BIG = np.arange(2**20, dtype=float)

# Characters no report may contain: C0 but tab and newline, DEL, C1, bidi overrides, surrogates.
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# Characters XML 1.0 does not allow.
XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
OUR_COLOURS = re.compile(r"\x1b\[\d+m")


def _check(name: str, **kw: object) -> CheckResult:
    options: dict = {
        "function": "marginal_mean",
        "description": f"checks {name}",
        "visibility": "public",
        "status": "failed",
        "reason": "mismatch",
        "score": 0.0,
        "max_score": 2.0,
        "message": f"marginal_mean(x=0.0): {HOSTILE}\nPASS    forged_check  2/2  forged",
        "runtime": 0.25,
    } | kw
    return CheckResult(name=name, **options)  # type: ignore[arg-type]


def _hostile_result(exercise_id: str = "poisson-marginal") -> SubmissionResult:
    return SubmissionResult(
        exercise_id=exercise_id,
        exercise_version="1",
        exercise_title=f"Title {HOSTILE}",
        submission="evil\nname\x1b[2J.py",
        student=f"Eve\n{HOSTILE}",
        mode="all",
        seed_ref="sha256:0123456789abcdef",
        load_status="ok",
        load_message=f"stdout: {HOSTILE}\nTraceback (most recent call last):\n  {HOSTILE}",
        isolation="test isolation",
        package_versions={"python": "3.11", f"numpy{HOSTILE}": HOSTILE},
        checks=(
            _check("passes", status="passed", reason="ok", score=2.0, message="passed (3 calls)"),
            _check(
                "big_value",
                counterexample={"x": [0.0], f"arg{HOSTILE}": HOSTILE},
                expected=BIG,
                got=BIG + 1,
                hint=f"hint {HOSTILE}",
            ),
            _check("strings", expected=["a"], got=[HOSTILE] * 50, hint=None),
            _check("crash", status="error", reason="exception", message=f"ValueError: {HOSTILE}"),
            _check(f"name{HOSTILE}", status="timeout", reason="timeout", description=f"desc {HOSTILE} |x|"),
        ),
        examples_per_check=20,
        execution_time=3.5,
    )


def _assert_safe_text(out: str, fmt: str) -> None:
    out.encode("utf-8")  # strict: raises on a lone surrogate
    body = OUR_COLOURS.sub("", out) if fmt == "text" else out
    bad = FORBIDDEN.search(body)
    assert bad is None, f"{fmt}: {bad.group()!r} at {bad.start()}: {body[max(bad.start() - 40, 0):bad.start() + 10]!r}"
    assert len(out.encode("utf-8")) <= MAX_REPORT_BYTES, fmt


def _assert_format(out: str, fmt: str) -> None:
    _assert_safe_text(out, fmt)
    if fmt in ("json", "gradescope"):
        json.loads(out)
    if fmt == "junit":
        assert XML_INVALID.search(out) is None
        ET.fromstring(out.encode("utf-8"))


# The result model and the single-exercise renderers ---------------------------------------------


def test_the_result_model_keeps_no_lone_surrogate_and_no_huge_value() -> None:
    result = _hostile_result()
    data = json.dumps(result.to_dict(), ensure_ascii=False)
    data.encode("utf-8")
    assert FORBIDDEN.search(data) is None
    big = result.checks[1]
    assert isinstance(big.got, str) and "summarised" in big.got and "1048576" in big.got
    assert "1048576" in big.got and "max 1048576" in big.got  # BIG + 1 ends at 2**20
    assert len(data) < 60_000, len(data)
    assert "\n" not in result.student and "\n" not in result.submission  # type: ignore[operator]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_neutralises_hostile_text(fmt: str) -> None:
    result = _hostile_result()
    for out in (render(result, fmt), render(result, fmt, timings=False, colour=True)):
        _assert_format(out, fmt)
        assert len(out) < 200_000, (fmt, len(out))  # the 2^20-float arrays are summarised
        assert "summarised" in out


def test_text_report_keeps_forged_lines_and_names_in_their_place() -> None:
    text = render(_hostile_result(), "text", colour=True)
    plain = OUR_COLOURS.sub("", text)
    assert "\\x1b[2J" in plain  # the escape is shown, not acted on
    starts = [line.split(" ", 1)[0] for line in plain.splitlines() if line and not line.startswith(" ")]
    marks = [s for s in starts if s in ("PASS", "FAIL", "ERROR", "TIMEOUT")]
    assert marks == ["PASS", "FAIL", "FAIL", "ERROR", "TIMEOUT"], starts
    assert not any("forged_check" in line and not line.startswith(" ") for line in plain.splitlines())
    [student_line] = [line for line in plain.splitlines() if "student:" in line]
    assert "Eve start" in student_line and "evil name" in student_line


def test_markdown_table_rows_survive_newlines_and_pipes_in_names() -> None:
    md = render(_hostile_result(), "md")
    rows = [line for line in md.splitlines() if line.startswith("| ") and "/2 |" in line]
    assert len(rows) == 5 and all(row.count(" | ") == 3 for row in rows), rows


def test_junit_attributes_and_text_hold_the_visible_escapes() -> None:
    suite = ET.fromstring(render(_hostile_result(), "junit").encode("utf-8"))
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["student"] is not None and "\n" not in props["student"] and "\\x07" in props["student"]
    failure = suite.find("testcase/failure")
    assert failure is not None and "\\x00" in (failure.text or "")


def test_a_huge_report_is_shortened_under_the_cap_and_says_so() -> None:
    checks = tuple(
        _check(f"c{i}", message=f"m{i} " + "y" * 19_000, got=[float(j) for j in range(150)], expected=[0.0] * 150)
        for i in range(150)
    )
    result = _hostile_result()
    result = SubmissionResult(**{**result.__dict__, "checks": checks})
    assert len(result.to_dict()["checks"][0]["message"]) > 19_000  # each message alone is fine
    for fmt in FORMATS:
        out = render(result, fmt, timings=False)
        _assert_format(out, fmt)
        if fmt == "json":
            assert "more characters not shown" in out
        else:
            assert SHORTENED_NOTE in out.replace("\\", "").replace("\n", " "), fmt


def test_grading_a_submission_that_raises_a_lone_surrogate_renders_everything(tmp_path: Path) -> None:
    path = tmp_path / "solution.py"
    path.write_text(
        "import numpy as np\n"
        "def marginal_mean(x, beta0, beta1, tau2):\n"
        "    print('\\x1b[2J')\n"
        "    raise ValueError('\\ud800 \\x1b]0;title\\x07 \\x00 boom')\n"
        "def marginal_variance(x, beta0, beta1, tau2):\n"
        "    return np.arange(2.0**20)\n",
        encoding="utf-8",
    )
    result = grade(path, get_exercise("poisson-marginal"), max_examples=3, sandbox_factory=fake_factory())
    assert any("ValueError: \ufffd \\x1b]0;title\\x07 \\x00 boom" in c.message for c in result.checks)
    for fmt in FORMATS:
        out = render(result, fmt)
        _assert_format(out, fmt)
        assert len(out) < 200_000, (fmt, len(out))


# Assignment reports --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_assignment_reports_neutralise_hostile_text(fmt: str) -> None:
    result = AssignmentResult(
        student=f"-A1-B1\n{HOSTILE}",
        title=f"Sheet {HOSTILE}",
        course=f"Course {HOSTILE}",
        results=(_hostile_result(), _hostile_result("logit-marginal")),
    )
    out = render_assignment(result, fmt, colour=True)
    _assert_format(out, fmt)
    assert len(out) < 400_000, (fmt, len(out))
    if fmt == "junit":
        assert [s.get("name") for s in ET.fromstring(out.encode("utf-8"))] == ["poisson-marginal", "logit-marginal"]


# Gradebook and summary ----------------------------------------------------------------------------


def _batch_doc(score: float) -> dict:
    result = _hostile_result()
    return {
        "status": "graded",
        "message": "",
        "score": score,
        "max_score": 10.0,
        "percent": 10.0 * score,
        "exercises": [result.to_dict() | {"score": score, "max_score": 10.0}],
    }


def _gradebook_inputs() -> tuple[list, dict, list[str]]:
    roster = {f"id{i}": {"name": name, "email": f"{name}@x"} for i, name in enumerate(FORMULAS)}
    roster["-A1-B1"] = {"name": f"Eve\n{HOSTILE}", "email": HOSTILE}
    results = [(sid, _batch_doc(float(i))) for i, sid in enumerate(sorted(roster))]
    results.append(("@SUM(1)", {"status": "grading_failed", "message": f"crashed: {HOSTILE}"}))
    results.append(("=1+1", None))
    return results, roster, ["poisson-marginal"]


def test_gradebook_cells_cannot_be_formulas_or_break_lines(tmp_path: Path) -> None:
    results, roster, ids = _gradebook_inputs()
    path = tmp_path / "gradebook.csv"
    write_gradebook(path, results, roster, ids)
    raw = path.read_bytes().decode("utf-8")  # strict
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    assert len(rows) == len(results) + 1 and raw.count("\r\n") == len(rows)  # no line break in a cell
    header, body = rows[0], rows[1:]
    points = header.index("poisson-marginal (10)")
    for row in body:
        for i, cell in enumerate(row):
            assert FORBIDDEN.search(cell) is None and "\n" not in cell, cell
            if i in (points, points + 1, points + 2) and cell:
                float(cell)  # our numbers stay numbers
            elif cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                pytest.fail(f"cell {cell!r} would be a formula")
    cells = {c for row in body for c in row}
    for text in ['\'=HYPERLINK("http://x")', "'-A1-B1", "'@SUM(1)", "'+1", "'=1+1"]:
        assert text in cells, text
    assert " X" in cells and "\\rX" in cells  # the tab became a space, the CR is shown
    assert any(c.startswith("Eve start") and "\\x1b[2J" in c for c in cells)


def test_gradebook_table_keeps_plain_names_and_points_as_they_are() -> None:
    doc = _batch_doc(7.5)
    table = gradebook_table([("s1", doc)], {"s1": {"name": "Ann O'Neil", "email": "a@b"}}, ["poisson-marginal"])
    assert table[1][:6] == ["s1", "Ann O'Neil", "a@b", "7.5", "7.5", "75.00"]


def test_summary_json_and_html_are_clean() -> None:
    results, _, ids = _gradebook_inputs()
    model = summary_model(results, ids, title=f"T {HOSTILE}", course=HOSTILE)
    text = json.dumps(model, indent=2, ensure_ascii=False)
    text.encode("utf-8")
    assert FORBIDDEN.search(text) is None
    assert all("\n" not in f["student"] for f in model["not_graded"])
    page = render_summary_html(model, None)
    _assert_safe_text(page, "html")
    assert "\\x1b[2J" in page


def test_summary_plots_take_hostile_names_and_dollar_signs() -> None:
    pytest.importorskip("matplotlib")
    results, _, ids = _gradebook_inputs()
    model = summary_model(results, ids)
    model["mistakes"] = [{"exercise_id": "e", "checks": ["c"], "hint": "use $\\frac{ and \x1b[2J", "students": 2}]
    plots = svg_plots(model)
    assert plots is not None and set(plots) == {"distribution", "failures", "mistakes"}
    _assert_safe_text(render_summary_html(model, plots), "html")


def test_roster_errors_name_the_file_on_one_line() -> None:
    with pytest.raises(RosterError) as info:
        parse_roster(b"name\nx\n", source="class\n\x1b[2J\ud800.csv")
    message = str(info.value)
    message.encode("utf-8")
    assert "\n" not in message and FORBIDDEN.search(message) is None and "class \\x1b[2J" in message


# The helpers themselves ---------------------------------------------------------------------------

ANY_TEXT = st.lists(
    st.one_of(st.text(st.characters(exclude_categories=())), st.sampled_from(NASTY + FORMULAS)), max_size=8
).map("".join)
LINE_BREAKS = set("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
HYPOTHESIS = settings(derandomize=True, database=None, deadline=None, max_examples=300)


@HYPOTHESIS
@given(ANY_TEXT)
def test_clean_is_safe_idempotent_and_keeps_ordinary_text(s: str) -> None:
    out = clean(s)
    out.encode("utf-8")
    assert FORBIDDEN.search(out) is None
    assert {ch for ch in out if ch in LINE_BREAKS} <= {"\n"}  # splitlines splits only at \n
    assert clean(out) == out
    if not FORBIDDEN.search(s) and not LINE_BREAKS.intersection(s.replace("\n", "")):
        assert out == s


@HYPOTHESIS
@given(ANY_TEXT, st.integers(1, 600))
def test_one_line_has_no_line_break_and_respects_the_limit(s: str, limit: int) -> None:
    out = one_line(s, limit)
    assert len(out) <= limit and "\n" not in out and "\t" not in out
    assert FORBIDDEN.search(out) is None


@HYPOTHESIS
@given(ANY_TEXT)
def test_xml_text_is_xml_and_round_trips_through_elementtree(s: str) -> None:
    out = xml_text(s)
    assert XML_INVALID.search(out) is None
    node = ET.fromstring(ET.tostring(ET.Element("a", {"v": out}), encoding="unicode"))
    assert node.get("v") == out


@HYPOTHESIS
@given(ANY_TEXT)
def test_csv_cell_prefixes_exactly_the_formula_cells(s: str) -> None:
    out = csv_cell(s)
    starts = {s[:1], s.lstrip()[:1], clean(s)[:1], clean(s).lstrip()[:1]}
    formula = bool(starts & {"=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20"})
    assert out == ("'" + clean(s) if formula else clean(s))
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerow([out])
    [[back]] = list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    assert back == out


def test_summarise_value_keeps_small_values_and_summarises_big_ones() -> None:
    small = [1.0, 2.0, float("nan")]
    assert summarise_value(small) is small
    limit = np.arange(200)
    assert summarise_value(limit) is limit
    for big in (BIG, BIG.tolist(), [[0.5] * 300], {str(i): i for i in range(300)}, "z" * 10**6,
                np.full((300, 300), np.nan)):
        out = summarise_value(big)
        assert isinstance(out, str) and len(out) < 2200, type(big)
        assert "summarised" in out or "more characters not shown" in out
    assert "min 0, max 1048575" in summarise_value(BIG)
    assert "90000 NaN" in summarise_value(np.full((300, 300), np.nan))
    deep: list = []
    node = deep
    for _ in range(10_000):  # deeper than the interpreter would recurse
        node.append([])
        node = node[0]
    assert "nested more than" in summarise_value(deep)
    assert isinstance(to_plain(deep), str)


def test_to_plain_summarises_without_converting_the_whole_array() -> None:
    out = to_plain(np.zeros(10**7))
    assert isinstance(out, str) and "10000000 elements" in out
    assert to_plain([HOSTILE]) == [clean(HOSTILE)]
    assert to_plain(np.arange(3.0)) == [0.0, 1.0, 2.0]
