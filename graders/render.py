"""Renderers: one :class:`~graders.results.SubmissionResult`, six output formats.

``text`` (terminal; ANSI colour only when asked, the CLI asks on a TTY), ``md`` and ``html``
(jinja2 templates ``report.md.j2`` / ``report.html.j2`` from the top-level ``templates/`` folder,
installed as ``graders.templates`` (and ``glmm_exercises.templates``), StrictUndefined; HTML autoescaped, self-contained with inline CSS), ``json`` (our own
schema, docs/results-schema.md), ``gradescope`` (Gradescope's autograder ``results.json``) and
``junit`` (JUnit XML built with ``xml.etree``).

Every format reads the same report model built by :func:`report_model`, so they cannot
disagree. ``timings=False`` leaves wall-clock measurements out of every format, which makes the
output of two gradings of the same submission with the same seed byte-identical.

Student text is neutralised twice: the result model cleans it when it is built (see
:mod:`graders.results`), and the report model cleans it again (:mod:`graders.safe_text`: names,
ids and file names on one line, no control character or lone surrogate; JUnit keeps only XML 1.0
characters). In the text report every line of a message is indented, so a message cannot fake a
``PASS`` line. A report is at most :data:`MAX_REPORT_BYTES` of UTF-8: a bigger one is rendered
again from a shortened result (:func:`compact_result`: messages cut, values summarised) and says
so in a note (:data:`SHORTENED_NOTE`).
"""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from importlib.resources import files
from typing import Any

import jinja2

from graders.results import CheckResult, SubmissionResult, to_json, to_plain
from graders.safe_text import clean, clip, one_line, xml_text

__all__ = [
    "FORMATS",
    "MAX_REPORT_BYTES",
    "SHORTENED_NOTE",
    "TEXT_WIDTH",
    "compact_result",
    "fit_report",
    "fmt_points",
    "md_code",
    "md_text",
    "render",
    "report_model",
]

#: Largest report (UTF-8 bytes) :func:`render` returns before shortening it.
MAX_REPORT_BYTES = 2_000_000
#: The note a shortened report carries.
SHORTENED_NOTE = (
    f"This report was shortened to stay under {MAX_REPORT_BYTES // 1_000_000} MB: long messages "
    "are cut and big values summarised."
)
# Shortening levels for compact_result: (message and hint characters, value elements, load message characters).
_LEVELS = {1: (2000, 20, 5000), 2: (300, 5, 1000)}

_STATUS_MARK = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "timeout": "TIMEOUT"}
_ANSI = {"passed": "\033[32m", "failed": "\033[31m", "error": "\033[35m", "timeout": "\033[33m"}
_RESET, _BOLD, _DIM = "\033[0m", "\033[1m", "\033[2m"

#: Gradescope visibility of our two check visibilities (hidden checks appear once grades are published).
GRADESCOPE_VISIBILITY = {"public": "visible", "hidden": "after_published"}


