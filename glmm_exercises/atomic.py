"""Whole-or-nothing files and folders: the names live in :mod:`graders.atomic` (one module serves
the grading core and the course layer alike); they are re-exported here for the course layer."""

from __future__ import annotations

from graders.atomic import (
    OutputExistsError,
    atomic_write,
    check_destination,
    staged_directory,
    write_bytes,
    write_text,
)

__all__ = [
    "OutputExistsError",
    "atomic_write",
    "check_destination",
    "staged_directory",
    "write_bytes",
    "write_text",
]
