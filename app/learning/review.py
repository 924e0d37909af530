"""Spaced review: every answered question and every coding exercise is a card, scheduled with
FSRS (the `fsrs` package's Scheduler; this module only stores what it computes).

A card's first review is the learner's first answer in the chapter (or first graded run of an
exercise); later reviews are answers on /review while the card is due (or the first graded
run of a due exercise). The rating comes from the answer (`rating_for`): wrong is Again,
right after a hint is Hard, right is Good, right and sure is Easy.

The scheduler has no learning steps: a course is not a flash-card drill within one sitting,
so every card goes straight to day-long intervals (a wrong answer comes back the next day).
Fuzzing is off, so the schedule is a pure function of the review log (tests/learning/
test_review.py replays fixed logs through the package's own scheduler and compares).

Times are passed in (`now`, a timezone-aware UTC datetime): the web layer takes them from
the app's clock (app/web/views/review.py), which a test can move.

Two tables, both keyed by learner (so export and delete find them): `review_cards`, the
card's FSRS state now, and `review_log`, every review with its rating and what was answered.
ProgressStore (app/learning/progress.py) mixes ReviewRecords in and runs MIGRATION.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from fsrs import Card, Rating, Scheduler, State

QUIZ, EXERCISE = "quiz", "exercise"
SOURCES = ("chapter", "review", "exercise")

# appended to app/learning/progress.py's MIGRATIONS (never edit once shipped; append instead)
MIGRATION: tuple[str, ...] = (
    """CREATE TABLE review_cards (
            learner TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('quiz', 'exercise')),
            chapter TEXT NOT NULL,
            item TEXT NOT NULL,
            state INTEGER NOT NULL,
            step INTEGER,
            stability REAL NOT NULL,
            difficulty REAL NOT NULL,
            due REAL NOT NULL,
            last_review REAL NOT NULL,
            reviews INTEGER NOT NULL DEFAULT 1,
            lapses INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (learner, kind, chapter, item))""",
    "CREATE INDEX review_cards_due ON review_cards (learner, due)",
    """CREATE TABLE review_log (
            id INTEGER PRIMARY KEY,
            learner TEXT NOT NULL,
            kind TEXT NOT NULL,
            chapter TEXT NOT NULL,
            item TEXT NOT NULL,
            reviewed_at REAL NOT NULL,
            rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 4),
            source TEXT NOT NULL CHECK (source IN ('chapter', 'review', 'exercise')),
            correct INTEGER NOT NULL,
            confidence TEXT CHECK (confidence IN ('sure', 'think', 'guess')),
            hint_tier INTEGER NOT NULL DEFAULT 0,
            selected TEXT,
            shown_order TEXT,
            variant INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX review_log_card ON review_log (learner, kind, chapter, item, reviewed_at)",
)

SCHEDULER = Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)


def rating_for(correct: bool, hint_tier: int = 0, confidence: str | None = None) -> Rating:
    """The FSRS rating an answer earns: wrong Again, right after a hint Hard, right and sure
    Easy, otherwise right Good."""
    if not correct:
        return Rating.Again
    if hint_tier > 0:
        return Rating.Hard
    return Rating.Easy if confidence == "sure" else Rating.Good


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


@dataclass(frozen=True)
class ReviewCard:
    """A card as stored: what it is, and its FSRS state."""
    kind: str
    chapter: str
    item: str
    state: int
    step: int | None
    stability: float
    difficulty: float
    due: datetime
    last_review: datetime
    reviews: int
    lapses: int

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.chapter, self.item)

    def fsrs_card(self) -> Card:
        return Card(card_id=card_id(self.kind, self.chapter, self.item), state=State(self.state), step=self.step,
                    stability=self.stability, difficulty=self.difficulty, due=self.due,
                    last_review=self.last_review)

    def retrievability(self, now: datetime) -> float:
        """The probability, by FSRS's forgetting curve, that the learner recalls it at `now`."""
        return float(SCHEDULER.get_card_retrievability(self.fsrs_card(), now))

    def is_due(self, now: datetime) -> bool:
        return self.due <= now

    def as_dict(self, now: datetime) -> dict:
        return {"kind": self.kind, "chapter": self.chapter, "item": self.item, "due": self.due.isoformat(),
                "last_review": self.last_review.isoformat(), "reviews": self.reviews, "lapses": self.lapses,
                "stability_days": round(self.stability, 4), "difficulty": round(self.difficulty, 4),
                "retrievability": round(self.retrievability(now), 4), "is_due": self.is_due(now)}


