"""Tests of graders.notebook (submission file -> code cells; nothing is executed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graders.notebook import NotebookError, read_cells, to_python

FIXTURES = Path(__file__).parent / "fixtures" / "submissions" / "poisson_marginal"


def test_magics_and_shell_lines_become_calls_on_the_same_lines():
    src = "%matplotlib inline\n!pip list\nx = 1  # why?\nnp.exp?\ny = 'a?'\n"
    out = to_python(src).splitlines()
    assert len(out) == 5  # line numbers in tracebacks stay right
    assert out[0].startswith("get_ipython().run_line_magic('matplotlib'")
    assert out[1].startswith("get_ipython().system(")
    assert out[2:] == ["x = 1  # why?", out[3], "y = 'a?'"] and "pinfo" in out[3]


def test_cell_magics_become_one_call_holding_the_body():
    out = to_python("%%time\nx = 1\n")
    assert out.startswith("get_ipython().run_cell_magic('time'") and "x = 1" in out
    assert to_python("%%bash\nls -l\n").startswith("get_ipython().run_cell_magic('bash'")


@pytest.mark.parametrize("src", [
    "y = (x\n!= 2)\n",                           # a continuation line starting with !=
    "z = [1,\n%2]\n",                              # ... or with %
    "def f(a):\n    return (a\n        % 2)\n",
    's = "\u2028"\nt = 1  # \x0c\x1c form feed and file separator\n',
    's = """\n%not a magic\n!not a shell\n"""\n',
])
def test_ordinary_python_is_left_exactly_as_written(src):
    assert to_python(src) == src


def test_py_file_is_one_cell():
    cells = read_cells(FIXTURES / "correct.py")
    assert [label for label, _ in cells] == ["correct.py"]
    assert "def marginal_mean" in cells[0][1]


def test_notebook_cells_are_labelled_by_jupyter_number():
    cells = read_cells(FIXTURES / "notebook_ok.ipynb")
    assert [label for label, _ in cells] == [
        f"notebook_ok.ipynb [cell {n}]" for n in (2, 3, 4, 5)]
    assert cells[0][1].splitlines()[-1] == "import numpy as np"
    assert "run_line_magic('matplotlib'" in cells[0][1]
    for label, src in cells:
        compile(src, label, "exec")


def test_a_symlinked_submission_is_not_followed(tmp_path):
    secret = tmp_path / "key.py"
    secret.write_text("SECRET = 1\n")
    link = tmp_path / "solution.py"
    link.symlink_to(secret)
    with pytest.raises(ValueError, match="symbolic link") as info:
        read_cells(link)
    assert "SECRET" not in str(info.value)


@pytest.mark.parametrize("content", ["{not json", json.dumps({"cells": 3}), json.dumps([1, 2])])
def test_unreadable_notebooks_raise_notebook_error(tmp_path, content):
    path = tmp_path / "hw.ipynb"
    path.write_text(content)
    with pytest.raises(NotebookError, match=r"hw\.ipynb is not a readable Jupyter notebook"):
        read_cells(path)


def test_other_suffixes_are_refused(tmp_path):
    path = tmp_path / "hw.txt"
    path.write_text("x = 1")
    with pytest.raises(ValueError, match="unsupported submission type"):
        read_cells(path)
