"""The class's first answers on the teacher's view: per chapter and per question the
distribution of first answers and of confidences, right and wrong; and the misconception map
(questions by options, the most-missed question first). Every chart has its numbers in a table.
"""
from __future__ import annotations

from dataclasses import dataclass

from app.course.content import Chapter, Course
from app.course.quiz import Quiz
from app.learning.class_stats import CONFIDENCE_LEVELS, FirstAnswers
from app.web.views.class_poll import BarRow, Distribution, letter, option_rows

CONFIDENCE_WORDS = {"sure": "sure", "think": "think so", "guess": "guessing", "unsaid": "did not say"}


@dataclass(frozen=True)
class QuestionView:
    chapter: Chapter
    quiz: Quiz
    counts: FirstAnswers
    answers: Distribution  # options, right one marked
    confidence: list[tuple[str, int, int]]  # (level in words, right, wrong)

    @property
    def element_id(self) -> str:
        return f"q-{self.chapter.slug}-{self.quiz.id}"


@dataclass(frozen=True)
class MapRow:
    view: QuestionView
    cells: list[BarRow | None]  # one per option column (None past the question's last option)


def question_view(chapter: Chapter, quiz: Quiz, counts: FirstAnswers | None) -> QuestionView:
    counts = counts or FirstAnswers()
    note = (f"{counts.answered} answered, {counts.right} right first time"
            + (f", {counts.hinted} with a hint" if counts.hinted else "")) if counts.answered else "no answers yet"
    answers = Distribution("First answers", counts.answered, option_rows(quiz, counts.options, counts.answered), note)
    confidence = [(CONFIDENCE_WORDS[c], *counts.confidence[c]) for c in CONFIDENCE_LEVELS
                  if sum(counts.confidence[c])]
    return QuestionView(chapter, quiz, counts, answers, confidence)


def chapter_views(loaded: Course, stats: dict[tuple[str, str], FirstAnswers]) -> list[tuple[Chapter, list[QuestionView]]]:
    """Every chapter with questions, each question with the class's first answers."""
    return [(chapter, [question_view(chapter, quiz, stats.get((chapter.slug, quiz.id)))
                       for quiz in chapter.quizzes.values()])
            for chapter in loaded.chapters if chapter.quizzes]


def misconception_map(chapters: list[tuple[Chapter, list[QuestionView]]]) -> tuple[list[MapRow], list[str]]:
    """(rows, option column letters): the answered questions, the most missed first; each cell
    is the share of first answers that chose that option."""
    answered = [v for _, views in chapters for v in views if v.counts.answered]
    answered.sort(key=lambda v: (-v.counts.missed, -v.counts.answered, v.chapter.order))
    width = max((len(v.quiz.options) for v in answered), default=0)
    rows = [MapRow(v, [v.answers.rows[i] if i < len(v.answers.rows) else None for i in range(width)])
            for v in answered]
    return rows, [letter(i) for i in range(width)]
