"""Helpers for the student-side tests: the starter notebook with the answer keys pasted in, running a
notebook top to bottom with nbclient (in a given Python), and reading its ``check(...)`` results."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat

from glmm_exercises.catalogue import key_path
from glmm_exercises.notebook import MIME_TYPE

#: Runs a notebook in place with nbclient (kernel: the Python running this script, cwd: its folder).
RUN_NOTEBOOK = """
import sys, nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
folder = path.rsplit("/", 1)[0] if "/" in path else "."
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": folder}}).execute()
nbformat.write(nb, path)
"""

_EXERCISE = re.compile(r"Exercise `([a-z0-9-]+)`")
_CHECK = re.compile(r'^check\("([a-z0-9-]+)"\)$')


def key_notebook(starter: str, *, data_cell: str | None = None) -> str:
    """The starter notebook with every stub cell replaced by the answer key's function.

    Each exercise's key runs once in a namespace of its own (keys share helper names, e.g.
    ``laplace_loglik``), in a cell put before the exercise's first stub; each stub cell then binds
    its function from there. ``data_cell`` (e.g. a ``pd.read_csv("data/...")`` cell) goes right
    after the imports.
    """
    nb = nbformat.reads(starter, as_version=4)
    cells, current, loaded = [], None, set()
    for cell in nb.cells:
        found = _EXERCISE.search(cell.source) if cell.cell_type == "markdown" else None
        if found:
            current = found.group(1)
        if cell.cell_type == "code" and current and cell.source.startswith("def "):
            name = cell.source[4:].split("(", 1)[0]
            space = "_key_" + current.replace("-", "_")
            if current not in loaded:
                source = key_path(current).read_text(encoding="utf-8")
                cells.append(nbformat.v4.new_code_cell(f"{space} = {{'__name__': __name__}}\nexec({source!r}, {space})"))
                loaded.add(current)
            cell = nbformat.v4.new_code_cell(f"{name} = {space}[{name!r}]")
        cells.append(cell)
    if data_cell is not None:
        cells.insert(2, nbformat.v4.new_code_cell(data_cell))
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i:03d}"
    nb.cells = cells
    nbformat.validate(nb)
    return nbformat.writes(nb)


def run_notebook(path: Path, python: str = sys.executable, env: dict[str, str] | None = None) -> Any:
    """Execute the notebook at ``path`` in place with ``python``'s kernel; return it as run."""
    proc = subprocess.run([python, "-c", RUN_NOTEBOOK, str(path)], capture_output=True, text=True, cwd=path.parent,
                          env=env if env is not None else dict(os.environ), timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return nbformat.read(path, as_version=4)


def check_results(nb: Any) -> dict[str, dict[str, Any]]:
    """Exercise id -> the result data shown by its ``check("id")`` cell (one display each)."""
    out: dict[str, dict[str, Any]] = {}
    for cell in nb.cells:
        found = _CHECK.match(cell.source.strip()) if cell.cell_type == "code" else None
        if not found:
            continue
        shown = [o for o in cell.outputs if o.output_type == "display_data"]
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors and len(shown) == 1, f"check cell {found.group(1)}: {cell.outputs}"
        assert {"text/html", "text/plain", MIME_TYPE} <= set(shown[0].data), shown[0].data.keys()
        data = shown[0].data[MIME_TYPE]
        out[found.group(1)] = data if isinstance(data, dict) else json.loads(data)
        out[found.group(1)]["_text"] = shown[0].data["text/plain"]
        out[found.group(1)]["_html"] = shown[0].data["text/html"]
    return out
