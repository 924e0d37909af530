"""What a class answered, counted: the FIRST answer of every member to every question, with the
confidence they gave and whether a hint was open (issue 24's teacher view; issue 20 scores a
question on its first answer, in `quiz_attempts`, attempt 1).

Only counts leave this module: no learner id, no alias, no time of one answer. A member's
answers count from wherever they were given (before joining too): the class sees what its
members know. Leaving a class, or deleting one's data, takes them out of the counts.

ClassStats is mixed into ProgressStore, like ClassRecords (app/learning/classes.py).
"""
from __future__ import annotations

import json
import sqlite3
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Callable

CONFIDENCE_LEVELS = ("sure", "think", "guess", "unsaid")  # unsaid: answered without saying


@dataclass
class FirstAnswers:
    """A question's first answers in one class."""
    answered: int = 0
    right: int = 0
    hinted: int = 0  # given with a hint open
    options: Counter = field(default_factory=Counter)  # authored option index -> answers choosing it
    confidence: dict[str, list[int]] = field(default_factory=lambda: {c: [0, 0] for c in CONFIDENCE_LEVELS})

    @property
    def missed(self) -> float:
        """The share of first answers that were wrong (0 when none)."""
        return 1 - self.right / self.answered if self.answered else 0.0

    def add(self, selected: list[int], correct: bool, confidence: str | None, hint_tier: int) -> None:
        self.answered += 1
        self.right += int(correct)
        self.hinted += int(hint_tier > 0)
        self.options.update(selected)
        self.confidence[confidence if confidence in CONFIDENCE_LEVELS else "unsaid"][0 if correct else 1] += 1


class ClassStats:
    """The counting part of ProgressStore (mixed in): it uses `conn` and `_read`."""

    conn: sqlite3.Connection
    _read: Callable[[], AbstractContextManager[sqlite3.Connection]]

    def first_answers(self, class_id: str) -> dict[tuple[str, str], FirstAnswers]:
        """(chapter, question) -> the class members' first answers to it, counted."""
        out: dict[tuple[str, str], FirstAnswers] = {}
        rows = self.conn.execute(
            "SELECT a.chapter, a.question, a.selected, a.correct, a.confidence, a.hint_tier "
            "FROM class_members m JOIN quiz_attempts a ON a.learner = m.learner AND a.attempt = 1 "
            "WHERE m.class_id = ?", (class_id,)).fetchall()
        for chapter, question, selected, correct, confidence, hint_tier in rows:
            out.setdefault((chapter, question), FirstAnswers()).add(json.loads(selected), bool(correct),
                                                                    confidence, hint_tier)
        return out

    def first_answers_version(self, class_id: str) -> tuple:
        """What moves when a member gives a first answer (or leaves): for the live view."""
        return self.conn.execute(
            "SELECT count(*), max(a.answered_at) FROM class_members m "
            "JOIN quiz_attempts a ON a.learner = m.learner AND a.attempt = 1 WHERE m.class_id = ?",
            (class_id,)).fetchone()
