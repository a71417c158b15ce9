"""Tests of graders.notebook (submission file -> code cells; nothing is executed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from graders.notebook import NotebookError, read_cells, strip_ipython

FIXTURES = Path(__file__).parent / "fixtures" / "submissions" / "poisson_marginal"


def test_line_magics_shell_and_help_lines_become_blank_lines():
    src = "%matplotlib inline\n!pip list\nx = 1  # why?\nnp.exp?\n?np.exp\nnp.exp??\ny = 'a?'\n"
    out = strip_ipython(src).splitlines()
    assert out == ["", "", "x = 1  # why?", "", "", "", "y = 'a?'"]


def test_cell_magics():
    assert strip_ipython("%%bash\nls -l\n").strip() == ""
    assert strip_ipython("%%writefile x.py\nprint(1)\n").strip() == ""
    assert strip_ipython("%%time\nx = 1\n").splitlines() == ["", "x = 1"]


def test_py_file_is_one_cell():
    cells = read_cells(FIXTURES / "correct.py")
    assert [label for label, _ in cells] == ["correct.py"]
    assert "def marginal_mean" in cells[0][1]


@pytest.mark.parametrize("without_nbformat", [False, True])
def test_notebook_cells_are_labelled_by_jupyter_number(monkeypatch, without_nbformat):
    if without_nbformat:
        monkeypatch.setitem(sys.modules, "nbformat", None)
    cells = read_cells(FIXTURES / "notebook_ok.ipynb")
    assert [label for label, _ in cells] == [
        f"notebook_ok.ipynb [cell {n}]" for n in (2, 3, 4, 5)]
    assert cells[0][1].splitlines() == ["", "", "import numpy as np"]
    compile(cells[1][1], cells[1][0], "exec")


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
