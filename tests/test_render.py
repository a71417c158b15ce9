"""Renderers: every format from one result; escaping of student text; schema of each format."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import jinja2
import pytest
from _fake_sandbox import fake_factory

from glmm_exercises.catalogue import get_exercise, key_path, mutant_paths
from graders.render import FORMATS, render, render_text
from graders.results import SCHEMA_VERSION, TIMING_KEYS, CheckResult, SubmissionResult
from graders.runner import grade

EVIL = '<script>alert("x")</script> | `tick` **bold** & </pre>'


def _check(name: str, status: str, score: float, **kw: object) -> CheckResult:
    options: dict = {
        "function": "marginal_mean",
        "description": f"checks {name}",
        "visibility": "public",
        "reason": "ok" if status == "passed" else "mismatch",
        "max_score": 2.0,
        "message": "passed (3 calls)" if status == "passed" else f"marginal_mean(x=0.0): {EVIL}",
        "runtime": 0.25,
    } | kw
    return CheckResult(name=name, status=status, score=score, **options)  # type: ignore[arg-type]


def _result() -> SubmissionResult:
    return SubmissionResult(
        exercise_id="poisson-marginal",
        exercise_version="1",
        exercise_title="Title & <b>more</b>",
        submission="evil<name>.py",
        student=EVIL,
        mode="all",
        seed_ref="sha256:0123456789abcdef",
        load_status="ok",
        load_message="loaded",
        isolation="test isolation",
        package_versions={"python": "3.11", "numpy": "2"},
        checks=(
            _check("mean_scalar", "passed", 2.0),
            _check(
                "mean_vector",
                "failed",
                0.0,
                counterexample={"x": [0.0], "beta0": 0.0, "beta1": 0.0, "tau2": 1.0},
                expected=[1.6487212707001282],
                got=[1.0],
                hint="average over the random intercept",
            ),
            _check("variance_shape", "timeout", 0.0, visibility="hidden", reason="timeout", function="marginal_variance"),
            _check("variance_extreme", "error", 0.0, visibility="hidden", reason="crashed", function="marginal_variance"),
        ),
        examples_per_check=20,
        execution_time=3.5,
    )


def test_every_format_renders_and_timings_can_be_left_out() -> None:
    result = _result()
    for fmt in FORMATS:
        with_t = render(result, fmt)
        without = render(result, fmt, timings=False)
        assert with_t.endswith("\n") and without.endswith("\n")
        assert "3.5" not in without and "0.250" not in without, fmt


def test_json_follows_the_documented_schema() -> None:
    data = json.loads(render(_result(), "json"))
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["score"] == 2.0 and data["max_score"] == 8.0 and data["percent"] == 25.0
    assert [c["status"] for c in data["checks"]] == ["passed", "failed", "timeout", "error"]
    failing = data["checks"][1]
    assert failing["counterexample"] == {"x": [0.0], "beta0": 0.0, "beta1": 0.0, "tau2": 1.0}
    assert failing["expected"] == [1.6487212707001282] and failing["got"] == [1.0]
    stripped = json.loads(render(_result(), "json", timings=False))
    assert not TIMING_KEYS & set(stripped) and not any(TIMING_KEYS & set(c) for c in stripped["checks"])
    documented = (Path(__file__).parents[1] / "docs" / "results-schema.md").read_text()
    for key in [*data, *data["checks"][0]]:
        assert f"`{key}`" in documented, f"{key} missing from docs/results-schema.md"


def test_gradescope_results_have_the_documented_fields() -> None:
    data = json.loads(render(_result(), "gradescope"))
    assert set(data) == {"score", "execution_time", "output", "tests"}
    assert data["score"] == 2.0 and isinstance(data["execution_time"], int)
    assert len(data["tests"]) == 4
    for test in data["tests"]:
        assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
    assert [t["status"] for t in data["tests"]] == ["passed", "failed", "failed", "failed"]
    assert [t["visibility"] for t in data["tests"]] == ["visible", "visible", "after_published", "after_published"]
    assert "smallest failing input" in data["tests"][1]["output"] and "hint:" in data["tests"][1]["output"]
    assert "execution_time" not in json.loads(render(_result(), "gradescope", timings=False))


def test_junit_xml_parses_and_counts_failures_and_errors() -> None:
    root = ET.fromstring(render(_result(), "junit").encode())
    assert root.tag == "testsuite"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "2")
    cases = root.findall("testcase")
    assert [c.get("name") for c in cases] == ["mean_scalar", "mean_vector", "variance_shape", "variance_extreme"]
    assert cases[0].find("failure") is None and cases[1].find("failure") is not None
    assert cases[2].find("error").get("type") == "timeout"
    assert EVIL in cases[1].find("failure").get("message")  # escaped by ElementTree, round-trips


def test_html_escapes_student_text_and_is_self_contained() -> None:
    html = render(_result(), "html")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Title &amp; &lt;b&gt;more&lt;/b&gt;" in html
    assert "http://" not in html and "https://" not in html and "<link" not in html
    assert html.count("<section") == 3  # one detail block per check that did not pass
    assert "average over the random intercept" in html


def test_markdown_escapes_student_text() -> None:
    md = render(_result(), "md")
    assert "<script>" not in md and "\\<script\\>" in md
    table_rows = [line for line in md.splitlines() if line.startswith("| ") and "| checks " in line]
    assert len(table_rows) == 4 and all(row.count(" | ") == 3 for row in table_rows)


def test_text_uses_colour_only_when_asked() -> None:
    assert "\033[" not in render_text(_result())
    coloured = render_text(_result(), colour=True)
    assert "\033[32mPASS" in coloured and "\033[31mFAIL" in coloured


def test_templates_fail_on_missing_fields() -> None:
    from graders import render as render_module

    env = render_module._templates(autoescape=True)
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("report.html.j2").render(report={})


def test_graded_result_renders_the_counterexample_in_every_format() -> None:
    ex = get_exercise("poisson-marginal")
    result = grade(mutant_paths("poisson-marginal")["not_mean"], ex, max_examples=10, sandbox_factory=fake_factory())
    for fmt in ("text", "md", "html", "gradescope", "junit"):
        out = render(result, fmt)
        assert "conditional mean at γ = 0" in out, fmt
        assert "tau2" in out, fmt


CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed at /usr/bin/chromium")
def test_html_opens_in_headless_chromium(tmp_path: Path) -> None:
    ex = get_exercise("poisson-marginal")
    result = grade(key_path("poisson-marginal"), ex, max_examples=5, sandbox_factory=fake_factory())
    page = tmp_path / "report.html"
    page.write_text(render(result, "html"), encoding="utf-8")
    assert CHROMIUM is not None and shutil.which(CHROMIUM)
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    assert 'id="score"' in dom and "Score: 8/8" in dom
