"""Files and folders written whole or not at all (one module for every writer of the project).

* :func:`atomic_write`: one file through a temporary name in the same folder and ``os.replace``,
  so a reader or a killed run sees the old file or the complete new one, never a part.
* :func:`staged_directory`: a whole output directory built in a temporary sibling, then renamed;
  a failure while building leaves nothing at the destination, and an existing non-empty
  destination is only replaced when ``force`` is true.

The batch grader, the gradebook, the instructor summary, ``generate`` and the review all write
through here (``glmm_exercises.atomic`` re-exports these names).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "OutputExistsError",
    "atomic_write",
    "check_destination",
    "staged_directory",
    "write_bytes",
    "write_text",
]


class OutputExistsError(ValueError):
    """The destination exists and is not empty (and replacing it was not asked for)."""


def check_destination(out: Path, *, force: bool) -> None:
    """Refuse a destination that is a file, or a non-empty directory without ``force``."""
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--out {str(out)!r} is a file; choose a directory path")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputExistsError(
            f"--out {str(out)!r} exists and is not empty; choose a new directory or pass --force to replace it"
        )


@contextmanager
def staged_directory(out: Path, *, force: bool) -> Iterator[Path]:
    """Yield an empty temporary directory next to ``out``; on success it becomes ``out``."""
    out = Path(out)
    check_destination(out, force=force)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputExistsError(f"cannot create {str(parent)!r} ({exc.strerror}); choose a writable --out") from None
    tmp = parent / f".{out.name}.tmp-{os.getpid()}"
    old = parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        check_destination(out, force=force)  # someone may have written there meanwhile
        if out.exists():
            out.rename(old)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out.exists():
            old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, creating parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` with ``\\n`` line ends to ``path``, creating parent directories."""
    write_bytes(path, text.encode("utf-8"))


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    A reader (or a killed run) sees either the old file or the complete new one, never a part.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()
