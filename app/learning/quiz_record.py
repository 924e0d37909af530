"""A learner's record of one question: every attempt, the hints asked for, and "show me".

A question is scored on the FIRST answer. Every answer is kept (table `quiz_attempts`, one
row per attempt, numbered from 1), with the hint tier the learner had open when answering
(0 none, 1 the nudge, 2 the recipe) and, for the review feature, an optional confidence.
What the learner asked for before or between answers is in `quiz_help`: the highest hint
tier shown, and whether they asked to be shown the answer after a wrong first try.

The rules of the loop (how many answers a question takes) belong to the course: callers pass
`max_attempts` (app.course.quiz.Quiz.max_attempts: 1 for a prediction, locked once
committed; 2 otherwise). A question is finished when its last answer was right, when it has
had max_attempts answers, or when the learner asked to be shown the answer; a finished
question takes no more answers (QuestionClosed), so no later answer can change the record.
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Callable

CONFIDENCES = ("sure", "think", "guess")


class QuestionClosed(ValueError):
    """An answer, hint or reveal that the question's state does not allow (the message says why)."""


@dataclass(frozen=True)
class Attempt:
    number: int  # 1 = the first answer, the one that is scored
    selected: tuple[int, ...]  # authored option indices
    correct: bool
    hint_tier: int  # the hint tier open when this answer was given (0: none)
    confidence: str | None
    answered_at: float

    def as_dict(self) -> dict:
        return {"attempt": self.number, "selected": list(self.selected), "correct": self.correct,
                "hint_tier": self.hint_tier, "confidence": self.confidence}


@dataclass
class QuestionRecord:
    attempts: list[Attempt] = field(default_factory=list)
    hint_tier: int = 0  # the highest hint tier asked for so far
    revealed: bool = False  # asked to be shown every option's explanation

    @property
    def first(self) -> Attempt | None:
        return self.attempts[0] if self.attempts else None

    @property
    def latest(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def first_correct(self) -> bool | None:
        """Whether the first answer was right (None before any answer): the score."""
        return None if self.first is None else self.first.correct

    @property
    def hint_used(self) -> bool:
        """Whether a hint was open when the scored (first) answer was given, or, before any
        answer, whether one has been asked for."""
        return (self.first.hint_tier if self.first else self.hint_tier) > 0

    def finished(self, max_attempts: int) -> bool:
        last = self.latest
        return self.revealed or (last is not None and (last.correct or len(self.attempts) >= max_attempts))

    def as_dict(self, max_attempts: int) -> dict:
        """The record as the JSON twins give it."""
        return {"attempts": len(self.attempts), "first_correct": self.first_correct,
                "hint_used": self.hint_used, "hint_tier": self.hint_tier, "revealed": self.revealed,
                "finished": self.finished(max_attempts),
                "attempts_left": 0 if self.finished(max_attempts) else max_attempts - len(self.attempts),
                "history": [a.as_dict() for a in self.attempts]}


class QuizRecords:
    """The quiz part of ProgressStore (app/learning/progress.py mixes it in): it uses the
    store's connection (`conn`) and its transactions (`_write`, `_read`)."""

    conn: sqlite3.Connection
    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _read: Callable[[], AbstractContextManager[sqlite3.Connection]]

    def record_quiz_attempt(self, learner: str, chapter: str, question: str, selected: list[int],
                            correct: bool, max_attempts: int, confidence: str | None = None) -> Attempt:
        """Store the next answer to a question and return it; QuestionClosed when the question
        is finished. Read and written in one transaction: two answers sent at once cannot both
        be the first."""
        if confidence is not None and confidence not in CONFIDENCES:
            raise ValueError(f"confidence {confidence!r} must be one of {', '.join(CONFIDENCES)}")
        with self._write() as conn:
            record = _question(conn, learner, chapter, question)
            if record.finished(max_attempts):
                raise QuestionClosed(_closed_reason(question, record, max_attempts))
            attempt = Attempt(len(record.attempts) + 1, tuple(selected), bool(correct), record.hint_tier,
                              confidence, time.time())
            conn.execute(
                "INSERT INTO quiz_attempts (learner, chapter, question, attempt, selected, correct, hint_tier, "
                "confidence, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (learner, chapter, question, attempt.number, json.dumps(list(attempt.selected)),
                 int(attempt.correct), attempt.hint_tier, confidence, attempt.answered_at))
        return attempt

    def ask_hint(self, learner: str, chapter: str, question: str, tiers: int, max_attempts: int) -> int:
        """Show the next hint tier (up to `tiers`, the number the question has) and return the
        tier now shown. Asked on a finished question, it changes nothing."""
        if tiers < 1:
            raise QuestionClosed(f"question {question!r} has no hint")
        with self._write() as conn:
            record = _question(conn, learner, chapter, question)
            if record.finished(max_attempts) or record.hint_tier >= tiers:
                return min(record.hint_tier, tiers)
            tier = record.hint_tier + 1
            _set_help(conn, learner, chapter, question, hint_tier=tier)
        return tier

    def reveal(self, learner: str, chapter: str, question: str, max_attempts: int) -> None:
        """"Show me": every option's explanation, after a wrong answer; the question is then
        finished. QuestionClosed before any answer (answer first: that answer is the score)."""
        with self._write() as conn:
            record = _question(conn, learner, chapter, question)
            if not record.attempts:
                raise QuestionClosed(f"question {question!r} has not been answered yet: answer it first "
                                     f"(the first answer is the one that counts), then ask to be shown")
            if not record.finished(max_attempts):
                _set_help(conn, learner, chapter, question, revealed=True)

    def quiz_records(self, learner: str, chapter: str | None = None) -> dict[str, dict[str, QuestionRecord]]:
        """chapter -> question -> record, for one chapter or for all."""
        where, args = "learner = ?", (learner,)
        if chapter is not None:
            where, args = "learner = ? AND chapter = ?", (learner, chapter)
        out: dict[str, dict[str, QuestionRecord]] = {}
        with self._read() as conn:
            for ch, q, number, selected, correct, tier, confidence, at in conn.execute(
                    f"SELECT chapter, question, attempt, selected, correct, hint_tier, confidence, answered_at "
                    f"FROM quiz_attempts WHERE {where} ORDER BY chapter, question, attempt", args):
                record = out.setdefault(ch, {}).setdefault(q, QuestionRecord())
                record.attempts.append(Attempt(number, tuple(json.loads(selected)), bool(correct), tier,
                                               confidence, at))
            for ch, q, tier, revealed in conn.execute(
                    f"SELECT chapter, question, hint_tier, revealed FROM quiz_help WHERE {where}", args):
                record = out.setdefault(ch, {}).setdefault(q, QuestionRecord())
                record.hint_tier, record.revealed = tier, bool(revealed)
        return out

    def answers(self, learner: str, chapter: str) -> dict[str, tuple[list[int], bool]]:
        """question id -> (selected indices, correct) of the latest answer to each question."""
        records = self.quiz_records(learner, chapter).get(chapter, {})
        return {q: (list(r.latest.selected), r.latest.correct) for q, r in records.items() if r.latest}


