"""The review's state: ``DIR/review.sqlite`` (schema in docs/review.md).

Every manual grade and every override is an *event*, appended and never changed; the current
grade of a (student, exercise, item) is its newest event, and an override's current value the
newest override event of that (student, exercise). So two browser tabs that grade the same
answer both keep their grade (the later one is current, the earlier one stays in the history
the page shows), and a killed server loses at most the request it was answering: each write is
one SQLite transaction (journal in WAL mode, ``synchronous=FULL``).

Each call opens its own connection (one per request thread); SQLite serialises the writers.
The file is created by the first write: reading a folder nobody has reviewed leaves no trace.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["DB_NAME", "GradeEvent", "OverrideEvent", "ReviewStore", "now_text"]

DB_NAME = "review.sqlite"
SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS grade_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    student TEXT NOT NULL,
    exercise TEXT NOT NULL,
    item TEXT NOT NULL,
    entries TEXT NOT NULL,          -- JSON list of chosen rubric entry indices (0-based)
    points REAL,                    -- explicit points (a spreadsheet import), else NULL: from entries
    comment TEXT NOT NULL,
    source TEXT NOT NULL,           -- 'page', 'import', 'demo', ...
    at TEXT NOT NULL                -- UTC ISO 8601
);
CREATE INDEX IF NOT EXISTS grade_key ON grade_events (student, exercise, item, id);
CREATE TABLE IF NOT EXISTS override_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    student TEXT NOT NULL,
    exercise TEXT NOT NULL,
    points REAL,                    -- NULL: the override is withdrawn
    reason TEXT NOT NULL,
    source TEXT NOT NULL,           -- 'page' or 'overrides.csv'
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS override_key ON override_events (student, exercise, id);
"""


def now_text() -> str:
    """The current UTC time as ISO 8601 text (seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class GradeEvent:
    """One recorded manual grade."""

    id: int
    student: str
    exercise: str
    item: str
    entries: tuple[int, ...]
    points: float | None
    comment: str
    source: str
    at: str


@dataclass(frozen=True)
class OverrideEvent:
    """One recorded override (``points`` None: withdrawn)."""

    id: int
    student: str
    exercise: str
    points: float | None
    reason: str
    source: str
    at: str


def _grade(row: sqlite3.Row) -> GradeEvent:
    return GradeEvent(row["id"], row["student"], row["exercise"], row["item"], tuple(json.loads(row["entries"])),
                      row["points"], row["comment"], row["source"], row["at"])


def _override(row: sqlite3.Row) -> OverrideEvent:
    return OverrideEvent(row["id"], row["student"], row["exercise"], row["points"], row["reason"], row["source"],
                         row["at"])


class ReviewStore:
    """Append-only manual grades and overrides in ``folder/review.sqlite``."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / DB_NAME
        if self.path.exists():
            self._create()

    def _create(self) -> None:
        with self._connect() as db, db:
            db.executescript(_SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))

    def _rows(self, query: str, *args: object) -> list[sqlite3.Row]:
        if not self.path.exists():
            return []
        with self._connect() as db:
            return db.execute(query, args).fetchall()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level="DEFERRED")
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            yield db
        finally:
            db.close()

    # writes ----------------------------------------------------------------------------------

    def add_grades(self, grades: Sequence[tuple[str, str, str, Sequence[int], float | None, str]],
                   source: str) -> list[int]:
        """Append (student, exercise, item, entries, points, comment) grades in one transaction."""
        at = now_text()
        ids = []
        self._create()
        with self._connect() as db, db:
            for student, exercise, item, entries, points, comment in grades:
                cur = db.execute(
                    "INSERT INTO grade_events (student, exercise, item, entries, points, comment, source, at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (student, exercise, item, json.dumps(sorted(set(entries))), points, comment, source, at),
                )
                ids.append(int(cur.lastrowid or 0))
        return ids

    def add_grade(self, student: str, exercise: str, item: str, entries: Sequence[int], comment: str,
                  source: str = "page", points: float | None = None) -> int:
        """Append one grade; returns its event id."""
        return self.add_grades([(student, exercise, item, entries, points, comment)], source)[0]

    def add_overrides(self, overrides: Sequence[tuple[str, str, float | None, str]], source: str) -> None:
        """Append (student, exercise, points or None, reason) overrides in one transaction."""
        at = now_text()
        self._create()
        with self._connect() as db, db:
            db.executemany(
                "INSERT INTO override_events (student, exercise, points, reason, source, at) VALUES (?, ?, ?, ?, ?, ?)",
                [(s, e, p, r, source, at) for s, e, p, r in overrides],
            )

    # reads -----------------------------------------------------------------------------------

    def grade_history(self, student: str | None = None) -> list[GradeEvent]:
        """Every grade event (of one student), oldest first."""
        if student is None:
            return [_grade(r) for r in self._rows("SELECT * FROM grade_events ORDER BY id")]
        return [_grade(r) for r in self._rows("SELECT * FROM grade_events WHERE student = ? ORDER BY id", student)]

    def current_grades(self) -> dict[tuple[str, str, str], GradeEvent]:
        """(student, exercise, item) -> the newest grade event."""
        return {(g.student, g.exercise, g.item): g for g in self.grade_history()}

    def override_history(self, student: str | None = None) -> list[OverrideEvent]:
        """Every override event (of one student), oldest first."""
        if student is None:
            return [_override(r) for r in self._rows("SELECT * FROM override_events ORDER BY id")]
        return [_override(r) for r in self._rows("SELECT * FROM override_events WHERE student = ? ORDER BY id", student)]

    def current_overrides(self) -> dict[tuple[str, str], OverrideEvent]:
        """(student, exercise) -> the newest override event, left out when it withdrew the override."""
        latest = {(o.student, o.exercise): o for o in self.override_history()}
        return {k: o for k, o in latest.items() if o.points is not None}