def fmt_points(x: float) -> str:
    """Points with at most two decimals and no trailing zeros (1.67, 2, 0.5)."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _value_text(value: Any) -> str:
    if isinstance(value, str) and value.startswith("<") and "(summarised)" in value:
        return clean(value)  # a summary of a big value reads better without JSON quotes
    if isinstance(value, str) and "\n" in value:
        return clean(value)  # a table (a small DataFrame) is shown as the table it is
    return clean(json.dumps(value, ensure_ascii=False))


def _check_model(check: CheckResult, timings: bool) -> dict[str, Any]:
    counter = None
    if check.counterexample is not None:
        counter = [{"name": one_line(k, 200), "value": _value_text(v)} for k, v in check.counterexample.items()]
    failed_values = check.reason == "mismatch"
    return {
        "name": one_line(check.name, 200),
        "function": one_line(check.function, 200),
        "description": one_line(check.description, 1000),
        "visibility": check.visibility,
        "status": check.status,
        "mark": _STATUS_MARK[check.status],
        "passed": check.passed,
        "reason": one_line(check.reason, 200),
        "score": fmt_points(check.score),
        "max_score": fmt_points(check.max_score),
        "message": clean(check.message),
        "hint": None if check.hint is None else clean(check.hint),
        "counterexample": counter,
        "expected": _value_text(check.expected) if failed_values else None,
        "got": _value_text(check.got) if failed_values else None,
        "examples": check.examples,
        "runtime": f"{check.runtime:.3f} s" if timings else None,
    }


def report_model(result: SubmissionResult, *, timings: bool = True, note: str | None = None) -> dict[str, Any]:
    """Plain dict the text/Markdown/HTML renderers (and templates) read; every string is safe to print.

    ``note`` (e.g. :data:`SHORTENED_NOTE`) is shown at the top of the report.
    """
    return {
        "title": one_line(result.exercise_title),
        "exercise_id": one_line(result.exercise_id, 200),
        "exercise_version": one_line(result.exercise_version, 200),
        "submission": one_line(result.submission, 300),
        "student": None if result.student is None else one_line(result.student, 300),
        "note": None if note is None else one_line(note, 1000),
        "mode": "official (all checks)" if result.mode == "all" else "public checks only",
        "seed_ref": one_line(result.seed_ref, 200),
        "score": fmt_points(result.score),
        "max_score": fmt_points(result.max_score),
        "percent": f"{result.percent:.1f}",
        "passed_count": result.passed_count,
        "check_count": len(result.checks),
        "load_status": one_line(result.load_status, 200),
        "load_message": clean(result.load_message),
        "load_warnings": [one_line(w, 500) for w in result.load_warnings],
        "written": [
            {"id": one_line(w["id"], 100), "prompt": one_line(w["prompt"], 2000), "status": w["status"],
             "text": clean(w["text"]), "summary": _written_summary(w)}
            for w in result.written
        ],
        "isolation": one_line(result.isolation, 1000),
        "packages": [{"name": one_line(k, 100), "version": one_line(v, 200)} for k, v in result.package_versions.items()],
        "examples_per_check": result.examples_per_check,
        "execution_time": f"{result.execution_time:.2f} s" if timings else None,
        "checks": _group_repeats([_check_model(c, timings) for c in result.checks]),
        "hidden_points": fmt_points(result.hidden_points) if result.hidden_points else None,
    }


def _group_repeats(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Show a hint or a smallest failing input once: a later failing check that would repeat it
    refers to the first (``hint_ref`` / ``counterexample_ref``) instead."""
    first_hint: dict[str, str] = {}
    first_case: dict[str, str] = {}
    for c in checks:
        c["hint_ref"] = c["counterexample_ref"] = None
        if c["passed"]:
            continue
        if c["hint"]:
            if c["hint"] in first_hint:
                c["hint_ref"], c["hint"] = first_hint[c["hint"]], None
            else:
                first_hint[c["hint"]] = c["name"]
        if c["counterexample"]:
            key = json.dumps(c["counterexample"], sort_keys=True)
            if key in first_case:
                c["counterexample_ref"], c["counterexample"] = first_case[key], None
            else:
                first_case[key] = c["name"]
    return checks


def _written_summary(w: dict[str, str]) -> str:
    """One line on a written answer: received (words) or what is wrong with it."""
    if w["status"] == "answered":
        return f"received ({len(w['text'].split())} words), graded by hand"
    if w["status"] == "empty":
        return "not answered yet (the function still returns the starter text)"
    if w["status"] == "missing":
        return "not answered (the function is not defined)"
    return one_line(f"could not be read: {w['text']}", 300)


