"""Write a whole output directory at once: build it in a temporary sibling, then rename it.

A failure while building leaves nothing at the destination (the temporary directory is
removed); an existing non-empty destination is only replaced when ``force`` is true.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["OutputExistsError", "check_destination", "staged_directory", "write_bytes", "write_text"]


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
