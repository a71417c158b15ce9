"""``check("exercise-id")`` inside a student's notebook: grade the functions as the kernel has them.

The starter notebook imports :func:`check` early and ends every exercise with a ``check(...)`` cell.
A call gathers the code the kernel has run so far (IPython's input history, in execution order,
without cells that failed and without the ``check`` lines themselves), writes it as a temporary
notebook next to the student's ``assignment.json`` (so ``pd.read_csv("data/...")`` means the same
as in the real submission), and grades it with :func:`graders.runner.grade` against the public
checks of the student's variant of that exercise -- in the grader's sandbox, a separate process,
never in the kernel. The report is shown inline: HTML in Jupyter (an isolated frame holding the
same report ``glmm-grade --format html`` writes), plain text in a terminal IPython session.

Outside IPython (the notebook exported to a script) there is no kernel history to grade;
:func:`check` then says on stderr to run ``glmm-grade solution.py`` instead, and returns.
"""

from __future__ import annotations

import ast
import html
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nbformat

from graders.grading_errors import GradingError
from graders.render import render
from graders.results import SubmissionResult

__all__ = ["MIME_TYPE", "CheckError", "CheckReport", "check", "grade_kernel", "kernel_cells"]

#: What the report calls the gathered kernel code (instead of the temporary file's name).
KERNEL_LABEL = "this notebook's kernel"
_TEMP_PREFIX = ".glmm-check-"
#: MIME type of the machine-readable result in a check cell's output (SubmissionResult.to_dict).
MIME_TYPE = "application/vnd.glmm-check+json"

#: execution count -> whether that cell failed, recorded after ``import glmm_exercises.notebook``
_FAILED: dict[int, bool] = {}
_HOOKED: set[int] = set()


class CheckError(GradingError):
    """``check`` cannot run here (no IPython, no assignment.json, unknown exercise)."""


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return None
    return get_ipython()


def _record(result: Any) -> None:
    count = getattr(result, "execution_count", None)
    if isinstance(count, int):
        _FAILED[count] = not bool(getattr(result, "success", True))


def _hook(shell: Any) -> None:
    """Record from now on which cells fail (they are left out of what ``check`` grades)."""
    if shell is not None and id(shell) not in _HOOKED:
        shell.events.register("post_run_cell", _record)
        _HOOKED.add(id(shell))


def _is_check_call(node: ast.stmt, names: set[str]) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id in names
    )


def kernel_cells(history: list[str], failed: dict[int, bool] | None = None) -> dict[int, str]:
    """Execution count -> source of every kernel cell worth grading, in execution order.

    ``history`` is IPython's raw input history (``In``: entry 0 is empty, entry N is the cell run
    as ``In [N]``). Left out: empty cells, cells that did not compile or that ``failed`` records
    as failed (they defined nothing in the kernel either), and cells holding nothing but
    ``check(...)`` calls. The grader itself drops ``check`` lines in cells that also define
    something, knowing them from the cell that imports ``check`` (graders/notebook.py).
    """
    failed = failed or {}
    out: dict[int, str] = {}
    for count, source in enumerate(history):
        if count == 0 or not source.strip() or failed.get(count):
            continue
        try:
            from IPython.core.inputtransformer2 import TransformerManager

            tree = ast.parse(TransformerManager().transform_cell(source))
        except Exception:  # SyntaxError, or IPython's own errors for broken cells
            continue
        if tree.body and all(_is_check_call(node, {"check"}) for node in tree.body):
            continue
        out[count] = source
    return out


def _notebook_text(cells: dict[int, str]) -> str:
    """A notebook whose cell N is ``In [N]`` (gaps filled with empty Markdown cells), so that the
    grader's labels ("[cell N]") name the kernel's execution counts."""
    nb = nbformat.v4.new_notebook()
    last = max(cells, default=0)
    nb["cells"] = [
        nbformat.v4.new_code_cell(cells[n]) if n in cells else nbformat.v4.new_markdown_cell("")
        for n in range(1, last + 1)
    ]
    for i, cell in enumerate(nb["cells"]):
        cell["id"] = f"cell-{i}"
    return nbformat.writes(nb)


