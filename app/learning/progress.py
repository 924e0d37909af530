"""Learners' progress in SQLite: visited chapters, every answer to each question (scored on the
first; app/learning/quiz_record.py), coding exercises and the items ticked in chapters'
checklists.

A learner is an anonymous random id (app/web/learner.py keeps it in a cookie). A visit is
recorded only for a learner who came back with that cookie, so a crawler that never keeps
cookies writes nothing.

The schema is created and migrated once, at start-up (`ProgressDB.migrate`, called by
create_app): `PRAGMA user_version` holds how many MIGRATIONS have run, and the missing ones
run in one transaction. To add a table or a column, APPEND a migration; never edit one that
has shipped. Every table that keeps something about a learner has a `learner` column: that
is how `export` and `delete_learner` find all of it.

A request gets one connection (`store_for(request)` in app/web/learner.py, through the `store`
dependency of app/web/pages.py, which hands it back when the request ends), taken on first use from the
database's pool of idle connections: a request that never touches progress takes none.
Pooled, not opened per request: closing SQLite's last connection to a WAL file checkpoints
it, so a class's page visits each paid an fsync (1.9 ms per visit measured, against 0.03 ms
for the write itself) and queued the other writers behind it.
Connections run in autocommit mode; every write is one
BEGIN IMMEDIATE transaction, so the write lock is taken up front and another process's write
is waited for (busy_timeout) instead of failing with "database is locked" halfway.
WAL journal: readers never wait for the writer. synchronous=NORMAL: a commit survives the
process being killed (kill -9; it is in the OS's page cache by then); only a power cut can
lose the last commits.
"""
from __future__ import annotations

import json
import logging
import re
import secrets
import sqlite3
import threading
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from app.learning.quiz_record import QuizRecords
from app.learning.class_stats import ClassStats
from app.learning.classes import CLASS_TABLES, ClassRecords
from app.learning.polls import PollRecords
from app.learning.review import MIGRATION as REVIEW_MIGRATION, ReviewRecords

log = logging.getLogger(__name__)
BUSY_TIMEOUT_S = 10.0
IDLE_CONNECTIONS = 16  # kept open between requests; more at once are opened and closed

