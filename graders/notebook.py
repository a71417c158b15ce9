"""Turn a submission file into the code cells the sandbox runs.

A ``.py`` file is one cell labelled with the file's name.  A Jupyter notebook gives one cell per
code cell, labelled ``"name.ipynb [cell N]"`` (N counts all cells, as Jupyter shows them), so
tracebacks and load warnings point the student at the right cell.  Each notebook cell is turned
into Python by IPython's own input transformer (``IPython.core.inputtransformer2``), exactly as
Jupyter would before running it: a line magic becomes ``get_ipython().run_line_magic(...)``, a
shell escape ``get_ipython().system(...)``, a cell magic ``get_ipython().run_cell_magic(...)``,
and ordinary Python -- continuation lines starting with ``!=`` or ``%``, strings holding
U+2028 or form feeds -- is left exactly as written.  The sandbox gives notebooks a
``get_ipython()`` whose magics are skipped with a warning in the report (``%%time``,
``%%timeit``, ``%%capture`` and ``%%prun`` run their body once).  Notebooks are parsed with
``nbformat`` (which also upgrades old notebook versions).  Nothing here executes the submission.

A notebook can grade itself while the student works: it imports ``check`` from
``glmm_exercises.notebook`` (:data:`KERNEL_HELPERS`) and ends each exercise with ``check("id")``.
Those lines only matter in the student's kernel, and the sandbox forbids importing the package, so
the grader leaves out top-level imports from that module and top-level calls of the names they
bind (each left-out line becomes an empty line, so line numbers stay right).
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

__all__ = ["KERNEL_HELPERS", "SUPPORTED_SUFFIXES", "NotebookError", "read_cells", "to_python"]

SUPPORTED_SUFFIXES = (".py", ".ipynb")
#: The module whose helpers (``check``) a notebook uses in the student's kernel only.
KERNEL_HELPERS = "glmm_exercises.notebook"


class NotebookError(ValueError):
    """The notebook cannot be read (not JSON, not a notebook, unknown format version)."""


def read_cells(path: Path, data: bytes | None = None) -> list[tuple[str, str]]:
    """``(label, source)`` of every code cell of the submission at ``path``.

    ``data`` is the file's content when the caller has already read it (safely, see
    :mod:`graders.submission_files`); otherwise it is read here, without following links.

    Raises:
        NotebookError: an ``.ipynb`` file that is not a readable notebook.
        ValueError: a suffix other than ``.py`` / ``.ipynb``.
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(f"unsupported submission type {path.name!r}; "
                         "submit a .py file or a .ipynb notebook")
    if data is None:
        from graders.submission_files import read_regular_file

        data = read_regular_file(path)
    text = data.decode("utf-8", "replace")
    if suffix == ".py":
        return [(path.name, text)]
    cells = [(f"{path.name} [cell {n}]", to_python(src)) for n, src in _code_cells(path.name, text)]
    return _without_kernel_checks(cells)


def _is_helper_import(node: ast.stmt) -> bool:
    return isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == KERNEL_HELPERS


def _without_kernel_checks(cells: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The cells without the kernel-only ``check`` lines (see the module docstring)."""
    trees: list[ast.Module | None] = []
    names: set[str] = set()
    for _, source in cells:
        try:
            tree: ast.Module | None = ast.parse(source)
        except (SyntaxError, ValueError):
            tree = None  # compiled (and reported) by the sandbox as it is
        trees.append(tree)
        for node in tree.body if tree else ():
            if _is_helper_import(node):
                assert isinstance(node, ast.ImportFrom)
                names.update(alias.asname or alias.name for alias in node.names)
    if not names:
        return cells
    out = []
    for (label, source), tree in zip(cells, trees, strict=True):
        if tree is None:
            out.append((label, source))
            continue
        kept_lines = {
            line
            for node in tree.body
            if not _is_kernel_only(node, names)
            for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)
        }
        lines = source.splitlines(keepends=True)
        for node in tree.body:
            span = range(node.lineno, (node.end_lineno or node.lineno) + 1)
            if _is_kernel_only(node, names) and not kept_lines.intersection(span):
                for line in span:
                    lines[line - 1] = "\n"
        out.append((label, "".join(lines)))
    return out


def _is_kernel_only(node: ast.stmt, names: set[str]) -> bool:
    if _is_helper_import(node):
        return True
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id in names
    )


def _code_cells(name: str, text: str) -> list[tuple[int, str]]:
    import nbformat

    try:
        cells = nbformat.reads(text, as_version=4).cells
        out = []
        for number, cell in enumerate(cells, start=1):
            if cell.get("cell_type") != "code":
                continue
            source = cell.get("source", "")
            out.append((number, "".join(source) if isinstance(source, list) else str(source)))
        return out
    except Exception as exc:  # nbformat raises many kinds of errors for a bad file
        detail = " ".join(str(exc).split())[:200]
        raise NotebookError(f"{name} is not a readable Jupyter notebook ({detail}); "
                            "save it again from Jupyter or submit a .py file") from exc


def to_python(source: str) -> str:
    """One notebook cell as the Python IPython would run (see the module docstring).

    A cell IPython cannot transform (it is not valid Python either) is returned unchanged, so
    compiling it reports the syntax error at the right line.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return TransformerManager().transform_cell(source)
        except Exception:  # IPython gives up on some broken cells; compile() will say why
            return source
