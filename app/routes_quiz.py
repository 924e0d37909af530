"""Quick-check questions: grading a form answer or a JSON answer.

POST /quiz/{slug}/{qid}       grade a form answer: htmx gets the feedback fragment,
                              a plain form POST is redirected back to the question
POST /api/quiz/{slug}/{qid}   JSON {"selected": [indices]} -> grade
"""
from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from markupsafe import Markup
from pydantic import BaseModel

from app.content import Course
from app.pages import chapter_or_404, course, is_htmx, progress_for, quiz_or_404, render_fragment, store
from app.progress import ProgressStore, learner_id, set_learner_cookie
from app.quiz import AnswerError, grade
from app.quiz_view import chapter_score, option_order, predict_html

router = APIRouter()


@router.post("/quiz/{slug}/{qid}", response_class=HTMLResponse)
async def quiz_form(request: Request, slug: str, qid: str, loaded: Course = Depends(course),
                    progress: ProgressStore = Depends(store)):
    """Grade a form answer (field `choice`, repeated for checkboxes).

    htmx requests get the feedback fragment; a plain form POST is redirected (303) to the
    question on the chapter page, which shows the saved answer and its feedback."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    # the rest writes SQLite and reads the result cache: off the event loop, so no stream or
    # page waits behind it
    return await asyncio.to_thread(_answer_form, request, slug, qid, form.get("choice", []), loaded, progress)


def _answer_form(request: Request, slug: str, qid: str, choices: list[str], loaded: Course,
                 progress: ProgressStore):
    chapter = chapter_or_404(loaded, slug)
    quiz = quiz_or_404(chapter, qid)
    htmx = is_htmx(request)
    try:
        result = grade(quiz, choices)
    except AnswerError as exc:
        if htmx:
            html = Markup('<p class="quiz-error" role="alert">{}</p>').format(str(exc))
            return set_learner_cookie(request, HTMLResponse(html, status_code=422))
        raise HTTPException(422, str(exc)) from None
    learner, _ = learner_id(request)
    progress.record_answer(learner, chapter.slug, quiz.id, list(result.selected), result.correct)
    if htmx:
        return render_fragment(request, "_quiz_feedback.html", {
            "chapter": chapter, "quiz": quiz, "graded": result, "score": chapter_score(request, chapter),
            "order": option_order(request, chapter, quiz),
            "oob": True, "progress": progress_for(request, loaded), "predict_html": predict_html(request, quiz)})
    return set_learner_cookie(request, RedirectResponse(f"{chapter.url}#quiz-{quiz.id}", status_code=303))


class Answer(BaseModel):
    selected: list[Any]


@router.post("/api/quiz/{slug}/{qid}")
def quiz_api(request: Request, slug: str, qid: str, answer: Answer = Body(...),
             loaded: Course = Depends(course), progress: ProgressStore = Depends(store)):
    """Grade {"selected": [indices]}: whether it is right, and feedback for every option."""
    chapter = chapter_or_404(loaded, slug)
    quiz = quiz_or_404(chapter, qid)
    try:
        result = grade(quiz, answer.selected)
    except AnswerError as exc:
        raise HTTPException(422, str(exc)) from None
    learner, _ = learner_id(request)
    progress.record_answer(learner, chapter.slug, quiz.id, list(result.selected), result.correct)
    return set_learner_cookie(request, JSONResponse(result.as_dict()))
