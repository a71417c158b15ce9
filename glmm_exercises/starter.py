"""Starter files for a student: ``solution.py`` with stubs and the same as a Jupyter notebook.

Every stub raises ``NotImplementedError`` (the grader reports it as "not yet implemented"),
keeps the function's docstring, and a comment block above each exercise lists the student's
variant parameters and data files. Output is deterministic: notebook cell ids are derived from
the cell position, JSON keys are sorted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nbformat

from graders.checks import FunctionSpec, WrittenItem

__all__ = ["CHECK_IMPORT", "GRADE_COMMAND", "StarterExercise", "solution_notebook", "solution_source"]

_IMPORTS = "import numpy as np\nimport pandas as pd\n"


@dataclass(frozen=True)
class StarterExercise:
    """What the starter files show of one exercise."""

    exercise_id: str
    title: str
    params: Mapping[str, Any]
    functions: Sequence[FunctionSpec]
    data_files: Sequence[str] = ()
    written: Sequence[WrittenItem] = ()  # questions answered in words (a function returning text)


def _comment_block(ex: StarterExercise) -> str:
    rule = "# " + "-" * 78
    lines = [rule, f"# Exercise {ex.exercise_id}: {ex.title}", "#", "# Your variant's parameters:"]
    for key in sorted(ex.params):
        lines.append(f"#   {key} = {json.dumps(ex.params[key], sort_keys=True)}")
    if ex.data_files:
        lines.append("# Data files (next to this file):")
        lines += [f"#   {name}" for name in ex.data_files]
    lines.append(rule)
    return "\n".join(lines) + "\n"


#: What a student types, inside their folder, to check a file (README.md says the same).
GRADE_COMMAND = "glmm-grade {name}"
#: The notebook's cell that makes ``check`` available (the grader skips it, see graders/notebook.py).
CHECK_IMPORT = "from glmm_exercises.notebook import check"


def _header(student_id: str, title: str) -> str:
    return (
        f'"""{title}: your solution (student {student_id}).\n\n'
        "Replace every `raise NotImplementedError` with your code; keep the function names and\n"
        "parameters. Check your work by running, inside this folder,\n\n"
        f"    {GRADE_COMMAND.format(name='solution.py')}\n"
        '"""\n\n'
    )


def solution_source(student_id: str, title: str, exercises: Sequence[StarterExercise]) -> str:
    """``solution.py``: imports, then per exercise a comment block and the function stubs."""
    parts = [_header(student_id, title), _IMPORTS]
    for ex in exercises:
        parts.append("\n\n" + _comment_block(ex))
        parts.append("\n\n".join([*(f.stub() for f in ex.functions), *(w.stub() for w in ex.written)]))
    return "".join(parts)


def solution_notebook(student_id: str, title: str, exercises: Sequence[StarterExercise]) -> str:
    """``solution.ipynb`` (nbformat 4): per exercise a Markdown cell, the stubs, and a ``check`` cell.

    The ``check("<id>")`` cell grades the functions as the kernel has them, against the public
    checks of the student's variant (:mod:`glmm_exercises.notebook`); the grader leaves it out.
    """
    nb = nbformat.v4.new_notebook()
    command = GRADE_COMMAND.format(name="solution.ipynb")
    cells = [
        nbformat.v4.new_markdown_cell(
            f"# {title}\n\nStudent `{student_id}`. Replace every `raise NotImplementedError` with your "
            "code; keep the function names and parameters. Run the `check(...)` cell after an exercise "
            "to grade your functions as they are now (the public checks of your variant). The grader "
            "runs all code cells of this notebook in order; to check the whole notebook as it will be "
            f"graded, run `{command}` in a terminal inside this folder."
        ),
        nbformat.v4.new_code_cell(_IMPORTS.rstrip()),
        nbformat.v4.new_code_cell(f"# check(\"exercise-id\") grades your functions inside this notebook\n{CHECK_IMPORT}"),
    ]
    for ex in exercises:
        params = "\n".join(f"- `{k}` = `{json.dumps(ex.params[k], sort_keys=True)}`" for k in sorted(ex.params))
        text = f"## {ex.title}\n\nExercise `{ex.exercise_id}`. Your variant's parameters:\n\n{params}"
        if ex.data_files:
            text += "\n\nData files: " + ", ".join(f"`{n}`" for n in ex.data_files)
        cells.append(nbformat.v4.new_markdown_cell(text))
        for f in ex.functions:
            cells.append(nbformat.v4.new_code_cell(f.stub().rstrip()))
        for w in ex.written:  # a written answer: the text the function returns, graded by hand
            cells.append(nbformat.v4.new_code_cell(w.stub().rstrip()))
        cells.append(nbformat.v4.new_code_cell(f"check({json.dumps(ex.exercise_id)})"))
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i:03d}"
    nb["cells"] = cells
    nb["metadata"] = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"