def _question(conn: sqlite3.Connection, learner: str, chapter: str, question: str) -> QuestionRecord:
    record = QuestionRecord()
    for number, selected, correct, tier, confidence, at in conn.execute(
            "SELECT attempt, selected, correct, hint_tier, confidence, answered_at FROM quiz_attempts "
            "WHERE learner = ? AND chapter = ? AND question = ? ORDER BY attempt", (learner, chapter, question)):
        record.attempts.append(Attempt(number, tuple(json.loads(selected)), bool(correct), tier, confidence, at))
    row = conn.execute("SELECT hint_tier, revealed FROM quiz_help WHERE learner = ? AND chapter = ? AND "
                       "question = ?", (learner, chapter, question)).fetchone()
    if row:
        record.hint_tier, record.revealed = row[0], bool(row[1])
    return record


def _set_help(conn: sqlite3.Connection, learner: str, chapter: str, question: str, *,
              hint_tier: int | None = None, revealed: bool | None = None) -> None:
    conn.execute(
        "INSERT INTO quiz_help (learner, chapter, question, hint_tier, revealed, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (learner, chapter, question) DO UPDATE SET "
        "hint_tier = COALESCE(?, hint_tier), revealed = COALESCE(?, revealed), updated_at = excluded.updated_at",
        (learner, chapter, question, hint_tier or 0, int(bool(revealed)), time.time(),
         hint_tier, None if revealed is None else int(revealed)))


def _closed_reason(question: str, record: QuestionRecord, max_attempts: int) -> str:
    if record.revealed:
        return f"question {question!r} is finished: its answer was shown"
    if max_attempts == 1:
        return f"question {question!r} is a prediction, locked once committed: it cannot be changed"
    if record.latest is not None and record.latest.correct:
        return f"question {question!r} is finished: it was answered correctly"
    return f"question {question!r} is finished: it takes at most {max_attempts} answers"
