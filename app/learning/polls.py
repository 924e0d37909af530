"""Polls: a teacher puts one of the course's questions to the class (peer instruction, issue 24).

A poll asks one question. Round 1 is the first vote; the teacher may show the class its
votes, open round 2 (the second vote, after the discussion), and reveal the answer (and, for
a predict question, the real run). One vote per learner per round, final once sent. A class
has at most one poll open: opening another closes the one before.

Votes are kept apart from the learner's own answers (`quiz_attempts`): a poll vote is said
in class, not the learner's scored first answer. They have a `learner` column, so a
learner's export and deletion cover them; leaving a class deletes them too.

PollRecords is mixed into ProgressStore, like ClassRecords (app/learning/classes.py).
"""
from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Callable

from app.learning.classes import SEEN_EVERY_S, ClassError, ClassInfo

ACTIONS = ("show_votes", "hide_votes", "stop_votes", "second_vote", "reveal", "close")
POLL_COLUMNS = "id, class_id, chapter, question, round, accepting, votes_shown, revealed, closed, opened_at, updated_at"


@dataclass(frozen=True)
class Poll:
    id: int
    class_id: str
    chapter: str
    question: str
    round: int  # 1 the first vote, 2 the second
    accepting: bool  # votes are taken for `round`
    votes_shown: bool  # the class may see the distribution of its votes
    revealed: bool  # the answer (and a predict question's run) is shown to the class
    closed: bool
    opened_at: float
    updated_at: float

    @property
    def version(self) -> tuple:
        """What a learner's banner compares to notice a change."""
        return (self.id, self.round, self.accepting, self.votes_shown, self.revealed, self.closed)

    @property
    def version_text(self) -> str:
        return "-".join(str(int(v)) for v in self.version)


@dataclass
class RoundTally:
    votes: int = 0
    correct: int = 0  # votes whose whole answer was right
    options: Counter = field(default_factory=Counter)  # authored option index -> votes choosing it


@dataclass(frozen=True)
class ClassPresence:
    """One class of a learner, for the banner on every page: its open poll, if any."""
    info: ClassInfo
    alias: str
    last_seen: float
    poll: Poll | None
    voted_rounds: frozenset[int]


def _poll(row) -> Poll:
    i, c, ch, q, r, a, s, rv, cl, o, u = row
    return Poll(i, c, ch, q, r, bool(a), bool(s), bool(rv), bool(cl), o, u)


