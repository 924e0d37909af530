"""Learners' progress in SQLite: visited chapters and the latest answer to each question.

A learner is an anonymous random id kept in an HttpOnly, SameSite=Lax cookie set on the
first visit. Every operation opens its own connection (WAL mode) and commits before
returning, so progress survives a restart or a killed process.
"""
from __future__ import annotations

import json
import re
import secrets
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request, Response

from app.security import is_https

COOKIE_NAME = "learner"
COOKIE_MAX_AGE = 365 * 24 * 3600
LEARNER_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")

SCHEMA = """
CREATE TABLE IF NOT EXISTS visits (
    learner TEXT NOT NULL,
    chapter TEXT NOT NULL,
    first_at REAL NOT NULL,
    last_at REAL NOT NULL,
    PRIMARY KEY (learner, chapter)
);
CREATE TABLE IF NOT EXISTS answers (
    learner TEXT NOT NULL,
    chapter TEXT NOT NULL,
    question TEXT NOT NULL,
    selected TEXT NOT NULL,
    correct INTEGER NOT NULL,
    answered_at REAL NOT NULL,
    PRIMARY KEY (learner, chapter, question)
);
"""


@dataclass
class ChapterProgress:
    visited: bool = False
    answered: int = 0
    correct: int = 0


class ProgressStore:
    def __init__(self, path: Path):
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
        return conn

    def record_visit(self, learner: str, chapter: str) -> None:
        now = time.time()
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "INSERT INTO visits (learner, chapter, first_at, last_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (learner, chapter) DO UPDATE SET last_at = excluded.last_at",
                (learner, chapter, now, now))

    def record_answer(self, learner: str, chapter: str, question: str,
                      selected: list[int], correct: bool) -> None:
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "INSERT INTO answers (learner, chapter, question, selected, correct, answered_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (learner, chapter, question) DO UPDATE SET "
                "selected = excluded.selected, correct = excluded.correct, "
                "answered_at = excluded.answered_at",
                (learner, chapter, question, json.dumps(list(selected)), int(correct), time.time()))

    def answers(self, learner: str, chapter: str) -> dict[str, tuple[list[int], bool]]:
        """question id -> (selected indices, correct) for the latest answer to each question."""
        with closing(self._connect()) as conn:
            rows = conn.execute("SELECT question, selected, correct FROM answers "
                                "WHERE learner = ? AND chapter = ?", (learner, chapter)).fetchall()
        return {q: (json.loads(s), bool(c)) for q, s, c in rows}

    def summary(self, learner: str, questions: dict[str, set[str]] | None = None) -> dict[str, ChapterProgress]:
        """chapter slug -> progress. With `questions` (slug -> current question ids),
        answers to questions that no longer exist are not counted."""
        out: dict[str, ChapterProgress] = {}
        with closing(self._connect()) as conn:
            for (chapter,) in conn.execute("SELECT chapter FROM visits WHERE learner = ?", (learner,)):
                out.setdefault(chapter, ChapterProgress()).visited = True
            for chapter, question, correct in conn.execute(
                    "SELECT chapter, question, correct FROM answers WHERE learner = ?", (learner,)):
                if questions is not None and question not in questions.get(chapter, ()):
                    continue
                p = out.setdefault(chapter, ChapterProgress())
                p.answered += 1
                p.correct += int(bool(correct))
        return out

    def reset(self, learner: str) -> None:
        with closing(self._connect()) as conn, conn:
            conn.execute("DELETE FROM visits WHERE learner = ?", (learner,))
            conn.execute("DELETE FROM answers WHERE learner = ?", (learner,))


def store_for(request: Request) -> ProgressStore:
    return ProgressStore(request.app.state.settings.database_path)


def learner_id(request: Request) -> tuple[str, bool]:
    """(the learner's id, whether it is new and the cookie must be set)."""
    cached = getattr(request.state, "learner", None)
    if cached:
        return cached
    value = request.cookies.get(COOKIE_NAME, "")
    result = (value, False) if LEARNER_RE.fullmatch(value) else (secrets.token_urlsafe(18), True)
    request.state.learner = result
    return result


def set_learner_cookie(request: Request, response: Response) -> Response:
    """Set the cookie on `response` when this request created a new learner id."""
    learner, is_new = learner_id(request)
    if is_new:
        response.set_cookie(COOKIE_NAME, learner, max_age=COOKIE_MAX_AGE, httponly=True,
                            samesite="lax", path="/", secure=is_https(request))
    return response
