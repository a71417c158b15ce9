"""The layers point one way: graders/ (the grading core) never imports glmm_exercises (the course
layer); it reaches the course layer through graders.course (an entry point), and its file
writers share one atomic module instead of importing each other."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

GRADERS = Path(__file__).parents[1] / "graders"


def _imports(path: Path) -> set[str]:
    """Every module an import statement in ``path`` names (top level and inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_module_of_the_grading_core_imports_the_course_layer():
    offenders = {p.name: sorted(m for m in _imports(p) if m.split(".")[0] == "glmm_exercises")
                 for p in sorted(GRADERS.glob("*.py"))}
    assert {k: v for k, v in offenders.items() if v} == {}
    resources = [p.name for p in GRADERS.glob("*.py") if 'files("glmm_exercises' in p.read_text(encoding="utf-8")]
    assert resources == []  # reading the course layer's package data would import it too


def test_the_gradebook_and_summary_do_not_import_the_batch():
    for name in ("gradebook.py", "summary.py", "atomic.py"):
        assert "graders.batch" not in _imports(GRADERS / name), name


def test_importing_and_rendering_with_the_grading_core_loads_no_course_module():
    code = (
        "import sys, graders.batch, graders.cli, graders.runner, graders.render, graders.summary, "
        "graders.gradebook, graders.sandbox, graders.atomic, graders.course\n"
        "from graders.render import render\n"
        "from graders.results import SubmissionResult\n"
        "r = SubmissionResult('e', '1', 'T', 's.py', None, 'public', 'x', 'ok', '', 'iso', {}, (), 5)\n"
        "render(r, 'html'); render(r, 'md')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'glmm_exercises'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_installed_course_layer_is_found_through_its_entry_point():
    from graders.course import course_layer

    layer = course_layer()
    assert layer.get_exercise("poisson-marginal").id == "poisson-marginal"
    assert layer.valid_student_id("s-01") and not layer.valid_student_id("../x")