# MIGRATIONS[i] brings the database from version i to i + 1 (statements run in order).
MIGRATIONS: list[tuple[str, ...]] = [
    # 1: visits and answers (IF NOT EXISTS: databases made before versioning already have them)
    ("""CREATE TABLE IF NOT EXISTS visits (
            learner TEXT NOT NULL,
            chapter TEXT NOT NULL,
            first_at REAL NOT NULL,
            last_at REAL NOT NULL,
            PRIMARY KEY (learner, chapter))""",
     """CREATE TABLE IF NOT EXISTS answers (
            learner TEXT NOT NULL,
            chapter TEXT NOT NULL,
            question TEXT NOT NULL,
            selected TEXT NOT NULL,
            correct INTEGER NOT NULL,
            answered_at REAL NOT NULL,
            PRIMARY KEY (learner, chapter, question))"""),
    # 2: coding exercises: attempts, passes and the code last run (issue 11)
    ("""CREATE TABLE exercise_attempts (
            learner TEXT NOT NULL,
            exercise TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            passes INTEGER NOT NULL DEFAULT 0,
            last_code TEXT NOT NULL DEFAULT '',
            last_passed INTEGER NOT NULL DEFAULT 0,
            updated_at REAL NOT NULL,
            PRIMARY KEY (learner, exercise))""",),
    # 3: ticked checklist items (issue 10); item is the check's number in its list, 1..N
    ("""CREATE TABLE checklist_ticks (
            learner TEXT NOT NULL,
            chapter TEXT NOT NULL,
            checklist TEXT NOT NULL,
            item INTEGER NOT NULL,
            ticked_at REAL NOT NULL,
            PRIMARY KEY (learner, chapter, checklist, item))""",),
    # 4: coding exercises: the deepest hint tier opened (0 none, 1 the nudge, 2 the recipe) and
    # the tests the last run failed, as JSON (issue 22's two-tier hints; issue 20's training
    # with failing code says which tests fail)
    ("ALTER TABLE exercise_attempts ADD COLUMN hint_level INTEGER NOT NULL DEFAULT 0",
     "ALTER TABLE exercise_attempts ADD COLUMN last_failed TEXT NOT NULL DEFAULT '[]'"),
    # 5: every answer, scored on the first (issue 20): attempts numbered from 1, the hint tier
    # open at each, an optional confidence; hints asked for and "show me" per question. The
    # latest answer kept so far becomes attempt 1 (the earlier ones were never stored), and the
    # answers table goes: the latest answer is the last attempt.
    ("""CREATE TABLE quiz_attempts (
            learner TEXT NOT NULL,
            chapter TEXT NOT NULL,
            question TEXT NOT NULL,
            attempt INTEGER NOT NULL CHECK (attempt >= 1),
            selected TEXT NOT NULL,
            correct INTEGER NOT NULL,
            hint_tier INTEGER NOT NULL DEFAULT 0,
            confidence TEXT CHECK (confidence IN ('sure', 'think', 'guess')),
            answered_at REAL NOT NULL,
            PRIMARY KEY (learner, chapter, question, attempt))""",
     """INSERT INTO quiz_attempts (learner, chapter, question, attempt, selected, correct, answered_at)
            SELECT learner, chapter, question, 1, selected, correct, answered_at FROM answers""",
     "DROP TABLE answers",
     """CREATE TABLE quiz_help (
            learner TEXT NOT NULL,
            chapter TEXT NOT NULL,
            question TEXT NOT NULL,
            hint_tier INTEGER NOT NULL DEFAULT 0,
            revealed INTEGER NOT NULL DEFAULT 0,
            updated_at REAL NOT NULL,
            PRIMARY KEY (learner, chapter, question))"""),
    # 6: classes, their members and their polls (issue 24): the statements are CLASS_TABLES in
    # app/learning/classes.py, beside the code that uses them (never edit them: append)
    CLASS_TABLES,
    # 7: spaced review (issue 23): FSRS cards and every review (app/learning/review.py)
    REVIEW_MIGRATION,
]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass
class ExerciseProgress:
    attempts: int = 0
    passes: int = 0
    last_code: str = ""
    last_passed: bool = False
    hint_level: int = 0  # the deepest hint tier opened: 0 none, 1 the nudge, 2 the recipe
    last_failed: list = field(default_factory=list)  # [{"name", "hidden"}] of the last run

    @property
    def solved(self) -> bool:
        return self.passes > 0


@dataclass
class ChapterProgress:
    visited: bool = False
    answered: int = 0  # questions answered at least once
    first_correct: int = 0  # questions whose first answer was right: the score
    hint_used: int = 0  # questions whose first answer was given with a hint open
    last_at: float = 0.0  # the latest visit or answer (0: none)