def _templates(autoescape: bool) -> jinja2.Environment:
    loader = jinja2.FunctionLoader(
        lambda name: files("graders.templates").joinpath(name).read_text(encoding="utf-8")
    )
    env = jinja2.Environment(
        loader=loader,
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = md_text
    env.filters["code"] = md_code
    return env


def md_text(text: object) -> str:
    """Escape text for a Markdown paragraph or table cell (student text included), on one line."""
    out = one_line(text, 10**9)
    for ch in "\\`*_[]<>#|~":
        out = out.replace(ch, "\\" + ch)
    return out


def md_code(text: object) -> str:
    """Inline code span that survives backticks inside ``text``; pipes escaped for tables."""
    body = one_line(text, 10**9).replace("|", "\\|")
    fence = "`"
    while fence in body:
        fence += "`"
    if not body or body[0] in "` " or body[-1] in "` ":
        body = f" {body} "  # CommonMark strips one space on each side
    return f"{fence}{body}{fence}"


def _indented(text: str, first: str, indent: str = "        ") -> list[str]:
    """``text`` as lines that all start with ``indent`` (the first after ``first``)."""
    lines = text.split("\n")
    return [f"{indent}{first}{lines[0]}", *(f"{indent}{line}" for line in lines[1:])]


#: Width of the text report: it must read well in an 80-column terminal.
TEXT_WIDTH = 80


def _wrap(text: str, first: str, indent: str = "        ") -> list[str]:
    """``text`` wrapped to :data:`TEXT_WIDTH` columns, every line starting with ``indent`` (the
    first after ``first``), so student text can never pass for a check's status line."""
    out: list[str] = []
    for n, line in enumerate(text.split("\n")):
        head = indent + (first if n == 0 else " " * len(first))
        rest = indent + " " * len(first)
        out += textwrap.wrap(line, TEXT_WIDTH, initial_indent=head, subsequent_indent=rest,
                             break_long_words=True, break_on_hyphens=False,
                             drop_whitespace=True) or [head.rstrip()]
    return out


def render_text(
    result: SubmissionResult, *, colour: bool = False, timings: bool = True, note: str | None = None,
    verbose: bool = False,
) -> str:
    """Plain-text report for a terminal, at most :data:`TEXT_WIDTH` columns; ANSI colours only when
    ``colour`` is true; ``verbose`` adds the isolation's full description.

    Student text carries no control character (so no escape sequence), and every line of a
    message is indented, so it cannot pass for a check's status line. A hint or smallest failing
    input that repeats an earlier one refers to it instead of being printed again.
    """
    m = report_model(result, timings=timings, note=note)

    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if colour else text

    lines = [paint(_BOLD, line) for line in _wrap(f"{m['title']} [{m['exercise_id']} v{m['exercise_version']}]", "", "")]
    lines += _wrap(f"submission: {m['submission']}" + (f"   student: {m['student']}" if m["student"] else ""), "", "")
    lines += _wrap(f"mode: {m['mode']}   seed: {m['seed_ref']}   examples/check: {m['examples_per_check']}", "", "")
    if m["note"]:
        lines += [paint(_BOLD, line) for line in _wrap(f"note: {m['note']}", "", "")]
    if m["load_status"] != "ok":
        lines.append(paint(_ANSI["error"], f"submission did not load ({m['load_status']}):"))
        lines += _wrap(m["load_message"], "")
    for warning in m["load_warnings"]:
        lines += _wrap(warning, "load warning: ")
    lines.append("")
    width = min(max((len(c["name"]) for c in m["checks"]), default=10), 28)
    for c in m["checks"]:
        mark = paint(_ANSI[c["status"]], f"{c['mark']:<7}")
        tag = "" if c["visibility"] == "public" else " (hidden)"
        points = f"{c['score']}/{c['max_score']}"
        head = f"{c['name']:<{width}}  {points:>9}  "
        if 8 + len(head) > TEXT_WIDTH - 20:  # a long check name: the description on its own lines
            lines += [f"{mark} {line}" if n == 0 else f"        {line}"
                      for n, line in enumerate(textwrap.wrap(head.rstrip(), TEXT_WIDTH - 8, break_long_words=True))]
            lines += _wrap(f"{c['description']}{tag}", "")
        else:
            body = textwrap.wrap(f"{c['description']}{tag}", TEXT_WIDTH - 8 - len(head)) or [""]
            lines.append(f"{mark} {head}{body[0]}")
            lines += [" " * (8 + len(head)) + more for more in body[1:]]
        if not c["passed"]:
            lines += _wrap(c["message"], "")
            if c["counterexample"]:
                args = ", ".join(f"{a['name']}={a['value']}" for a in c["counterexample"])
                lines += _wrap(args, "smallest failing input: ")
            elif c["counterexample_ref"]:
                lines += _wrap(f"the same as for {c['counterexample_ref']} above", "smallest failing input: ")
            if c["expected"] is not None:
                lines += _wrap(c["expected"], "expected: ")
                lines += _wrap(c["got"], "got:      ")
            if c["hint"]:
                lines += [paint(_DIM, line) for line in _wrap(c["hint"], "hint: ")]
            elif c["hint_ref"]:
                lines += [paint(_DIM, line) for line in _wrap(f"see {c['hint_ref']} above", "hint: ")]
    if m["written"]:
        lines.append("")
        lines.append("written answers (graded by hand, not in the score):")
        for w in m["written"]:
            lines += _wrap(w["summary"], f"{w['id']}: ", "  ")
    lines.append("")
    total = f"score {m['score']}/{m['max_score']} ({m['percent']}%), {m['passed_count']}/{m['check_count']} checks passed"
    if m["execution_time"]:
        total += f" in {m['execution_time']}"
    lines += [paint(_BOLD, line) for line in _wrap(total, "", "")]
    if m["hidden_points"]:
        lines += _wrap(f"{m['hidden_points']} more points are in hidden checks, which only the "
                       "official grading runs", "", "")
    level = m["isolation"].split(":", 1)[0]
    if verbose:
        lines += [paint(_DIM, line) for line in _wrap(m["isolation"], "", "")]
    else:
        lines.append(paint(_DIM, f"{level} (details with --verbose)"))
    return "\n".join(lines) + "\n"


def render_markdown(result: SubmissionResult, *, timings: bool = True, note: str | None = None) -> str:
    """Markdown report (student text escaped)."""
    model = report_model(result, timings=timings, note=note)
    return _templates(autoescape=False).get_template("report.md.j2").render(report=model)


def render_html(result: SubmissionResult, *, timings: bool = True, note: str | None = None) -> str:
    """Self-contained HTML report (inline CSS, no network), autoescaped."""
    model = report_model(result, timings=timings, note=note)
    return _templates(autoescape=True).get_template("report.html.j2").render(report=model)


def _check_output(c: dict[str, Any]) -> str:
    if c["passed"]:
        return c["message"]
    parts = [c["message"]]
    if c["counterexample"]:
        parts.append("smallest failing input: " + ", ".join(f"{a['name']}={a['value']}" for a in c["counterexample"]))
    if c["expected"] is not None:
        parts.append(f"expected: {c['expected']}\ngot:      {c['got']}")
    if c["hint"]:
        parts.append(f"hint: {c['hint']}")
    return "\n".join(parts)


def render_gradescope(result: SubmissionResult, *, timings: bool = True, note: str | None = None) -> str:
    """Gradescope autograder ``results.json`` (score, execution_time, output, tests[])."""
    m = report_model(result, timings=timings, note=note)
    out: dict[str, Any] = {"score": result.score}
    if timings:
        out["execution_time"] = round(result.execution_time)
    summary = f"{m['title']}: {m['passed_count']}/{m['check_count']} checks passed ({m['mode']}; seed {m['seed_ref']})."
    if m["load_status"] != "ok":
        summary += f"\nYour submission did not load ({m['load_status']}): {m['load_message']}"
    for warning in m["load_warnings"]:
        summary += f"\nLoad warning: {warning}"
    for w in m["written"]:
        summary += f"\nWritten answer {w['id']}: {w['summary']}"
    if m["note"]:
        summary += f"\n{m['note']}"
    out["output"] = summary
    out["tests"] = [
        {
            "name": f"{c['name']}: {c['description']}",
            "score": check.score,
            "max_score": check.max_score,
            "status": "passed" if c["passed"] else "failed",
            "output": _check_output(c),
            "visibility": GRADESCOPE_VISIBILITY[c["visibility"]],
        }
        for c, check in zip(m["checks"], result.checks, strict=True)
    ]
    return json.dumps(out, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def render_junit(result: SubmissionResult, *, timings: bool = True, note: str | None = None) -> str:
    """JUnit XML: one <testsuite> for the exercise, one <testcase> per check (XML 1.0 characters only)."""
    m = report_model(result, timings=timings, note=note)
    failures = sum(1 for c in result.checks if c.status == "failed")
    errors = sum(1 for c in result.checks if c.status in ("error", "timeout"))
    suite = ET.Element(
        "testsuite",
        {
            "name": xml_text(m["exercise_id"]),
            "tests": str(len(result.checks)),
            "failures": str(failures),
            "errors": str(errors),
            "skipped": "0",
        },
    )
    if timings:
        suite.set("time", f"{result.execution_time:.3f}")
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("exercise_version", m["exercise_version"]),
        ("submission", m["submission"]),
        ("student", m["student"] or ""),
        ("mode", result.mode),
        ("seed_ref", m["seed_ref"]),
        ("score", fmt_points(result.score)),
        ("max_score", fmt_points(result.max_score)),
        *((("note", m["note"]),) if m["note"] else ()),
        *((f"load_warning_{i + 1}", w) for i, w in enumerate(m["load_warnings"])),
        *((f"written_{w['id']}", w["summary"]) for w in m["written"]),
    ):
        ET.SubElement(props, "property", {"name": key, "value": xml_text(value)})
    for c, check in zip(m["checks"], result.checks, strict=True):
        classname = xml_text(f"{m['exercise_id']}.{c['function']}")
        case = ET.SubElement(suite, "testcase", {"classname": classname, "name": xml_text(c["name"])})
        if timings:
            case.set("time", f"{check.runtime:.3f}")
        if not c["passed"]:
            tag = "failure" if c["status"] == "failed" else "error"
            message = xml_text(one_line(c["message"], 1000))
            node = ET.SubElement(case, tag, {"message": message, "type": xml_text(c["reason"])})
            node.text = xml_text(_check_output(c))
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def render_json(result: SubmissionResult, *, timings: bool = True, note: str | None = None) -> str:
    """Our own JSON schema (docs/results-schema.md); a shortened report says so only in its messages."""
    return to_json(result, timings=timings)


FORMATS: dict[str, Callable[..., str]] = {
    "text": render_text,
    "md": render_markdown,
    "html": render_html,
    "json": render_json,
    "gradescope": render_gradescope,
    "junit": render_junit,
}


def compact_result(result: SubmissionResult, level: int = 1) -> SubmissionResult:
    """``result`` with messages cut and values summarised harder, for a report that got too big.

    Level 1 keeps 2000 characters of each message and hint and 20 elements of each value;
    level 2 keeps 300 characters and 5 elements.
    """
    chars, items, load_chars = _LEVELS[min(max(level, 1), 2)]

    def small(check: CheckResult) -> CheckResult:
        counter = check.counterexample
        return replace(
            check,
            message=clip(check.message, chars),
            hint=None if check.hint is None else clip(check.hint, chars),
            counterexample=None if counter is None else {k: to_plain(v, max_items=items) for k, v in counter.items()},
            expected=to_plain(check.expected, max_items=items),
            got=to_plain(check.got, max_items=items),
        )

    return replace(
        result, load_message=clip(result.load_message, load_chars), checks=tuple(small(c) for c in result.checks)
    )


def _utf8_size(text: str) -> int:
    return len(text) if len(text) * 4 <= MAX_REPORT_BYTES else len(text.encode("utf-8"))


def fit_report(produce: Callable[[int], str], fmt: str, limit: int = MAX_REPORT_BYTES) -> str:
    """The first of ``produce(0)``, ``produce(1)``, ``produce(2)`` that fits in ``limit`` UTF-8 bytes.

    ``produce(level)`` renders the report from results shortened to ``level`` (0: as they are; see
    :func:`compact_result`), with :data:`SHORTENED_NOTE` when ``level > 0``. When even level 2 is
    too big, a ``text`` or ``md`` report is cut at ``limit`` with the note at its end; other
    formats are returned as they are (they stay valid JSON, XML or HTML).
    """
    for level in (0, 1, 2):
        out = produce(level)
        if _utf8_size(out) <= limit:
            return out
    if fmt in ("text", "md"):
        cut = out.encode("utf-8")[: max(limit - 1000, 0)].decode("utf-8", "ignore")
        return f"{cut}\n\n[{SHORTENED_NOTE} The rest was cut.]\n"
    return out


def render(result: SubmissionResult, fmt: str, *, timings: bool = True, colour: bool = False,
           verbose: bool = False) -> str:
    """Render ``result`` in format ``fmt`` (one of :data:`FORMATS`), at most :data:`MAX_REPORT_BYTES`
    (``verbose``: the text report also describes the isolation in full)."""
    try:
        renderer = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}") from None
    options: dict[str, Any] = {"timings": timings}
    if fmt == "text":
        options["colour"] = colour
        options["verbose"] = verbose

    def produce(level: int) -> str:
        if level == 0:
            return renderer(result, **options)
        return renderer(compact_result(result, level), note=SHORTENED_NOTE, **options)

    return fit_report(produce, fmt)