class PollRecords:
    """The poll part of ProgressStore (mixed in): it uses `conn`, `_write` and `_read`."""

    conn: sqlite3.Connection
    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _read: Callable[[], AbstractContextManager[sqlite3.Connection]]

    def open_poll(self, class_id: str, chapter: str, question: str) -> Poll:
        """Put a question to the class (round 1); the class's open poll, if any, is closed."""
        now = time.time()
        with self._write() as conn:
            conn.execute("UPDATE class_polls SET closed = 1, accepting = 0, updated_at = ? "
                         "WHERE class_id = ? AND closed = 0", (now, class_id))
            cursor = conn.execute("INSERT INTO class_polls (class_id, chapter, question, round, accepting, votes_shown, "
                                  "revealed, closed, opened_at, updated_at) VALUES (?, ?, ?, 1, 1, 0, 0, 0, ?, ?)",
                                  (class_id, chapter, question, now, now))
            return Poll(cursor.lastrowid, class_id, chapter, question, 1, True, False, False, False, now, now)

    def current_poll(self, class_id: str) -> Poll | None:
        """The class's open poll (None when none is open)."""
        row = self.conn.execute(f"SELECT {POLL_COLUMNS} FROM class_polls WHERE class_id = ? AND closed = 0 "
                                f"ORDER BY id DESC LIMIT 1", (class_id,)).fetchone()
        return _poll(row) if row else None

    def poll_action(self, class_id: str, poll_id: int, action: str) -> Poll:
        """The teacher's step on the open poll (one of ACTIONS); ClassError when it is not open
        or the step makes no sense now (a second vote after the answer was revealed)."""
        if action not in ACTIONS:
            raise ClassError(f"action {action[:32]!r} is not one of {', '.join(ACTIONS)}")
        with self._write() as conn:
            row = conn.execute(f"SELECT {POLL_COLUMNS} FROM class_polls WHERE id = ? AND class_id = ?",
                               (poll_id, class_id)).fetchone()
            if row is None or row[8]:
                raise ClassError("that poll is closed: open a new one")
            poll = _changed(_poll(row), action)
            conn.execute("UPDATE class_polls SET round = ?, accepting = ?, votes_shown = ?, revealed = ?, closed = ?, "
                         "updated_at = ? WHERE id = ?",
                         (poll.round, int(poll.accepting), int(poll.votes_shown), int(poll.revealed),
                          int(poll.closed), poll.updated_at, poll.id))
        return poll

    def vote(self, class_id: str, poll_id: int, round_: int, learner: str, selected: list[int], correct: bool) -> None:
        """A member's vote in the open round; ClassError when this round takes no vote (any
        more), or the learner already voted in it."""
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM class_members WHERE class_id = ? AND learner = ?",
                            (class_id, learner)).fetchone() is None:
                raise ClassError("join the class first")
            row = conn.execute(f"SELECT {POLL_COLUMNS} FROM class_polls WHERE id = ? AND class_id = ?",
                               (poll_id, class_id)).fetchone()
            poll = _poll(row) if row else None
            if poll is None or poll.closed or not poll.accepting or poll.round != round_:
                raise ClassError("this vote has closed: the page shows the one open now")
            try:
                conn.execute("INSERT INTO poll_votes (poll_id, round, learner, selected, correct, voted_at) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             (poll_id, round_, learner, json.dumps(sorted(selected)), int(correct), time.time()))
            except sqlite3.IntegrityError:
                raise ClassError("your vote in this round is in already (one vote per round)") from None

    def my_votes(self, poll_id: int, learner: str) -> dict[int, list[int]]:
        """round -> the options this learner chose."""
        rows = self.conn.execute("SELECT round, selected FROM poll_votes WHERE poll_id = ? AND learner = ?",
                                 (poll_id, learner)).fetchall()
        return {r: json.loads(s) for r, s in rows}

    def tally(self, poll_id: int) -> dict[int, RoundTally]:
        """round -> its votes counted (no learner in it)."""
        out: dict[int, RoundTally] = {}
        for round_, selected, correct in self.conn.execute(
                "SELECT round, selected, correct FROM poll_votes WHERE poll_id = ?", (poll_id,)):
            t = out.setdefault(round_, RoundTally())
            t.votes += 1
            t.correct += int(bool(correct))
            t.options.update(json.loads(selected))
        return out

    def class_polls(self, class_id: str) -> list[Poll]:
        """Every poll the class had, oldest first (for the export)."""
        rows = self.conn.execute(f"SELECT {POLL_COLUMNS} FROM class_polls WHERE class_id = ? ORDER BY id",
                                 (class_id,)).fetchall()
        return [_poll(row) for row in rows]

    def presence(self, learner: str) -> list[ClassPresence]:
        """The learner's classes, each with its open poll and the rounds already voted in; marks
        the learner active in them (written at most every SEEN_EVERY_S)."""
        out = []
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT c.id, c.name, c.created_at, m.alias, m.last_seen, p.{POLL_COLUMNS.replace(', ', ', p.')} "
                f"FROM class_members m JOIN classes c ON c.id = m.class_id "
                f"LEFT JOIN class_polls p ON p.class_id = m.class_id AND p.closed = 0 "
                f"WHERE m.learner = ? ORDER BY m.joined_at, p.id DESC", (learner,)).fetchall()
            seen_classes = set()
            for row in rows:
                if row[0] in seen_classes:
                    continue  # an older open poll (two opened at once by two processes): the newest wins
                seen_classes.add(row[0])
                poll = _poll(row[5:]) if row[5] is not None else None
                voted = frozenset(r for (r,) in conn.execute(
                    "SELECT round FROM poll_votes WHERE poll_id = ? AND learner = ?", (poll.id, learner))) if poll else frozenset()
                out.append(ClassPresence(ClassInfo(*row[:3]), row[3], row[4], poll, voted))
        now = time.time()
        self.seen(learner, [p.info.id for p in out if now - p.last_seen > SEEN_EVERY_S])
        return out


def _changed(poll: Poll, action: str) -> Poll:
    now = time.time()
    if action == "show_votes":
        return replace(poll, votes_shown=True, updated_at=now)
    if action == "hide_votes":
        return replace(poll, votes_shown=False, updated_at=now)
    if action == "stop_votes":
        return replace(poll, accepting=False, updated_at=now)
    if action == "second_vote":
        if poll.round == 2:
            raise ClassError("the second vote is open already")
        if poll.revealed:
            raise ClassError("the answer is revealed: a second vote would only count who read it")
        return replace(poll, round=2, accepting=True, votes_shown=False, updated_at=now)
    if action == "reveal":
        return replace(poll, revealed=True, accepting=False, votes_shown=True, updated_at=now)
    return replace(poll, closed=True, accepting=False, updated_at=now)
