"""Turn a submission file into the code cells the sandbox runs.

A ``.py`` file is one cell labelled with the file's name.  A Jupyter notebook gives one cell per
code cell, labelled ``"name.ipynb [cell N]"`` (N counts all cells, as Jupyter shows them), so
tracebacks and load warnings point the student at the right cell.  IPython-only syntax is
removed line by line (replaced by blank lines, so line numbers stay right): line magics
(``%matplotlib inline``), shell escapes (``!pip install ...``), help lines (``np.exp?``); a cell
magic (``%%bash``, ``%%writefile``) drops its whole cell, except ``%%time``/``%%timeit``/
``%%capture`` whose body is ordinary Python.  Notebooks are read with ``nbformat`` when it is
installed (it also upgrades old notebook versions), otherwise as nbformat-4 JSON.  Nothing here
executes the submission.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

__all__ = ["SUPPORTED_SUFFIXES", "NotebookError", "read_cells"]

SUPPORTED_SUFFIXES = (".py", ".ipynb")
_PYTHON_CELL_MAGICS = ("time", "timeit", "capture")
_HELP_LINE = re.compile(r"^(\?{1,2}[\w.]+|[\w.]+\?{1,2})$")  # np.exp?  ?np.exp  np.exp??


class NotebookError(ValueError):
    """The notebook cannot be read (not JSON, not a notebook, unknown format version)."""


def read_cells(path: Path) -> list[tuple[str, str]]:
    """``(label, source)`` of every code cell of the submission at ``path``.

    Raises:
        NotebookError: an ``.ipynb`` file that is not a readable notebook.
        ValueError: a suffix other than ``.py`` / ``.ipynb``.
    """
    suffix = path.suffix.lower()
    if suffix == ".py":
        return [(path.name, path.read_bytes().decode("utf-8", "replace"))]
    if suffix == ".ipynb":
        return [(f"{path.name} [cell {n}]", strip_ipython(src)) for n, src in _code_cells(path)]
    raise ValueError(f"unsupported submission type {path.name!r}; "
                     "submit a .py file or a .ipynb notebook")


def _code_cells(path: Path) -> list[tuple[int, str]]:
    try:
        import nbformat
    except ImportError:
        nbformat = None
    try:
        if nbformat is not None:
            cells = nbformat.read(str(path), as_version=4).cells
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("nbformat") != 4:
                raise ValueError("only nbformat 4 notebooks can be read without nbformat")
            cells = data["cells"]
        out = []
        for number, cell in enumerate(cells, start=1):
            if cell.get("cell_type") != "code":
                continue
            source = cell.get("source", "")
            out.append((number, "".join(source) if isinstance(source, list) else str(source)))
        return out
    except Exception as exc:  # nbformat raises many kinds of errors for a bad file
        detail = " ".join(str(exc).split())[:200]
        raise NotebookError(f"{path.name} is not a readable Jupyter notebook ({detail}); "
                            "save it again from Jupyter or submit a .py file") from exc


def strip_ipython(source: str) -> str:
    """Remove IPython-only lines from one cell (see the module docstring)."""
    lines = source.splitlines()
    first = lines[0].strip() if lines else ""
    if first.startswith("%%"):
        magic = first[2:].split(maxsplit=1)[0] if first[2:].strip() else ""
        if magic not in _PYTHON_CELL_MAGICS:
            return "\n" * len(lines)
        lines[0] = ""
    kept = []
    for line in lines:
        stripped = line.strip()
        ipython_only = stripped.startswith(("%", "!")) or bool(_HELP_LINE.match(stripped))
        kept.append("" if ipython_only else line)
    return "\n".join(kept) + "\n"
