"""Class rosters: a CSV file with one student per row.

Columns: ``student_id`` (required; it becomes a folder name, so only letters, digits, ``.``,
``_`` and ``-``, not starting with ``.``), optional ``name``, ``email`` and ``extension`` (a
deadline extension for the late policy: ``2d``, ``36h``, ``90m`` or a new due date-time with a
zone, see docs/review.md); other columns are ignored. The file must be UTF-8 (a byte-order mark is accepted). Every problem raises
:class:`RosterError` with a one-line message naming the file, the row (the line number a
spreadsheet shows, the header being row 1) and what to do.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from graders.safe_text import one_line

__all__ = [
    "Roster",
    "RosterError",
    "Student",
    "parse_roster",
    "read_roster",
    "valid_student_id",
]

ID_COLUMN = "student_id"
OPTIONAL_COLUMNS = ("name", "email", "extension")
_ID_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
MAX_ID_LENGTH = 64


def valid_student_id(student_id: str) -> bool:
    """Is ``student_id`` a valid roster id (letters, digits, ``. _ -``, at most 64 characters)?"""
    return len(student_id) <= MAX_ID_LENGTH and bool(_ID_RE.fullmatch(student_id))


class RosterError(ValueError):
    """The roster file cannot be used as given."""


@dataclass(frozen=True)
class Student:
    """One roster row."""

    student_id: str
    name: str = ""
    email: str = ""
    row: int = 0
    extension: str = ""

    def as_dict(self) -> dict[str, str]:
        """Plain data for manifests and templates (without the row number; ``extension`` when set)."""
        data = {"student_id": self.student_id, "name": self.name, "email": self.email}
        if self.extension:
            data["extension"] = self.extension
        return data


@dataclass(frozen=True)
class Roster:
    """The students of a roster, in file order, and the SHA-256 of the file's bytes."""

    students: tuple[Student, ...]
    sha256: str
    source: str

    def __len__(self) -> int:
        return len(self.students)


def _decode(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RosterError(
            f"{where}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); "
            "save the roster as CSV UTF-8"
        ) from None


def parse_roster(raw: bytes, *, source: str = "roster") -> Roster:
    """Parse roster CSV bytes (see the module docstring for the rules).

    ``source`` names the file in messages; it is put on one line without control characters
    (a file name may hold any of them), and cell values are quoted with ``repr``.
    """
    source = one_line(source, 200)
    text = _decode(raw, source)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise RosterError(f"{source}: the file is empty; give a header row with {ID_COLUMN} and one row per student") from None
    except csv.Error as exc:
        raise RosterError(f"{source} row 1: not valid CSV ({exc})") from None
    columns = [h.strip().lower() for h in header]
    if ID_COLUMN not in columns:
        found = ", ".join(repr(h) for h in header) or "nothing"
        raise RosterError(f"{source}: missing column {ID_COLUMN!r} in the header row (found {found}); add it")
    dupes = sorted({c for c in columns if c and columns.count(c) > 1})
    if dupes:
        raise RosterError(f"{source}: column {dupes[0]!r} appears more than once in the header row; keep one")
    index = {c: columns.index(c) for c in (ID_COLUMN, *OPTIONAL_COLUMNS) if c in columns}

    students: list[Student] = []
    seen: dict[str, int] = {}
    seen_folded: dict[str, tuple[str, int]] = {}
    try:
        for row_values in reader:
            row = reader.line_num
            if not any(v.strip() for v in row_values):
                continue  # blank lines (spreadsheets add them at the end)

            def cell(column: str, values: list[str] = row_values) -> str:
                i = index.get(column)
                return values[i].strip() if i is not None and i < len(values) else ""

            sid = cell(ID_COLUMN)
            if not sid:
                raise RosterError(f"{source} row {row}: empty {ID_COLUMN}; give every student an id")
            if len(sid) > MAX_ID_LENGTH or not _ID_RE.fullmatch(sid):
                raise RosterError(
                    f"{source} row {row}: student id {sid!r} is not allowed; ids become folder names, "
                    f"so use only letters, digits, '.', '_' and '-' (not starting with '.', at most "
                    f"{MAX_ID_LENGTH} characters)"
                )
            if sid in seen:
                raise RosterError(f"{source}: student id {sid!r} appears in rows {seen[sid]} and {row}; ids must be unique")
            folded = sid.casefold()
            if folded in seen_folded:
                other, other_row = seen_folded[folded]
                raise RosterError(
                    f"{source}: student ids {other!r} (row {other_row}) and {sid!r} (row {row}) differ only "
                    "in upper/lower case, which gives one folder on Windows and macOS; make them differ"
                )
            seen[sid] = row
            seen_folded[folded] = (sid, row)
            extension = cell("extension")
            if extension:
                from glmm_exercises.review.late import parse_extension

                try:
                    parse_extension(extension)
                except ValueError as exc:
                    raise RosterError(f"{source} row {row}: extension {extension!r}: {exc}") from None
            students.append(Student(sid, cell("name"), cell("email"), row, extension))
    except csv.Error as exc:
        raise RosterError(f"{source} row {reader.line_num}: not valid CSV ({exc})") from None
    if not students:
        raise RosterError(f"{source}: no students (only a header row); add one row per student")
    return Roster(tuple(students), hashlib.sha256(raw).hexdigest(), source)


def read_roster(path: str | Path) -> Roster:
    """Read and check the roster CSV at ``path``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RosterError(f"roster {str(path)!r} does not exist; pass the path of the class CSV file") from None
    except IsADirectoryError:
        raise RosterError(f"roster {str(path)!r} is a directory; pass the class CSV file") from None
    except OSError as exc:
        raise RosterError(f"cannot read roster {str(path)!r} ({exc.strerror})") from None
    return parse_roster(raw, source=path.name)
