"""Classes a teacher runs and who is in them (issue 24).

A class has an unguessable id (in its join link) and a teacher token (in the teacher's link,
shown once, when the class is made). Only the token's SHA-256 is stored, so the database
never holds a working token; `teacher_token_ok` compares digests in constant time.

A learner joins under an alias: a nickname they chose, or a random "Calm Heron 42". The
teacher sees aliases, never learner ids; no page shows one learner's answers to anyone else.
Memberships are rows with a `learner` column, so exporting and deleting a learner's data
(ProgressStore.export / delete_learner) covers them, as it covers their poll votes
(app/learning/polls.py).

ClassRecords is mixed into ProgressStore (app/learning/progress.py): it uses the store's
connection and transactions. The tables are migration 5 there.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Callable

NAME_MAX = 80
NICKNAME_MAX = 24
NICKNAME_RE = re.compile(r"[\w][\w .'-]*", re.UNICODE)
MAX_MEMBERS = 1000  # a lecture hall; past it joining is refused (no class grows without bound)
ACTIVE_S = 120.0  # a member seen within this many seconds is "active now"
SEEN_EVERY_S = 20.0  # last_seen is written at most this often per member (the banner asks every few s)
ADJECTIVES = ("Calm", "Bright", "Swift", "Quiet", "Brave", "Keen", "Gentle", "Bold", "Clever", "Steady",
              "Lucky", "Merry", "Noble", "Sunny", "Witty", "Eager", "Jolly", "Proud", "Sly", "Wise")
ANIMALS = ("Heron", "Otter", "Falcon", "Badger", "Lynx", "Marten", "Puffin", "Stoat", "Wren", "Hare",
           "Ibis", "Gecko", "Koala", "Lemur", "Newt", "Orca", "Panda", "Quail", "Robin", "Seal")

# Migration 5 of app/learning/progress.py: shipped statements, never edited (append a migration).
# A class keeps only the SHA-256 of its teacher token. Members and votes have a `learner`
# column: a learner's export and deletion cover them.
CLASS_TABLES: tuple[str, ...] = (
    """CREATE TABLE classes (
           id TEXT PRIMARY KEY,
           name TEXT NOT NULL,
           teacher_token_sha256 TEXT NOT NULL,
           created_at REAL NOT NULL)""",
    """CREATE TABLE class_members (
           class_id TEXT NOT NULL,
           learner TEXT NOT NULL,
           alias TEXT NOT NULL,
           joined_at REAL NOT NULL,
           last_seen REAL NOT NULL,
           PRIMARY KEY (class_id, learner),
           UNIQUE (class_id, alias))""",
    "CREATE INDEX class_members_by_learner ON class_members (learner)",
    """CREATE TABLE class_polls (
           id INTEGER PRIMARY KEY AUTOINCREMENT,
           class_id TEXT NOT NULL,
           chapter TEXT NOT NULL,
           question TEXT NOT NULL,
           round INTEGER NOT NULL CHECK (round IN (1, 2)),
           accepting INTEGER NOT NULL,
           votes_shown INTEGER NOT NULL,
           revealed INTEGER NOT NULL,
           closed INTEGER NOT NULL,
           opened_at REAL NOT NULL,
           updated_at REAL NOT NULL)""",
    "CREATE INDEX class_polls_open ON class_polls (class_id, closed)",
    """CREATE TABLE poll_votes (
           poll_id INTEGER NOT NULL,
           round INTEGER NOT NULL,
           learner TEXT NOT NULL,
           selected TEXT NOT NULL,
           correct INTEGER NOT NULL,
           voted_at REAL NOT NULL,
           PRIMARY KEY (poll_id, round, learner))""",
    "CREATE INDEX poll_votes_by_learner ON poll_votes (learner)")


class ClassError(ValueError):
    """A class operation the request cannot have (the message says why, for the learner)."""


def new_class_id() -> str:
    """An unguessable class id (72 random bits, URL-safe) that never starts with "-": the
    command line (`python -m app class token ID`) would read such an id as an option."""
    while True:
        class_id = secrets.token_urlsafe(12)
        if not class_id.startswith("-"):
            return class_id


@dataclass(frozen=True)
class ClassInfo:
    id: str
    name: str
    created_at: float


@dataclass(frozen=True)
class Member:
    alias: str
    joined_at: float
    last_seen: float

    def active(self, now: float | None = None) -> bool:
        return (now or time.time()) - self.last_seen <= ACTIVE_S


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def clean_name(name: str) -> str:
    """A class's name as stored: trimmed, one line, at most NAME_MAX characters."""
    name = " ".join(str(name).split())
    if not name or len(name) > NAME_MAX:
        raise ClassError(f"a class name has 1 to {NAME_MAX} characters; got {len(name)}")
    return name


