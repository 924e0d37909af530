"""Turns a question into HTML: the form, what the learner's record lets them see, a predict run.

The loop (app/learning/quiz_record.py keeps the record): a question is scored on the first
answer. A wrong first answer shows the feedback of the chosen options only, with one more
try or "show me"; every option's explanation comes once the question is finished (right,
a second answer, or "show me"). A prediction is locked when committed: the real run appears
beside "You predicted ...", and the explanation comes after the run (static/quiz.js keeps it
hidden until the run is drawn). Hints come in tiers, one per ask, and are recorded.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property

from fastapi import Request
from markupsafe import Markup

from app.course.content import Chapter
from app.course.quiz import AnswerError, Grade, OptionResult, Quiz, display_order, grade
from app.learning.quiz_record import QuestionRecord
from app.web.learner import learner_id, store_for
from app.web.views import widget as widget_view
from widgets.base import ParamError

HINT_LABELS = ("Hint", "How to work it out")
ASK_LABELS = ("Stuck? Show a hint", "Still stuck? Show how to work it out")


@dataclass(frozen=True)
class QuizState:
    """What one learner may see and do with one question, from their record."""
    quiz: Quiz
    record: QuestionRecord
    order: list[int]

    @cached_property
    def grade(self) -> Grade | None:
        """The latest answer, graded (None before any, or when the question changed under it)."""
        if self.record.latest is None:
            return None
        try:
            return grade(self.quiz, list(self.record.latest.selected))
        except AnswerError:
            return None

    @property
    def phase(self) -> str:
        """"open" (no answer yet), "retry" (a wrong first answer, one more try) or "done"."""
        if self.record.finished(self.quiz.max_attempts):
            return "done"
        return "retry" if self.record.attempts else "open"

    @property
    def is_prediction(self) -> bool:
        return self.quiz.predict is not None

    @property
    def shown(self) -> tuple[OptionResult, ...]:
        """The options whose explanation the learner may read now, in their display order."""
        if self.grade is None:
            return ()
        results = self.grade.ordered(self.order)
        if self.phase == "done":
            return results
        return tuple(r for r in results if r.selected)

    @property
    def selected(self) -> tuple[int, ...]:
        return self.record.latest.selected if self.record.latest else ()

    @property
    def hints(self) -> list[tuple[str, Markup]]:
        """The hint tiers shown so far: (label, HTML)."""
        tiers = self.quiz.hint_tiers[:self.record.hint_tier]
        return list(zip(HINT_LABELS, tiers))

    @property
    def next_hint(self) -> str | None:
        """The label of the button that shows the next hint tier (None: no more, or finished)."""
        shown = min(self.record.hint_tier, len(self.quiz.hint_tiers))
        if self.phase == "done" or shown >= len(self.quiz.hint_tiers):
            return None
        return ASK_LABELS[shown]

    @property
    def submit_label(self) -> str:
        if self.is_prediction:
            return "Commit my prediction"
        return "Try once more" if self.phase == "retry" else "Check my answer"

    @property
    def verdict(self) -> tuple[str, str]:
        """(headline, the sentence after it) for the feedback under the form."""
        record, g = self.record, self.grade
        if self.is_prediction:
            return ("Prediction locked.", "The real run is below, beside your prediction: compare them, "
                                          "then read the explanation under the run.")
        if self.phase == "retry":
            missing = self.quiz.multiple and all(r.correct for r in self.shown)
            why = ("Every option you chose is right, but the right set has more." if missing
                   else "Why your choice does not hold is below.")
            return ("Not quite.", f"{why} Try once more, or ask to be shown the answer. "
                                  f"Only your first answer counts towards your score.")
        if record.revealed:
            return ("Here is the answer.", "Every option and why it is right or wrong. "
                                           "Your first answer is the one that counts.")
        if g is not None and g.correct and len(record.attempts) == 1:
            return ("Correct.", "Right on the first answer" + (", with a hint." if record.hint_used else "."))
        if g is not None and g.correct:
            return ("Correct, on your second try.", "Only the first answer counts, so this question scores 0. "
                                                    "Every option and why:")
        return ("Not quite.", "Here is every option and why it is right or wrong.")

    def as_dict(self) -> dict:
        """The JSON twin: the record, and only the feedback the learner may read now."""
        body = self.record.as_dict(self.quiz.max_attempts)
        shown = {r.index for r in self.shown}
        body["options"] = [r.as_dict() for r in self.grade.options if r.index in shown] if self.grade else []
        if self.grade is not None and self.phase == "done":
            body["correct_options"] = self.quiz.correct_indices
        body["hints"] = [{"tier": i + 1, "label": label, "text": text}
                         for i, (label, text) in enumerate(zip(HINT_LABELS, self._hint_texts()))]
        if self.is_prediction and self.phase == "done" and self.grade is not None:
            run = body["run"] = self.grade.as_dict()["run"]
            run["json_url"] = widget_view.json_url(run["widget"], run["params"])  # for a script to check
        return body

    def _hint_texts(self) -> list[str]:
        return [t for t in (self.quiz.hint, self.quiz.recipe) if t][:self.record.hint_tier]


def chapter_records(request: Request, chapter: Chapter, written: bool = False) -> dict[str, QuestionRecord]:
    """This learner's record of each question of the chapter (none for a new learner, unless
    this very request `written` under the id it is about to give them)."""
    learner, is_new = learner_id(request)
    if is_new and not written:
        return {}
    return store_for(request).quiz_records(learner, chapter.slug).get(chapter.slug, {})


def question_record(request: Request, chapter: Chapter, quiz: Quiz, written: bool = False) -> QuestionRecord:
    return chapter_records(request, chapter, written).get(quiz.id, QuestionRecord())


def chapter_score(request: Request, chapter: Chapter, records: dict | None = None) -> dict:
    """{first_correct, answered, hint_used, total}: the chapter's questions scored on first
    answers (from `records`, when the caller has read them already)."""
    if records is None:
        records = chapter_records(request, chapter)
    mine = [records[q] for q in chapter.quizzes if q in records and records[q].first is not None]
    return {"first_correct": sum(1 for r in mine if r.first_correct), "answered": len(mine),
            "hint_used": sum(1 for r in mine if r.hint_used), "total": len(chapter.quizzes)}


def quiz_state(request: Request, chapter: Chapter, quiz: Quiz, record: QuestionRecord | None = None) -> QuizState:
    learner, _ = learner_id(request)
    if record is None:
        record = question_record(request, chapter, quiz)
    return QuizState(quiz, record, display_order(quiz, learner, chapter.slug))


def widget_title(widgets: dict, name: str) -> str:
    """A widget's title, as a learner reads it (never its internal name)."""
    widget = widgets.get(name)
    return widget.title if widget is not None else "the widget"


