"""Spaced review in the web layer: the app's clock, cards from answers, and the review queue.

Every first answer to a question in its chapter, and every first graded run of an exercise,
makes a card (app/learning/review.py schedules it with FSRS). /review serves the due question
cards, interleaved across chapters (never two from one chapter in a row while another
chapter has one due), SESSION_SIZE at a time, each with its options in a new order for every
review (seeded by learner, question and review number: the same on a reload). Due exercises
are listed beside them, linked to where they are solved again.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request

from app.course.content import Chapter, Course
from app.course.exercises import Exercise
from app.course.quiz import Grade, OptionResult, Quiz
from app.learning.progress import ProgressStore
from app.learning.quiz_record import Attempt
from app.learning.review import EXERCISE, QUIZ, ReviewCard, rating_for
from app.web.views.landing import quiz_sections
from app.web.views.review_variants import AskedVariant

SESSION_SIZE = 10


def now(request: Request) -> datetime:
    """The review schedule's time (a test may move it: app/learning/clock.py)."""
    return request.app.state.clock()


def schedule_first_answer(progress: ProgressStore, learner: str, chapter: Chapter, quiz: Quiz, attempt: Attempt,
                          at: datetime) -> None:
    """A question's first answer in its chapter makes its card (later tries in the chapter do
    not change it: the first answer is the score, and the review's first rating)."""
    if attempt.number != 1:
        return
    progress.first_review(learner, QUIZ, chapter.slug, quiz.id,
                          rating_for(attempt.correct, attempt.hint_tier, attempt.confidence), at, source="chapter",
                          correct=attempt.correct, confidence=attempt.confidence, hint_tier=attempt.hint_tier,
                          selected=list(attempt.selected))


def schedule_exercise_run(progress: ProgressStore, learner: str, exercise: Exercise, passed: bool, hint_level: int,
                          at: datetime) -> None:
    """A graded run: the first makes the exercise's card (passed with a hint open: Hard); a
    later one reviews the card only when it is due."""
    card = progress.card(learner, EXERCISE, exercise.chapter, exercise.id)
    if card is None:
        progress.first_review(learner, EXERCISE, exercise.chapter, exercise.id, rating_for(passed, hint_level), at,
                              source="exercise", correct=passed, hint_tier=hint_level)
    elif card.is_due(at):
        progress.review(learner, EXERCISE, exercise.chapter, exercise.id, rating_for(passed), at, source="exercise",
                        correct=passed)


def review_order(quiz: Quiz, learner: str, chapter: str, reviews: int) -> list[int]:
    """The options' order at this card's review number `reviews` (authored indices): a new
    shuffle for every review, the same on a reload."""
    seed = hashlib.sha256(f"review\x1f{learner}\x1f{chapter}\x1f{quiz.id}\x1f{reviews}".encode()).digest()
    order = list(range(len(quiz.options)))
    random.Random(int.from_bytes(seed[:8], "big")).shuffle(order)
    return order


def section_url(chapter: Chapter, quiz: Quiz) -> str:
    """Where the question sits in its chapter: its section, or the question itself."""
    section_id, _ = quiz_sections(chapter).get(quiz.id, ("", ""))
    return f"{chapter.url}#{section_id or 'quiz-' + quiz.id}"