def clean_nickname(nickname: str) -> str:
    """A chosen nickname: letters, digits, spaces and . ' - _ only, at most NICKNAME_MAX."""
    nickname = " ".join(str(nickname).split())
    if len(nickname) > NICKNAME_MAX or not NICKNAME_RE.fullmatch(nickname):
        raise ClassError(f"a nickname has 1 to {NICKNAME_MAX} letters, digits, spaces or . ' - _ "
                         f"(starting with a letter or digit)")
    return nickname


class ClassRecords:
    """The class part of ProgressStore (mixed in): it uses `conn`, `_write` and `_read`."""

    conn: sqlite3.Connection
    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _read: Callable[[], AbstractContextManager[sqlite3.Connection]]

    # --- the teacher's side -------------------------------------------------------------
    def create_class(self, name: str) -> tuple[ClassInfo, str]:
        """A new class and its teacher token (returned once: only its digest is kept)."""
        info = ClassInfo(new_class_id(), clean_name(name), time.time())
        token = secrets.token_urlsafe(24)
        with self._write() as conn:
            conn.execute("INSERT INTO classes (id, name, teacher_token_sha256, created_at) VALUES (?, ?, ?, ?)",
                         (info.id, info.name, token_digest(token), info.created_at))
        return info, token

    def new_teacher_token(self, class_id: str) -> str:
        """Replace the class's teacher token (a lost or leaked link); the old one stops working."""
        token = secrets.token_urlsafe(24)
        with self._write() as conn:
            changed = conn.execute("UPDATE classes SET teacher_token_sha256 = ? WHERE id = ?",
                                   (token_digest(token), class_id)).rowcount
        if not changed:
            raise ClassError(f"there is no class {class_id!r}")
        return token

    def teacher_token_ok(self, class_id: str, token: str) -> bool:
        """Whether `token` is the class's teacher token (constant time in the token)."""
        row = self.conn.execute("SELECT teacher_token_sha256 FROM classes WHERE id = ?", (class_id,)).fetchone()
        expected = row[0] if row else token_digest(secrets.token_urlsafe(24))  # same work for no class
        return hmac.compare_digest(token_digest(token), expected) and row is not None

    def class_info(self, class_id: str) -> ClassInfo | None:
        row = self.conn.execute("SELECT id, name, created_at FROM classes WHERE id = ?", (class_id,)).fetchone()
        return ClassInfo(*row) if row else None

    def all_classes(self) -> list[tuple[ClassInfo, int]]:
        """Every class with its member count, newest first."""
        rows = self.conn.execute(
            "SELECT c.id, c.name, c.created_at, count(m.learner) FROM classes c "
            "LEFT JOIN class_members m ON m.class_id = c.id GROUP BY c.id ORDER BY c.created_at DESC").fetchall()
        return [(ClassInfo(i, n, t), count) for i, n, t, count in rows]

    def class_version(self, class_id: str) -> tuple:
        """Counts and latest times that move when anything the teacher's view shows changes
        (not last_seen: members' presence is refreshed on a timer, not on every beat)."""
        with self._read() as conn:
            members = conn.execute("SELECT count(*), max(joined_at) FROM class_members WHERE class_id = ?",
                                   (class_id,)).fetchone()
            polls = conn.execute("SELECT count(*), max(updated_at), max(id) FROM class_polls WHERE class_id = ?",
                                 (class_id,)).fetchone()
            votes = conn.execute("SELECT count(*), max(voted_at) FROM poll_votes WHERE poll_id = ?",
                                 (polls[2],)).fetchone()
            # members' first answers to the course's questions (app/learning/class_stats.py)
            answers = conn.execute(
                "SELECT count(*), max(a.answered_at) FROM class_members m JOIN quiz_attempts a "
                "ON a.learner = m.learner AND a.attempt = 1 WHERE m.class_id = ?", (class_id,)).fetchone()
        return (*members, *polls, *votes, *answers)

    def members(self, class_id: str) -> list[Member]:
        rows = self.conn.execute("SELECT alias, joined_at, last_seen FROM class_members WHERE class_id = ? "
                                 "ORDER BY joined_at", (class_id,)).fetchall()
        return [Member(*row) for row in rows]

    # --- the learner's side -------------------------------------------------------------
    def join_class(self, class_id: str, learner: str, nickname: str = "") -> str:
        """Join (or, already in, rename to a newly chosen nickname); returns the alias."""
        chosen = clean_nickname(nickname) if nickname.strip() else ""
        now = time.time()
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM classes WHERE id = ?", (class_id,)).fetchone() is None:
                raise ClassError(f"there is no class {class_id[:32]!r}: check the link you were given")
            row = conn.execute("SELECT alias FROM class_members WHERE class_id = ? AND learner = ?",
                               (class_id, learner)).fetchone()
            if row and not chosen:
                return row[0]
            if row is None:
                count = conn.execute("SELECT count(*) FROM class_members WHERE class_id = ?", (class_id,)).fetchone()[0]
                if count >= MAX_MEMBERS:
                    raise ClassError(f"this class is full ({MAX_MEMBERS} learners)")
            taken = {a for (a,) in conn.execute("SELECT alias FROM class_members WHERE class_id = ? AND learner != ?",
                                                (class_id, learner))}
            alias = _unique(chosen, taken) if chosen else _random_alias(taken)
            conn.execute("INSERT INTO class_members (class_id, learner, alias, joined_at, last_seen) "
                         "VALUES (?, ?, ?, ?, ?) ON CONFLICT (class_id, learner) DO UPDATE SET alias = excluded.alias",
                         (class_id, learner, alias, now, now))
        return alias

    def leave_class(self, class_id: str, learner: str) -> bool:
        """Leave: the membership and this learner's votes in the class's polls go."""
        with self._write() as conn:
            left = conn.execute("DELETE FROM class_members WHERE class_id = ? AND learner = ?",
                                (class_id, learner)).rowcount
            conn.execute("DELETE FROM poll_votes WHERE learner = ? AND poll_id IN "
                         "(SELECT id FROM class_polls WHERE class_id = ?)", (learner, class_id))
        return bool(left)

    def membership(self, class_id: str, learner: str) -> str | None:
        """The learner's alias in the class, or None when not a member."""
        row = self.conn.execute("SELECT alias FROM class_members WHERE class_id = ? AND learner = ?",
                                (class_id, learner)).fetchone()
        return row[0] if row else None

    def memberships(self, learner: str) -> list[tuple[ClassInfo, str]]:
        """(class, alias) of every class the learner is in."""
        rows = self.conn.execute("SELECT c.id, c.name, c.created_at, m.alias FROM class_members m "
                                 "JOIN classes c ON c.id = m.class_id WHERE m.learner = ? ORDER BY m.joined_at",
                                 (learner,)).fetchall()
        return [(ClassInfo(i, n, t), alias) for i, n, t, alias in rows]

    def seen(self, learner: str, stale: list[str]) -> None:
        """Mark the learner active now in the classes `stale` (those last seen long enough ago)."""
        if not stale:
            return
        with self._write() as conn:
            conn.executemany("UPDATE class_members SET last_seen = ? WHERE class_id = ? AND learner = ?",
                             [(time.time(), class_id, learner) for class_id in stale])


def _random_alias(taken: set[str]) -> str:
    for _ in range(50):
        alias = f"{secrets.choice(ADJECTIVES)} {secrets.choice(ANIMALS)} {secrets.randbelow(90) + 10}"
        if alias not in taken:
            return alias
    return _unique(f"{secrets.choice(ADJECTIVES)} {secrets.choice(ANIMALS)}", taken)


def _unique(alias: str, taken: set[str]) -> str:
    """The alias, or with the first free number after it (two learners chose "Sam")."""
    if alias not in taken:
        return alias
    number = 2
    while f"{alias} {number}" in taken:
        number += 1
    return f"{alias} {number}"
