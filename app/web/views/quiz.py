"""Turns a question into HTML: the form, the learner's saved answer, and a predict run."""
from __future__ import annotations

from fastapi import Request
from markupsafe import Markup

from app.web.views import widget as widget_view
from app.course.content import Chapter
from app.web.learner import learner_id, store_for
from app.course.quiz import Grade, Quiz, display_order
from widgets.base import ParamError


def saved_answers(request: Request, chapter: Chapter) -> dict[str, tuple[list[int], bool]]:
    """This learner's latest answer to each question of the chapter (none for a new learner)."""
    learner, is_new = learner_id(request)
    return {} if is_new else store_for(request).answers(learner, chapter.slug)


def chapter_score(request: Request, chapter: Chapter, answers: dict | None = None) -> dict:
    """{correct, answered, total} of this learner's answers in the chapter (from `answers`,
    when the caller has read them already)."""
    if answers is None:
        answers = saved_answers(request, chapter)
    correct = sum(1 for q in chapter.quizzes if q in answers and answers[q][1])
    return {"correct": correct, "answered": sum(1 for q in chapter.quizzes if q in answers),
            "total": len(chapter.quizzes)}


def option_order(request: Request, chapter: Chapter, quiz: Quiz) -> list[int]:
    """The order this learner sees the question's options in (authored indices)."""
    learner, _ = learner_id(request)
    return display_order(quiz, learner, chapter.slug)


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


def render_quiz(request: Request, chapter: Chapter, quiz: Quiz, graded: Grade | None,
                score: dict | None = None) -> str:
    """One question as HTML, with the learner's saved answer and its feedback when there is one."""
    template = request.app.state.templates.get_template("_quiz.html")
    return template.render(chapter=chapter, quiz=quiz, graded=graded, order=option_order(request, chapter, quiz),
                           score=score if score is not None else chapter_score(request, chapter),
                           predict_html=predict_html(request, quiz) if graded else None)