def predict_html(request: Request, quiz: Quiz) -> Markup | None:
    """The real run of a predict question's widget, to show beside the learner's prediction."""
    if quiz.predict is None:
        return None
    p = quiz.predict
    try:
        return widget_view.render_widget(request, p.widget, p.params, f"predict-{quiz.id}")
    except (KeyError, ParamError) as exc:  # `python -m app check` reports these to authors
        message = exc.message if isinstance(exc, ParamError) else f"no widget named {p.widget!r}"
        return Markup('<p class="widget-error" role="alert">The run cannot be shown: {}</p>').format(message)


def quiz_context(request: Request, chapter: Chapter, state: QuizState, score: dict | None = None) -> dict:
    """What _quiz.html needs for one question."""
    shows_run = state.is_prediction and state.phase == "done"
    widgets = request.app.state.widgets
    return {"chapter": chapter, "state": state, "quiz": state.quiz,
            "score": score if score is not None else chapter_score(request, chapter),
            "widget_title": widget_title(widgets, state.quiz.predict.widget) if state.is_prediction else "",
            "predict_params": predict_params(widgets, state.quiz),
            "predict_html": predict_html(request, state.quiz) if shows_run else None}


def predict_params(widgets: dict, quiz: Quiz) -> list[tuple[str, str]]:
    """A predict run's settings as the widget's controls name them: (label, value with unit)."""
    widget = widgets.get(quiz.predict.widget) if quiz.predict else None
    if widget is None:
        return []
    params = {p.name: p for p in widget.params}
    out = []
    for name, value in quiz.predict.params.items():
        p = params.get(name)
        if p is not None:
            shown = widget_view.format_value(p, value)
            out.append((p.label, f"{shown} {p.unit}" if getattr(p, "unit", "") else shown))
    return out


def render_quiz(request: Request, chapter: Chapter, state: QuizState, score: dict | None = None) -> str:
    """One question as HTML, as this learner's record leaves it. A question the learner has not
    touched (no answer, no hint) differs between learners only in the order of its options, so
    it is rendered once and kept, and each learner gets its options in their order
    (UntouchedQuestion): about half of a chapter page's time was its questions, most of them
    untouched."""
    template = request.app.state.templates.get_template("_quiz.html")
    if state.record != QuestionRecord():
        return template.render(**quiz_context(request, chapter, state, score))
    authored = replace(state, order=list(range(len(state.quiz.options))))
    kept = request.app.state.kept_questions.get(
        (chapter.slug, state.quiz.id),
        lambda: UntouchedQuestion.of(template.render(**quiz_context(request, chapter, authored, score))),
        owner=state.quiz)
    if kept is None:  # its options could not be told apart in the HTML: render it as it is
        return template.render(**quiz_context(request, chapter, state, score))
    return kept.html(state.order)


@dataclass(frozen=True)
class UntouchedQuestion:
    """An untouched question's HTML in pieces: what comes before its options, each option's
    label (authored order), what separates them, and what follows. Nothing in an untouched
    question depends on the learner but the options' order (no option is checked, no feedback,
    no hint), so these pieces, put together in a learner's order, are the question as
    _quiz.html renders it for them (tests/web/test_quiz_loop.py compares every order)."""
    head: str
    options: tuple[str, ...]
    between: str
    tail: str

    OPTION = re.compile(r'<label class="quiz-option">.*?</label>', re.S)

    @classmethod
    def of(cls, html: str) -> "UntouchedQuestion | None":
        found = list(cls.OPTION.finditer(html))
        gaps = {html[a.end():b.start()] for a, b in zip(found, found[1:])}
        if not found or len(gaps) > 1:
            return None
        return cls(html[:found[0].start()], tuple(m.group(0) for m in found), gaps.pop() if gaps else "",
                   html[found[-1].end():])

    def html(self, order: list[int]) -> Markup:
        return Markup(self.head + self.between.join(self.options[i] for i in order) + self.tail)