@dataclass(frozen=True)
class QuizCard:
    """A question card with what the page needs: its chapter, its question and the order its
    options are shown in at this review."""
    card: ReviewCard
    chapter: Chapter
    quiz: Quiz
    order: list[int]
    asked: AskedVariant | None = None  # a predict question asked at another setting

    @property
    def shown(self) -> Quiz:
        """The question as asked: at the variant's setting, or as authored."""
        return self.asked.quiz if self.asked else self.quiz

    @property
    def variant(self) -> int:
        return self.asked.number if self.asked else 0

    @property
    def action(self) -> str:
        return f"/review/{self.chapter.slug}/{self.quiz.id}"

    @property
    def section_url(self) -> str:
        return section_url(self.chapter, self.quiz)

    def public(self, now: datetime) -> dict:
        """The JSON twin's view of a due card: the question without its answer."""
        return {"chapter": self.chapter.slug, "chapter_title": self.chapter.title, "question_id": self.quiz.id,
                "question": self.shown.question, "multiple": self.quiz.multiple,
                "options": [{"index": o.index, "text": o.text} for o in self.shown.ordered(self.order)],
                "predict": self.quiz.predict is not None, "variant": self.variant,
                "params": self.asked.values if self.asked else None, "section_url": self.section_url,
                "answer_url": f"/api/review/{self.chapter.slug}/{self.quiz.id}", "card": self.card.as_dict(now)}


@dataclass(frozen=True)
class ExerciseCard:
    card: ReviewCard
    exercise: Exercise

    @property
    def url(self) -> str:
        return f"/chapters/{self.exercise.chapter}#exercise-{self.exercise.id}"


def quiz_card(course: Course, learner: str, card: ReviewCard) -> QuizCard | None:
    """The card's question as the course has it now (None: the chapter or question is gone)."""
    chapter = course.get(card.chapter)
    quiz = chapter.quizzes.get(card.item) if chapter is not None else None
    if quiz is None:
        return None
    return QuizCard(card, chapter, quiz, review_order(quiz, learner, chapter.slug, card.reviews))


def interleave(cards: list[ReviewCard]) -> list[ReviewCard]:
    """Round-robin over chapters (each chapter's cards longest overdue first; chapters in the
    order of their longest overdue card), so a session mixes chapters."""
    queues: dict[str, list[ReviewCard]] = {}
    for card in sorted(cards, key=lambda c: (c.due, c.chapter, c.item)):
        queues.setdefault(card.chapter, []).append(card)
    out: list[ReviewCard] = []
    while queues:
        for chapter in list(queues):
            out.append(queues[chapter].pop(0))
            if not queues[chapter]:
                del queues[chapter]
    return out


@dataclass(frozen=True)
class Queue:
    """What is due for one learner at one time."""
    questions: list[QuizCard]  # every due question, interleaved
    exercises: list[ExerciseCard]
    next_due: datetime | None  # the soonest card not due yet

    @property
    def session(self) -> list[QuizCard]:
        return self.questions[:SESSION_SIZE]

    @property
    def due(self) -> int:
        return len(self.questions) + len(self.exercises)


def review_queue(course: Course, exercises: dict[str, Exercise], progress: ProgressStore, learner: str,
                 at: datetime) -> Queue:
    cards = progress.cards(learner)
    due = [c for c in cards if c.is_due(at)]
    questions = [q for q in (quiz_card(course, learner, c) for c in interleave([c for c in due if c.kind == QUIZ]))
                 if q is not None]
    coding = [ExerciseCard(c, exercises[c.item]) for c in due if c.kind == EXERCISE and c.item in exercises]
    later = [c.due for c in cards if not c.is_due(at)]
    return Queue(questions, coding, min(later) if later else None)


@dataclass(frozen=True)
class Answered:
    """A review answer, graded, as _quiz_options.html reads a finished question's state: every
    option's explanation, in the order the options were shown."""
    grade: Grade
    order: list[int]
    phase: str = "done"

    @property
    def shown(self) -> tuple[OptionResult, ...]:
        return self.grade.ordered(self.order)


def due_in(when: datetime, at: datetime) -> str:
    """When a card falls due, in words, from `at`: "now", "in 5 hours", "tomorrow", "in 3 days"."""
    seconds = (when - at).total_seconds()
    if seconds <= 0:
        return "now"
    if seconds < 3600 * 20:
        hours = max(1, round(seconds / 3600))
        return f"in {hours} hour{'s' if hours != 1 else ''}"
    days = max(1, round(seconds / 86400))
    return "tomorrow" if days == 1 else f"in {days} days"