@contextmanager
def _temporary_notebook(folder: Path, text: str) -> Iterator[Path]:
    """The gathered code as a hidden file in ``folder`` (where the real submission lives), removed after."""
    fd, name = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=".ipynb", dir=folder)
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        yield path
    finally:
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class CheckReport:
    """The result of one ``check``: shown as HTML in Jupyter and as text in a terminal."""

    result: SubmissionResult
    temp_name: str = ""

    def _named(self, text: str) -> str:
        return text.replace(self.temp_name, KERNEL_LABEL) if self.temp_name else text

    @property
    def text(self) -> str:
        """The plain-text report (what ``glmm-grade`` prints), for one exercise."""
        return self._named(render(self.result, "text", timings=False))

    def _repr_html_(self) -> str:
        page = self._named(render(self.result, "html", timings=False))
        rows = len(self.result.checks) + 12
        return (
            f'<iframe class="glmm-check" title="check {html.escape(self.result.exercise_id)}" '
            f'srcdoc="{html.escape(page, quote=True)}" '
            f'style="width:100%;height:{min(60 + 32 * rows, 1200)}px;border:1px solid #ddd;resize:vertical" '
            "onload=\"this.style.height=(this.contentDocument.documentElement.scrollHeight+8)+'px'\">"
            "</iframe>"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """HTML for Jupyter, text for a terminal, and the results as data (``MIME_TYPE``), which
        front-ends do not show but tests and tools can read from the saved notebook."""
        data = json.loads(self._named(json.dumps(self.result.to_dict(timings=False))))
        return {"text/plain": self.text.rstrip("\n"), "text/html": self._repr_html_(), MIME_TYPE: data}

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text.rstrip("\n"))

    def __repr__(self) -> str:
        return self.text


def _assignment_folder(folder: str | Path | None) -> Path:
    path = Path(folder) if folder is not None else Path.cwd()
    if not (path / "assignment.json").is_file():
        raise CheckError(
            f"no assignment.json in {str(path)!r}; open the notebook from your student folder (the one "
            "with sheet.html and assignment.json), or pass check(..., folder='path/to/that/folder')"
        )
    return path


def grade_kernel(exercise_id: str, history: list[str], *, folder: str | Path | None = None,
                 failed: dict[int, bool] | None = None, examples: int | None = None) -> CheckReport:
    """Grade the kernel code ``history`` against the public checks of ``exercise_id`` (see :func:`check`)."""
    from glmm_exercises.assignment import load_assignment
    from graders.runner import grade

    where = _assignment_folder(folder)
    assignment = load_assignment(where, None)
    exercises = {ex.id: ex for ex in assignment.exercises()}
    if exercise_id not in exercises:
        raise CheckError(
            f"this assignment has no exercise {exercise_id!r}; choose one of: {', '.join(exercises)}"
        )
    exercise = exercises[exercise_id]
    n = examples if examples is not None else assignment.config.examples_for(exercise_id)
    with _temporary_notebook(where, _notebook_text(kernel_cells(history, failed))) as path:
        result = grade(path, exercise, mode="public", max_examples=n, student=assignment.student_id)
        name = path.name
    return CheckReport(replace(result, submission=KERNEL_LABEL), name)


def check(exercise_id: str, *, folder: str | Path | None = None, examples: int | None = None) -> None:
    """Grade the functions of ``exercise_id`` as this kernel has them, and show the report inline.

    Public checks of your variant (read from ``assignment.json`` in ``folder``, by default the
    kernel's working directory, which is the notebook's folder in Jupyter). Your code runs in the
    grader's sandbox, not in this kernel: everything you ran so far is run again there, in order.
    ``examples`` overrides the number of examples per property check (fewer is faster).
    """
    shell = _shell()
    if shell is None:  # e.g. the notebook exported to a script: nothing to grade, keep going
        print(f"check({exercise_id!r}) works in Jupyter or IPython only; in a terminal, run "
              "glmm-grade solution.py inside your student folder", file=sys.stderr)
        return
    from IPython.display import display

    from graders.sandbox import SandboxError

    _hook(shell)
    history = list(shell.history_manager.input_hist_raw)
    try:
        report = grade_kernel(exercise_id, history, folder=folder, failed=dict(_FAILED), examples=examples)
    except (GradingError, SandboxError, OSError) as exc:  # one line, not a traceback through the grader

        display(_Message(f"check({exercise_id!r}) could not run: {exc}"))
        return
    display(report)


@dataclass(frozen=True)
class _Message:
    text: str

    def _repr_html_(self) -> str:
        return f'<p style="color:#cf222e"><b>{html.escape(self.text)}</b></p>'

    def __repr__(self) -> str:
        return self.text


_hook(_shell())  # the import cell runs early: record failing cells from here on
