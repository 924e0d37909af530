"""What a learner knows, from their review cards and answers: per chapter the cards'
retrievability (FSRS) and a mastery level, the calibration of their confidence (a chart and
its Brier score), the predictions they got wrong, and what is due.

Mastery is the mean, over a chapter's questions, of the retrievability FSRS predicts a week
from now (a question never answered counts 0). A week ahead, not now: right after an answer
every card's retrievability is 1, the miss as much as the hit; a week on, a card reviewed
well has kept most of it and a miss has lost most of it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fastapi import Request

from app.course.content import Chapter, Course
from app.learning.calibration import Calibration, calibration
from app.learning.progress import ProgressStore
from app.learning.quiz_record import QuestionRecord
from app.learning.review import QUIZ, ReviewCard
from app.web.learner import learner_id
from app.web.views.review import now, section_url
from widgets import kit

MASTERY_HORIZON = timedelta(days=7)
LEVELS = ((0.75, "strong"), (0.4, "learning"), (0.0001, "started"))


def mastery_word(share: float) -> str:
    return next((word for bound, word in LEVELS if share >= bound), "not started")


@dataclass
class ChapterMastery:
    chapter: Chapter
    cards: list[ReviewCard] = field(default_factory=list)  # this chapter's question cards
    retrievability: float | None = None  # mean now, over its cards (None: no card)
    mastery: float = 0.0  # mean a week from now, over its questions
    due: list[str] = field(default_factory=list)  # ids of its questions due now

    @property
    def level(self) -> str:
        return mastery_word(self.mastery)

    def as_dict(self) -> dict:
        return {"chapter": self.chapter.slug, "questions": len(self.chapter.quizzes), "cards": len(self.cards),
                "retrievability": None if self.retrievability is None else round(self.retrievability, 4),
                "mastery": round(self.mastery, 4), "level": self.level, "due": self.due}


def chapter_mastery(course: Course, cards: list[ReviewCard], at: datetime) -> dict[str, ChapterMastery]:
    """chapter slug -> its cards' retrievability and mastery (cards of questions that no longer
    exist are left out)."""
    out = {c.slug: ChapterMastery(c) for c in course.chapters}
    for card in cards:
        entry = out.get(card.chapter)
        if card.kind == QUIZ and entry is not None and card.item in entry.chapter.quizzes:
            entry.cards.append(card)
    for entry in out.values():
        if entry.cards:
            entry.retrievability = sum(c.retrievability(at) for c in entry.cards) / len(entry.cards)
            ahead = sum(c.retrievability(at + MASTERY_HORIZON) for c in entry.cards)
            entry.mastery = ahead / max(1, len(entry.chapter.quizzes))
            entry.due = [c.item for c in entry.cards if c.is_due(at)]
    return out


def review_summary(request: Request, course: Course, progress: ProgressStore) -> dict:
    """For the landing and chapter pages: {"mastery": slug -> ChapterMastery, "due_count": the
    cards due now, questions and exercises} (nothing due for a new visitor)."""
    learner, is_new = learner_id(request)
    at = now(request)
    cards = [] if is_new else progress.cards(learner)
    return {"mastery": chapter_mastery(course, cards, at), "due_count": sum(1 for c in cards if c.is_due(at))}


def answers_with_confidence(records: dict[str, dict[str, QuestionRecord]], reviews) -> list[tuple[str | None, bool]]:
    """(confidence, correct) of every scored answer: each question's first answer in its
    chapter, and every answer on /review."""
    pairs = [(r.first.confidence, r.first.correct) for chapter in records.values() for r in chapter.values()
             if r.first is not None]
    pairs += [(r.confidence, r.correct) for r in reviews if r.source == "review" and r.kind == QUIZ]
    return pairs


def calibration_figure(result: Calibration) -> dict:
    """Bars: the share right at each confidence level (its count on the bar), beside the
    probability the level stands for."""
    labels = [level.label for level in result.levels]
    shares = [None if level.share is None else round(100 * level.share, 1) for level in result.levels]
    counts = [f"{level.correct} of {level.answers}" if level.answers else "no answers" for level in result.levels]
    bars = {"type": "bar", "x": labels, "y": shares, "name": "your answers: share right", "text": counts,
            "textposition": "outside", "marker": {"color": kit.color(0)},
            "hovertemplate": "%{x}: %{y}% right (%{text})<extra></extra>"}
    stated = {"type": "scatter", "mode": "markers", "x": labels, "y": [100 * level.stated for level in result.levels],
              "name": "what the level stands for", "marker": {"symbol": "line-ew-open", "size": 40,
                                                              "color": kit.color(1), "line": {"width": 3}},
              "hovertemplate": "%{x} stands for %{y}%<extra></extra>"}
    layout = {"height": 340, "margin": {"l": 64, "r": 16, "t": 40, "b": 48}, "barmode": "group",
              "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
              "xaxis": {"title": {"text": "how sure you said you were"}},
              "yaxis": {"title": {"text": "answers right (%)"}, "range": [0, 115]}}
    return kit.figure([bars, stated], layout)


@dataclass(frozen=True)
class WrongPrediction:
    chapter: Chapter
    quiz_id: str
    question_html: str
    predicted: list[str]
    url: str


def wrong_predictions(course: Course, records: dict[str, dict[str, QuestionRecord]]) -> list[WrongPrediction]:
    """The predictions whose (only, locked) answer was wrong, in course order."""
    out = []
    for chapter in course.chapters:
        mine = records.get(chapter.slug, {})
        for quiz in chapter.quizzes.values():
            record = mine.get(quiz.id)
            if quiz.predict is None or record is None or record.first is None or record.first.correct:
                continue
            chosen = [o.text_html for o in quiz.options if o.index in record.first.selected]
            out.append(WrongPrediction(chapter, quiz.id, quiz.question_html, chosen, section_url(chapter, quiz)))
    return out


def learning_context(request: Request, course: Course, progress: ProgressStore) -> dict:
    """Everything /learning and /api/learning show."""
    learner, is_new = learner_id(request)
    at = now(request)
    records = {} if is_new else progress.quiz_records(learner)
    reviews = [] if is_new else progress.review_log(learner)
    cards = [] if is_new else progress.cards(learner)
    result = calibration(answers_with_confidence(records, reviews))
    mastery = chapter_mastery(course, cards, at)
    return {"mastery": [mastery[c.slug] for c in course.chapters], "calibration": result,
            "figure": calibration_figure(result), "wrong_predictions": wrong_predictions(course, records),
            "due_total": sum(1 for c in cards if c.is_due(at)), "cards_total": len(cards), "now": at}