class ProgressDB:
    """The database file: migrated once, and the source of configured connections."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        # this process's writers queue here, in order, instead of sleeping in SQLite's busy
        # handler (a precaution: the class-load bench's figures did not move with it)
        self.write_lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._idle_lock = threading.Lock()

    def checkout(self) -> sqlite3.Connection:
        """An idle pooled connection, or a new one."""
        with self._idle_lock:
            if self._idle:
                return self._idle.pop()
        return self.connect()

    def checkin(self, conn: sqlite3.Connection) -> None:
        """Back to the pool (closed when the pool is full), never inside a transaction."""
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        with self._idle_lock:
            if len(self._idle) < IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        conn.close()

    def connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False: one request's connection may be used by the event loop and
        # then by a worker thread (asyncio.to_thread), one after the other, never at once
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def migrate(self) -> int:
        """Run the migrations this file has not had; returns the version it was at."""
        with closing(self.connect()) as conn:
            conn.execute("PRAGMA journal_mode = WAL")  # kept in the file: once is enough
            conn.execute("BEGIN IMMEDIATE")  # two processes starting at once migrate one by one
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                for statements in MIGRATIONS[version:]:
                    for statement in statements:
                        conn.execute(statement)
                if version < SCHEMA_VERSION:
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        if version > SCHEMA_VERSION:
            log.warning("%s is at schema version %d, newer than this code's %d", self.path,
                        version, SCHEMA_VERSION)
        elif version < SCHEMA_VERSION:
            log.info("%s migrated from schema version %d to %d", self.path, version, SCHEMA_VERSION)
        return version


class ProgressStore(QuizRecords, ClassRecords, PollRecords, ClassStats, ReviewRecords):
    """One unit of work on the progress database: one connection, taken from the pool on
    first use and handed back by close(). Given a path instead of a ProgressDB (scripts,
    tests), it migrates that file first."""

    def __init__(self, db: ProgressDB | Path | str):
        if not isinstance(db, ProgressDB):
            db = ProgressDB(db)
            db.migrate()
        self.db = db
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self.db.checkout()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self.db.checkin(self._conn)
            self._conn = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, the lock taken up front."""
        conn = self.conn
        with self.db.write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """Several reads that see one snapshot."""
        conn = self.conn
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    # --- visits and answers -------------------------------------------------------------
    def record_visit(self, learner: str, chapter: str) -> None:
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO visits (learner, chapter, first_at, last_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (learner, chapter) DO UPDATE SET last_at = excluded.last_at",
                (learner, chapter, now, now))

    def summary(self, learner: str, questions: dict[str, set[str]] | None = None) -> dict[str, ChapterProgress]:
        """chapter slug -> progress, scored on first answers. With `questions` (slug -> current
        question ids), answers to questions that no longer exist are not counted."""
        out: dict[str, ChapterProgress] = {}
        with self._read() as conn:
            for chapter, last_at in conn.execute("SELECT chapter, last_at FROM visits WHERE learner = ?", (learner,)):
                p = out.setdefault(chapter, ChapterProgress())
                p.visited, p.last_at = True, max(p.last_at, last_at)
            for chapter, question, correct, tier in conn.execute(
                    "SELECT chapter, question, correct, hint_tier FROM quiz_attempts WHERE learner = ? "
                    "AND attempt = 1", (learner,)):
                if questions is not None and question not in questions.get(chapter, ()):
                    continue
                p = out.setdefault(chapter, ChapterProgress())
                p.answered += 1
                p.first_correct += int(bool(correct))
                p.hint_used += int(tier > 0)
            for chapter, last_at in conn.execute("SELECT chapter, max(answered_at) FROM quiz_attempts "
                                                 "WHERE learner = ? GROUP BY chapter", (learner,)):
                p = out.setdefault(chapter, ChapterProgress())
                p.last_at = max(p.last_at, last_at)
        return out

    def reset(self, learner: str) -> None:
        """Forget the learner's progress through the course (visits, answers and hints,
        exercises, checklist ticks, review cards)."""
        with self._write() as conn:
            conn.execute("DELETE FROM visits WHERE learner = ?", (learner,))
            conn.execute("DELETE FROM quiz_attempts WHERE learner = ?", (learner,))
            conn.execute("DELETE FROM quiz_help WHERE learner = ?", (learner,))
            conn.execute("DELETE FROM exercise_attempts WHERE learner = ?", (learner,))
            conn.execute("DELETE FROM checklist_ticks WHERE learner = ?", (learner,))
            self.forget_reviews(conn, learner)

    # --- checklists -----------------------------------------------------------------------
    def set_ticks(self, learner: str, chapter: str, checklist: str, items: set[int]) -> None:
        """Make `items` the ticked items of the checklist: others are unticked, and an item
        ticked before keeps the time it was first ticked."""
        with self._write() as conn:
            kept = ",".join("?" * len(items))
            conn.execute(f"DELETE FROM checklist_ticks WHERE learner = ? AND chapter = ? AND checklist = ? "
                         f"AND item NOT IN ({kept})", (learner, chapter, checklist, *sorted(items)))
            now = time.time()
            conn.executemany("INSERT OR IGNORE INTO checklist_ticks (learner, chapter, checklist, item, "
                             "ticked_at) VALUES (?, ?, ?, ?, ?)",
                             [(learner, chapter, checklist, item, now) for item in sorted(items)])

    def ticks(self, learner: str, chapter: str | None = None) -> dict[str, dict[str, set[int]]]:
        """chapter -> checklist id -> ticked item numbers (of one chapter, or of all)."""
        query = "SELECT chapter, checklist, item FROM checklist_ticks WHERE learner = ?"
        args: tuple = (learner,)
        if chapter is not None:
            query, args = query + " AND chapter = ?", (learner, chapter)
        out: dict[str, dict[str, set[int]]] = {}
        for ch, checklist, item in self.conn.execute(query, args):
            out.setdefault(ch, {}).setdefault(checklist, set()).add(item)
        return out

    # --- coding exercises -------------------------------------------------------------------
    def record_attempt(self, learner: str, exercise: str, code: str, passed: bool,
                       failed: list[dict] | None = None) -> None:
        """One graded run: counted, its code kept as the learner's last code, and the tests it
        failed ([{"name", "hidden"}]) kept for the page that trains with that code."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO exercise_attempts (learner, exercise, attempts, passes, last_code, "
                "last_passed, last_failed, updated_at) VALUES (?, ?, 1, ?, ?, ?, ?, ?) "
                "ON CONFLICT (learner, exercise) "
                "DO UPDATE SET attempts = attempts + 1, passes = passes + excluded.passes, "
                "last_code = excluded.last_code, last_passed = excluded.last_passed, "
                "last_failed = excluded.last_failed, updated_at = excluded.updated_at",
                (learner, exercise, int(passed), code, int(passed), json.dumps(failed or []), time.time()))

    def record_hint(self, learner: str, exercise: str, level: int) -> int:
        """The learner opened hint tier `level` (1 the nudge, 2 the recipe); returns the deepest
        tier opened so far (a tier once opened stays recorded)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO exercise_attempts (learner, exercise, hint_level, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (learner, exercise) DO UPDATE SET "
                "hint_level = max(hint_level, excluded.hint_level), updated_at = excluded.updated_at",
                (learner, exercise, level, time.time()))
            return conn.execute("SELECT hint_level FROM exercise_attempts WHERE learner = ? AND exercise = ?",
                                (learner, exercise)).fetchone()[0]

    def exercises(self, learner: str) -> dict[str, ExerciseProgress]:
        """exercise id -> attempts, passes, last code, hint tier and the last run's failed tests,
        for the exercises this learner ran or asked a hint for."""
        rows = self.conn.execute("SELECT exercise, attempts, passes, last_code, last_passed, hint_level, "
                                 "last_failed FROM exercise_attempts WHERE learner = ?", (learner,)).fetchall()
        return {e: ExerciseProgress(a, p, c, bool(lp), h, json.loads(f or "[]")) for e, a, p, c, lp, h, f in rows}

    # --- everything about one learner -------------------------------------------------------
    def learner_tables(self) -> list[str]:
        """Every table with a `learner` column: all that is kept about a learner."""
        names = [n for (n,) in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return [n for n in names
                if any(col[1] == "learner" for col in self.conn.execute(f'PRAGMA table_info("{n}")'))]

    def export(self, learner: str) -> dict[str, list[dict]]:
        """table -> every row kept about this learner, as stored."""
        out = {}
        with self._read() as conn:
            for table in self.learner_tables():
                cursor = conn.execute(f'SELECT * FROM "{table}" WHERE learner = ?', (learner,))
                columns = [d[0] for d in cursor.description]
                out[table] = [dict(zip(columns, row)) for row in cursor.fetchall()]
        return out

    def delete_learner(self, learner: str) -> int:
        """Delete every row kept about this learner, in every table; returns how many."""
        deleted = 0
        tables = self.learner_tables()
        with self._write() as conn:
            for table in tables:
                deleted += conn.execute(f'DELETE FROM "{table}" WHERE learner = ?', (learner,)).rowcount
        return deleted