@dataclass(frozen=True)
class LoggedReview:
    """One review from the log."""
    kind: str
    chapter: str
    item: str
    reviewed_at: datetime
    rating: int
    source: str
    correct: bool
    confidence: str | None
    hint_tier: int
    selected: tuple[int, ...] | None
    shown_order: tuple[int, ...] | None
    variant: int = 0  # the predict variant asked (0: the question as authored)


def card_id(kind: str, chapter: str, item: str) -> int:
    """A stable id for the package's Card (it only needs one; ours are keyed by name)."""
    return int.from_bytes(hashlib.sha256(f"{kind}\x1f{chapter}\x1f{item}".encode()).digest()[:6], "big")


class CardNotDue(ValueError):
    """A review of a card that is not due (or does not exist): the message says when it is."""


class ReviewRecords:
    """The review part of ProgressStore (app/learning/progress.py mixes it in): it uses the
    store's connection (`conn`) and its transactions (`_write`, `_read`)."""

    conn: sqlite3.Connection
    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _read: Callable[[], AbstractContextManager[sqlite3.Connection]]

    def first_review(self, learner: str, kind: str, chapter: str, item: str, rating: Rating, now: datetime, *,
                     source: str, correct: bool, confidence: str | None = None, hint_tier: int = 0,
                     selected: list[int] | None = None) -> ReviewCard | None:
        """Make the card from its first answer, reviewed with `rating` at `now`; None (nothing
        written) when the card exists already."""
        with self._write() as conn:
            if _card(conn, learner, kind, chapter, item) is not None:
                return None
            fresh = Card(card_id=card_id(kind, chapter, item), due=now)
            card = self._apply(conn, learner, kind, chapter, item, fresh, 0, 0, rating, now, source=source,
                               correct=correct, confidence=confidence, hint_tier=hint_tier, selected=selected)
        return card

    def review(self, learner: str, kind: str, chapter: str, item: str, rating: Rating, now: datetime, *,
               source: str, correct: bool, confidence: str | None = None, hint_tier: int = 0,
               selected: list[int] | None = None, shown_order: list[int] | None = None,
               variant: int = 0) -> ReviewCard:
        """Review a due card with `rating` at `now` and store its new schedule; CardNotDue when
        there is no such card or it is not due yet. Read and written in one transaction: two
        answers sent at once cannot both review it."""
        with self._write() as conn:
            current = _card(conn, learner, kind, chapter, item)
            if current is None:
                raise CardNotDue(f"no review card for {kind} {item!r} of chapter {chapter!r}: answer it in "
                                 f"its chapter first")
            if not current.is_due(now):
                raise CardNotDue(f"{kind} {item!r} of chapter {chapter!r} is not due until "
                                 f"{current.due.isoformat(timespec='minutes')}")
            return self._apply(conn, learner, kind, chapter, item, current.fsrs_card(), current.reviews,
                               current.lapses, rating, now, source=source, correct=correct,
                               confidence=confidence, hint_tier=hint_tier, selected=selected,
                               shown_order=shown_order, variant=variant)

    def _apply(self, conn: sqlite3.Connection, learner: str, kind: str, chapter: str, item: str, card: Card,
               reviews: int, lapses: int, rating: Rating, now: datetime, *, source: str, correct: bool,
               confidence: str | None, hint_tier: int, selected: list[int] | None,
               shown_order: list[int] | None = None, variant: int = 0) -> ReviewCard:
        if source not in SOURCES:
            raise ValueError(f"source {source!r} must be one of {', '.join(SOURCES)}")
        was_review = card.state == State.Review
        after, _log = SCHEDULER.review_card(card, rating, now)
        lapses += int(was_review and rating == Rating.Again)
        stored = ReviewCard(kind, chapter, item, int(after.state), after.step, float(after.stability),
                            float(after.difficulty), after.due, after.last_review or now, reviews + 1, lapses)
        conn.execute(
            "INSERT INTO review_cards (learner, kind, chapter, item, state, step, stability, difficulty, due, "
            "last_review, reviews, lapses) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (learner, kind, chapter, item) DO UPDATE SET state = excluded.state, "
            "step = excluded.step, stability = excluded.stability, difficulty = excluded.difficulty, "
            "due = excluded.due, last_review = excluded.last_review, reviews = excluded.reviews, "
            "lapses = excluded.lapses",
            (learner, kind, chapter, item, stored.state, stored.step, stored.stability, stored.difficulty,
             stored.due.timestamp(), stored.last_review.timestamp(), stored.reviews, stored.lapses))
        conn.execute(
            "INSERT INTO review_log (learner, kind, chapter, item, reviewed_at, rating, source, correct, "
            "confidence, hint_tier, selected, shown_order, variant) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (learner, kind, chapter, item, now.timestamp(), int(rating), source, int(bool(correct)), confidence,
             hint_tier, None if selected is None else json.dumps(list(selected)),
             None if shown_order is None else json.dumps(list(shown_order)), variant))
        return stored

    def cards(self, learner: str) -> list[ReviewCard]:
        """Every card of this learner, soonest due first."""
        rows = self.conn.execute(f"SELECT {CARD_COLUMNS} FROM review_cards WHERE learner = ? ORDER BY due, "
                                 f"chapter, item", (learner,)).fetchall()
        return [_row_card(row) for row in rows]

    def card(self, learner: str, kind: str, chapter: str, item: str) -> ReviewCard | None:
        return _card(self.conn, learner, kind, chapter, item)

    def due_cards(self, learner: str, now: datetime) -> list[ReviewCard]:
        """The cards due at `now`, longest overdue first."""
        rows = self.conn.execute(f"SELECT {CARD_COLUMNS} FROM review_cards WHERE learner = ? AND due <= ? "
                                 f"ORDER BY due, chapter, item", (learner, now.timestamp())).fetchall()
        return [_row_card(row) for row in rows]

    def review_log(self, learner: str, kind: str | None = None, chapter: str | None = None,
                   item: str | None = None) -> list[LoggedReview]:
        """The reviews of this learner (of one card, given its kind, chapter and item), oldest first."""
        where, args = "learner = ?", [learner]
        for column, value in (("kind", kind), ("chapter", chapter), ("item", item)):
            if value is not None:
                where += f" AND {column} = ?"
                args.append(value)
        rows = self.conn.execute(
            f"SELECT kind, chapter, item, reviewed_at, rating, source, correct, confidence, hint_tier, selected, "
            f"shown_order, variant FROM review_log WHERE {where} ORDER BY reviewed_at, id", args).fetchall()
        return [LoggedReview(k, c, i, utc(at), r, s, bool(ok), conf, tier,
                             None if sel is None else tuple(json.loads(sel)),
                             None if order is None else tuple(json.loads(order)), variant)
                for k, c, i, at, r, s, ok, conf, tier, sel, order, variant in rows]

    def forget_reviews(self, conn: sqlite3.Connection, learner: str) -> None:
        """Part of a reset (inside the caller's write transaction): every card and review."""
        conn.execute("DELETE FROM review_cards WHERE learner = ?", (learner,))
        conn.execute("DELETE FROM review_log WHERE learner = ?", (learner,))


CARD_COLUMNS = "kind, chapter, item, state, step, stability, difficulty, due, last_review, reviews, lapses"


def _row_card(row) -> ReviewCard:
    kind, chapter, item, state, step, stability, difficulty, due, last, reviews, lapses = row
    return ReviewCard(kind, chapter, item, state, step, stability, difficulty, utc(due), utc(last), reviews, lapses)


def _card(conn: sqlite3.Connection, learner: str, kind: str, chapter: str, item: str) -> ReviewCard | None:
    row = conn.execute(f"SELECT {CARD_COLUMNS} FROM review_cards WHERE learner = ? AND kind = ? AND chapter = ? "
                       f"AND item = ?", (learner, kind, chapter, item)).fetchone()
    return None if row is None else _row_card(row)
