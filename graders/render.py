"""Renderers: one :class:`~graders.results.SubmissionResult`, six output formats.

``text`` (terminal; ANSI colour only when asked, the CLI asks on a TTY), ``md`` and ``html``
(jinja2 templates ``report.md.j2`` / ``report.html.j2`` from the ``glmm_exercises.templates``
package, StrictUndefined; HTML autoescaped, self-contained with inline CSS), ``json`` (our own
schema, docs/results-schema.md), ``gradescope`` (Gradescope's autograder ``results.json``) and
``junit`` (JUnit XML built with ``xml.etree``).

Every format reads the same report model built by :func:`report_model`, so they cannot
disagree. ``timings=False`` leaves wall-clock measurements out of every format, which makes the
output of two gradings of the same submission with the same seed byte-identical.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import jinja2

from graders.results import CheckResult, SubmissionResult, to_json

__all__ = ["FORMATS", "render", "report_model"]

_STATUS_MARK = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "timeout": "TIMEOUT"}
_ANSI = {"passed": "\033[32m", "failed": "\033[31m", "error": "\033[35m", "timeout": "\033[33m"}
_RESET, _BOLD, _DIM = "\033[0m", "\033[1m", "\033[2m"

#: Gradescope visibility of our two check visibilities (hidden checks appear once grades are published).
GRADESCOPE_VISIBILITY = {"public": "visible", "hidden": "after_published"}


def _fmt_points(x: float) -> str:
    return f"{x:g}"


def _value_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _check_model(check: CheckResult, timings: bool) -> dict[str, Any]:
    counter = None
    if check.counterexample is not None:
        counter = [{"name": k, "value": _value_text(v)} for k, v in check.counterexample.items()]
    failed_values = check.reason == "mismatch"
    return {
        "name": check.name,
        "function": check.function,
        "description": check.description,
        "visibility": check.visibility,
        "status": check.status,
        "mark": _STATUS_MARK[check.status],
        "passed": check.passed,
        "reason": check.reason,
        "score": _fmt_points(check.score),
        "max_score": _fmt_points(check.max_score),
        "message": check.message,
        "hint": check.hint,
        "counterexample": counter,
        "expected": _value_text(check.expected) if failed_values else None,
        "got": _value_text(check.got) if failed_values else None,
        "examples": check.examples,
        "runtime": f"{check.runtime:.3f} s" if timings else None,
    }


def report_model(result: SubmissionResult, *, timings: bool = True) -> dict[str, Any]:
    """Plain dict the text/Markdown/HTML renderers (and templates) read."""
    return {
        "title": result.exercise_title,
        "exercise_id": result.exercise_id,
        "exercise_version": result.exercise_version,
        "submission": result.submission,
        "student": result.student,
        "mode": "official (all checks)" if result.mode == "all" else "public checks only",
        "seed_ref": result.seed_ref,
        "score": _fmt_points(result.score),
        "max_score": _fmt_points(result.max_score),
        "percent": f"{result.percent:.1f}",
        "passed_count": result.passed_count,
        "check_count": len(result.checks),
        "load_status": result.load_status,
        "load_message": result.load_message,
        "isolation": result.isolation,
        "packages": [{"name": k, "version": v} for k, v in result.package_versions.items()],
        "examples_per_check": result.examples_per_check,
        "execution_time": f"{result.execution_time:.2f} s" if timings else None,
        "checks": [_check_model(c, timings) for c in result.checks],
    }


def _templates(autoescape: bool) -> jinja2.Environment:
    loader = jinja2.FunctionLoader(
        lambda name: files("glmm_exercises.templates").joinpath(name).read_text(encoding="utf-8")
    )
    env = jinja2.Environment(
        loader=loader,
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = _md_escape
    env.filters["code"] = _md_code
    return env


def _md_escape(text: object) -> str:
    """Escape text for a Markdown paragraph or table cell (student text included)."""
    out = str(text).replace("\r", " ").replace("\n", " ")
    for ch in "\\`*_[]<>#|~":
        out = out.replace(ch, "\\" + ch)
    return out


def _md_code(text: object) -> str:
    """Inline code span that survives backticks inside ``text``; pipes escaped for tables."""
    body = str(text).replace("\n", " ").replace("|", "\\|")
    fence = "`"
    while fence in body:
        fence += "`"
    return f"{fence} {body} {fence}"


def render_text(result: SubmissionResult, *, colour: bool = False, timings: bool = True) -> str:
    """Plain-text report for a terminal; ANSI colours only when ``colour`` is true."""
    m = report_model(result, timings=timings)

    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if colour else text

    lines = [
        paint(_BOLD, f"{m['title']} [{m['exercise_id']} v{m['exercise_version']}]"),
        f"submission: {m['submission']}" + (f"   student: {m['student']}" if m["student"] else ""),
        f"mode: {m['mode']}   seed: {m['seed_ref']}   examples/check: {m['examples_per_check']}",
    ]
    if m["load_status"] != "ok":
        lines.append(paint(_ANSI["error"], f"submission did not load ({m['load_status']}): {m['load_message']}"))
    lines.append("")
    width = max((len(c["name"]) for c in m["checks"]), default=10)
    for c in m["checks"]:
        mark = paint(_ANSI[c["status"]], f"{c['mark']:<7}")
        tag = "" if c["visibility"] == "public" else " (hidden)"
        lines.append(f"{mark} {c['name']:<{width}}  {c['score']:>4}/{c['max_score']:<4} {c['description']}{tag}")
        if not c["passed"]:
            lines.append(f"        {c['message']}")
            if c["counterexample"]:
                args = ", ".join(f"{a['name']}={a['value']}" for a in c["counterexample"])
                lines.append(f"        smallest failing input: {args}")
            if c["expected"] is not None:
                lines.append(f"        expected: {c['expected']}")
                lines.append(f"        got:      {c['got']}")
            if c["hint"]:
                lines.append(paint(_DIM, f"        hint: {c['hint']}"))
    lines.append("")
    total = f"score {m['score']}/{m['max_score']} ({m['percent']}%), {m['passed_count']}/{m['check_count']} checks passed"
    if m["execution_time"]:
        total += f" in {m['execution_time']}"
    lines.append(paint(_BOLD, total))
    lines.append(paint(_DIM, f"isolation: {m['isolation']}"))
    return "\n".join(lines) + "\n"


def render_markdown(result: SubmissionResult, *, timings: bool = True) -> str:
    """Markdown report (student text escaped)."""
    return _templates(autoescape=False).get_template("report.md.j2").render(report=report_model(result, timings=timings))


def render_html(result: SubmissionResult, *, timings: bool = True) -> str:
    """Self-contained HTML report (inline CSS, no network), autoescaped."""
    return _templates(autoescape=True).get_template("report.html.j2").render(report=report_model(result, timings=timings))


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


def render_gradescope(result: SubmissionResult, *, timings: bool = True) -> str:
    """Gradescope autograder ``results.json`` (score, execution_time, output, tests[])."""
    m = report_model(result, timings=timings)
    out: dict[str, Any] = {"score": result.score}
    if timings:
        out["execution_time"] = round(result.execution_time)
    summary = f"{m['title']}: {m['passed_count']}/{m['check_count']} checks passed ({m['mode']}; seed {m['seed_ref']})."
    if m["load_status"] != "ok":
        summary += f"\nYour submission did not load ({m['load_status']}): {m['load_message']}"
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


def render_junit(result: SubmissionResult, *, timings: bool = True) -> str:
    """JUnit XML: one <testsuite> for the exercise, one <testcase> per check."""
    failures = sum(1 for c in result.checks if c.status == "failed")
    errors = sum(1 for c in result.checks if c.status in ("error", "timeout"))
    suite = ET.Element(
        "testsuite",
        {
            "name": result.exercise_id,
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
        ("exercise_version", result.exercise_version),
        ("submission", result.submission),
        ("student", result.student or ""),
        ("mode", result.mode),
        ("seed_ref", result.seed_ref),
        ("score", _fmt_points(result.score)),
        ("max_score", _fmt_points(result.max_score)),
    ):
        ET.SubElement(props, "property", {"name": key, "value": value})
    for c, check in zip(report_model(result, timings=timings)["checks"], result.checks, strict=True):
        case = ET.SubElement(suite, "testcase", {"classname": f"{result.exercise_id}.{c['function']}", "name": c["name"]})
        if timings:
            case.set("time", f"{check.runtime:.3f}")
        if not c["passed"]:
            tag = "failure" if c["status"] == "failed" else "error"
            node = ET.SubElement(case, tag, {"message": c["message"], "type": c["reason"]})
            node.text = _check_output(c)
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def render_json(result: SubmissionResult, *, timings: bool = True) -> str:
    """Our own JSON schema (docs/results-schema.md)."""
    return to_json(result, timings=timings)


FORMATS: dict[str, Callable[..., str]] = {
    "text": render_text,
    "md": render_markdown,
    "html": render_html,
    "json": render_json,
    "gradescope": render_gradescope,
    "junit": render_junit,
}


def render(result: SubmissionResult, fmt: str, *, timings: bool = True, colour: bool = False) -> str:
    """Render ``result`` in format ``fmt`` (one of :data:`FORMATS`)."""
    try:
        renderer = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}") from None
    if fmt == "text":
        return render_text(result, colour=colour, timings=timings)
    return renderer(result, timings=timings)
