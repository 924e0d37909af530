"""Quick-check questions: grading a form answer or a JSON answer.

POST /quiz/{slug}/{qid}       grade a form answer: htmx gets the feedback fragment,
                              a plain form POST is redirected back to the question
POST /api/quiz/{slug}/{qid}   JSON {"selected": [indices]} -> grade
"""
from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field, StrictInt

from app.course.content import Course
from app.web.errors import clip
from app.web.limits import json_keys_once, read_form
from app.web.pages import chapter_or_404, course, is_htmx, progress_for, quiz_or_404, render_fragment, store
from app.learning.progress import ProgressStore
from app.web.learner import learner_id
from app.course.quiz import AnswerError, Grade, Quiz, grade
from app.web.views.quiz import chapter_score, option_order, predict_html
from app.web.views.widget import json_url
from widgets.base import ParamError

router = APIRouter()


FORM_BODY = {"requestBody": {"required": False, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "properties": {"choice": {
        "type": "array", "items": {"type": "string", "pattern": "^[0-9]{1,4}$"},
        "description": "an option's authored index; repeated for a multiple-answer question"}}}}}}}
SEE_OTHER = {303: {"description": "A plain form post: redirected to the question on its page"}}


@router.post("/quiz/{slug}/{qid}", response_class=HTMLResponse, openapi_extra=FORM_BODY, responses=SEE_OTHER)
async def quiz_form(request: Request, slug: str, qid: str, loaded: Course = Depends(course),
                    progress: ProgressStore = Depends(store)):
    """Grade a form answer (field `choice`, repeated for checkboxes).

    htmx requests get the feedback fragment; a plain form POST is redirected (303) to the
    question on the chapter page, which shows the saved answer and its feedback."""
    choices = [value for key, value in await read_form(request) if key == "choice"]
    # the rest writes SQLite and reads the result cache: off the event loop, so no stream or
    # page waits behind it
    return await asyncio.to_thread(_answer_form, request, slug, qid, choices, loaded, progress)


def grade_or_422(quiz: Quiz, selected, field: str) -> Grade:
    """The graded answer; a ParamError (422) naming the field, the answer and what is allowed."""
    try:
        return grade(quiz, selected)
    except AnswerError as exc:
        last = len(quiz.options) - 1
        allowed = (f"distinct option indices from 0 to {last}" if quiz.multiple
                   else f"one option index from 0 to {last}")
        raise ParamError(field, clip(selected), allowed, str(exc)) from None


def _answer_form(request: Request, slug: str, qid: str, choices: list[str], loaded: Course,
                 progress: ProgressStore):
    chapter = chapter_or_404(loaded, slug)
    quiz = quiz_or_404(chapter, qid)
    htmx = is_htmx(request)
    result = grade_or_422(quiz, choices, "choice")
    learner, _ = learner_id(request)
    progress.record_answer(learner, chapter.slug, quiz.id, list(result.selected), result.correct)
    if htmx:
        return render_fragment(request, "_quiz_feedback.html", {
            "chapter": chapter, "quiz": quiz, "graded": result, "score": chapter_score(request, chapter),
            "order": option_order(request, chapter, quiz),
            "oob": True, "progress": progress_for(request, loaded), "predict_html": predict_html(request, quiz)})
    return RedirectResponse(f"{chapter.url}#quiz-{quiz.id}", status_code=303)


class Answer(BaseModel):
    """A learner's answer: the authored indices of the options chosen."""
    selected: list[Annotated[StrictInt, Field(ge=0, le=999)]] = Field(
        min_length=1, max_length=64, description="the chosen options' indices (one for a "
                                                 "single-answer question), each from 0 to the last option")


class OptionFeedback(BaseModel):
    index: int
    selected: bool
    correct: bool
    feedback: str


class PredictRun(BaseModel):
    """A predict question's real run, to fetch once the prediction is made."""
    widget: str
    params: dict
    json_url: str


class Graded(BaseModel):
    """Whether the answer is right, with the feedback for every option (authored order)."""
    correct: bool
    selected: list[int]
    options: list[OptionFeedback]
    run: PredictRun | None = None


@router.post("/api/quiz/{slug}/{qid}", response_model=None, responses={200: {"model": Graded}},
             dependencies=[Depends(json_keys_once)])
def quiz_api(request: Request, slug: str, qid: str, answer: Answer = Body(...),
             loaded: Course = Depends(course), progress: ProgressStore = Depends(store)):
    """Grade {"selected": [indices]}: whether it is right, and feedback for every option."""
    chapter = chapter_or_404(loaded, slug)
    quiz = quiz_or_404(chapter, qid)
    result = grade_or_422(quiz, answer.selected, "selected")
    learner, _ = learner_id(request)
    progress.record_answer(learner, chapter.slug, quiz.id, list(result.selected), result.correct)
    body = result.as_dict()
    if "run" in body:  # where the predicted run's numbers are, for a script to check
        body["run"]["json_url"] = json_url(body["run"]["widget"], body["run"]["params"])
    return JSONResponse(body)
