"""Quick-check questions: answers, hints and "show me", as forms and as JSON.

A question is scored on its first answer (app/web/views/quiz.py has the rules of the loop).

POST /quiz/{slug}/{qid}              a form answer (field `choice`, repeated for checkboxes)
POST /quiz/{slug}/{qid}/hint         show the next hint tier (recorded)
POST /quiz/{slug}/{qid}/reveal       "show me": every option's explanation, after a wrong answer
        htmx gets the question re-rendered; a plain form POST is redirected back to it (303).
        A question that is finished takes no more answers: the form shows it as it is.
GET  /api/quiz/{slug}/{qid}          this learner's record of the question, and what it may read
POST /api/quiz/{slug}/{qid}          JSON {"selected": [indices], "confidence"?} -> the graded answer
POST /api/quiz/{slug}/{qid}/hint     -> the hints shown so far
POST /api/quiz/{slug}/{qid}/reveal   -> every option's explanation
        409 when the question's state does not allow it (finished, or not answered yet).
"""
from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field, StrictInt

from app.course.content import Chapter, Course
from app.course.quiz import AnswerError, Grade, Quiz, grade
from app.learning.progress import ProgressStore
from app.learning.quiz_record import CONFIDENCES, QuestionClosed, QuestionRecord
from app.web.errors import alert_fragment, clip
from app.web.learner import learner_id
from app.web.limits import json_keys_once, read_form
from app.web.pages import chapter_or_404, course, is_htmx, progress_for, quiz_or_404, render_fragment, store
from app.web.views.quiz import chapter_records, chapter_score, question_record, quiz_context, quiz_state
from app.web.views.review import now, schedule_first_answer
from widgets.base import ParamError

router = APIRouter()

FORM_BODY = {"requestBody": {"required": False, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "properties": {
        "choice": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]{1,4}$"},
                   "description": "an option's authored index; repeated for a multiple-answer question"},
        "confidence": {"type": "string", "enum": list(CONFIDENCES),
                       "description": "how sure the learner is (optional)"}}}}}}}
SEE_OTHER = {303: {"description": "A plain form post: redirected to the question on its page"}}
CONFLICT = {409: {"description": "The question's state does not allow it: finished (a prediction is locked "
                                 "once committed), or not answered yet for a reveal"}}


def grade_or_422(quiz: Quiz, selected, field: str) -> Grade:
    """The graded answer; a ParamError (422) naming the field, the answer and what is allowed."""
    try:
        return grade(quiz, selected)
    except AnswerError as exc:
        last = len(quiz.options) - 1
        allowed = (f"distinct option indices from 0 to {last}" if quiz.multiple
                   else f"one option index from 0 to {last}")
        raise ParamError(field, clip(selected), allowed, str(exc)) from None


def confidence_or_422(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if value not in CONFIDENCES:
        raise ParamError("confidence", clip(value), " | ".join(CONFIDENCES))
    return value


def _act(progress: ProgressStore, learner: str, chapter: Chapter, quiz: Quiz, action: str,
         choices=None, confidence: str | None = None, field: str = "choice", at=None) -> None:
    """One step of the loop for this learner; QuestionClosed when the question's state refuses it.
    A first answer also makes the question's review card, scheduled from `at`."""
    if action == "answer":
        result = grade_or_422(quiz, choices, field)
        attempt = progress.record_quiz_attempt(learner, chapter.slug, quiz.id, list(result.selected),
                                               result.correct, quiz.max_attempts, confidence)
        schedule_first_answer(progress, learner, chapter, quiz, attempt, at)
    elif action == "hint":
        progress.ask_hint(learner, chapter.slug, quiz.id, len(quiz.hint_tiers), quiz.max_attempts)
    else:
        progress.reveal(learner, chapter.slug, quiz.id, quiz.max_attempts)


# --- forms (htmx or plain) ---------------------------------------------------------------------

async def _form(request: Request, slug: str, qid: str, action: str, loaded: Course, progress: ProgressStore):
    fields = await read_form(request)
    choices = [value for key, value in fields if key == "choice"]
    confidence = next((value for key, value in fields if key == "confidence"), None)
    # SQLite and the result cache off the event loop: no stream or page waits behind them
    return await asyncio.to_thread(_form_step, request, slug, qid, action, choices, confidence, loaded, progress)


def _form_step(request: Request, slug: str, qid: str, action: str, choices: list[str], confidence: str | None,
               loaded: Course, progress: ProgressStore):
    chapter = chapter_or_404(loaded, slug)
    quiz = quiz_or_404(chapter, qid)
    learner, _ = learner_id(request)
    try:
        _act(progress, learner, chapter, quiz, action, choices, confidence_or_422(confidence), at=now(request))
    except QuestionClosed:
        pass  # the form shows the question as it stands: finished, or waiting for an answer
    except ParamError as exc:
        if not is_htmx(request):
            raise  # the 422 page
        # the message goes under the form; the question itself stays as it is
        return alert_fragment(exc.message, 422, {"HX-Retarget": f"#quiz-{quiz.id}-feedback",
                                                 "HX-Reswap": "innerHTML"})
    if not is_htmx(request):
        return RedirectResponse(f"{chapter.url}#quiz-{quiz.id}", status_code=303)
    records = chapter_records(request, chapter, written=True)
    context = quiz_context(request, chapter, quiz_state(request, chapter, quiz, records.get(quiz.id, QuestionRecord())),
                           chapter_score(request, chapter, records))
    return render_fragment(request, "_quiz_answered.html", {**context, "progress": progress_for(request, loaded)})


@router.post("/quiz/{slug}/{qid}", response_class=HTMLResponse, openapi_extra=FORM_BODY, responses=SEE_OTHER)
async def quiz_form(request: Request, slug: str, qid: str, loaded: Course = Depends(course),
                    progress: ProgressStore = Depends(store)):
    """Answer a question (field `choice`, repeated for checkboxes; optional `confidence`)."""
    return await _form(request, slug, qid, "answer", loaded, progress)


@router.post("/quiz/{slug}/{qid}/hint", response_class=HTMLResponse, responses=SEE_OTHER)
async def quiz_hint_form(request: Request, slug: str, qid: str, loaded: Course = Depends(course),
                         progress: ProgressStore = Depends(store)):
    """Show the next hint tier: the nudge, then how to work it out. The learner's record says so."""
    return await _form(request, slug, qid, "hint", loaded, progress)


@router.post("/quiz/{slug}/{qid}/reveal", response_class=HTMLResponse, responses=SEE_OTHER)
async def quiz_reveal_form(request: Request, slug: str, qid: str, loaded: Course = Depends(course),
                           progress: ProgressStore = Depends(store)):
    """After a wrong answer: show every option's explanation (the question is then finished)."""
    return await _form(request, slug, qid, "reveal", loaded, progress)


# --- JSON ----------------------------------------------------------------------------------------

class Answer(BaseModel):
    """A learner's answer: the authored indices of the options chosen, and how sure they are."""
    selected: list[Annotated[StrictInt, Field(ge=0, le=999)]] = Field(
        min_length=1, max_length=64, description="the chosen options' indices (one for a "
                                                 "single-answer question), each from 0 to the last option")
    confidence: Literal["sure", "think", "guess"] | None = Field(
        None, description="how sure the learner is: sure, think (think so) or guess")


class OptionFeedback(BaseModel):
    index: int
    selected: bool
    correct: bool
    feedback: str


class Hint(BaseModel):
    tier: int
    label: str
    text: str


class AttemptRecord(BaseModel):
    attempt: int
    selected: list[int]
    correct: bool
    hint_tier: int
    confidence: str | None


class PredictRun(BaseModel):
    """A predict question's real run, to fetch once the prediction is committed."""
    widget: str
    params: dict
    json_url: str


class QuestionState(BaseModel):
    """This learner's record of a question, scored on the first answer, and the feedback they
    may read now: the chosen options' after a wrong first answer, every option's once finished."""
    attempts: int
    first_correct: bool | None
    hint_used: bool = Field(description="a hint was open when the first answer was given")
    hint_tier: int
    revealed: bool
    finished: bool
    attempts_left: int
    history: list[AttemptRecord]
    options: list[OptionFeedback]
    correct_options: list[int] | None = None
    hints: list[Hint]
    run: PredictRun | None = None


class Graded(QuestionState):
    """The answer just given, graded, and the question's state after it."""
    correct: bool
    attempt: int
    selected: list[int]


def _json_step(request: Request, slug: str, qid: str, action: str, loaded: Course, progress: ProgressStore,
               answer: Answer | None = None) -> JSONResponse:
    chapter = chapter_or_404(loaded, slug)
    quiz = quiz_or_404(chapter, qid)
    learner, _ = learner_id(request)
    try:
        _act(progress, learner, chapter, quiz, action, answer.selected if answer else None,
             answer.confidence if answer else None, field="selected", at=now(request))
    except QuestionClosed as exc:
        raise HTTPException(409, str(exc)) from None
    state = quiz_state(request, chapter, quiz, question_record(request, chapter, quiz, written=True))
    body = state.as_dict()
    if action == "answer":
        latest = state.record.latest
        body.update(correct=latest.correct, attempt=latest.number, selected=list(latest.selected))
    return JSONResponse(body)


@router.get("/api/quiz/{slug}/{qid}", response_model=None, responses={200: {"model": QuestionState}})
def quiz_state_api(request: Request, slug: str, qid: str, loaded: Course = Depends(course)):
    """This learner's record of the question and the feedback they may read now."""
    chapter = chapter_or_404(loaded, slug)
    return JSONResponse(quiz_state(request, chapter, quiz_or_404(chapter, qid)).as_dict())


@router.post("/api/quiz/{slug}/{qid}", response_model=None, responses={200: {"model": Graded}, **CONFLICT},
             dependencies=[Depends(json_keys_once)])
def quiz_api(request: Request, slug: str, qid: str, answer: Answer = Body(...),
             loaded: Course = Depends(course), progress: ProgressStore = Depends(store)):
    """Answer {"selected": [indices], "confidence"?: "sure" | "think" | "guess"}: the first answer is
    the score; a wrong first answer gets the chosen options' feedback and one more try (a
    prediction is locked once committed)."""
    return _json_step(request, slug, qid, "answer", loaded, progress, answer)


@router.post("/api/quiz/{slug}/{qid}/hint", response_model=None, responses={200: {"model": QuestionState}, **CONFLICT})
def quiz_hint_api(request: Request, slug: str, qid: str, loaded: Course = Depends(course),
                  progress: ProgressStore = Depends(store)):
    """Show the next hint tier (the nudge, then how to work it out); recorded with the answers."""
    return _json_step(request, slug, qid, "hint", loaded, progress)


@router.post("/api/quiz/{slug}/{qid}/reveal", response_model=None,
             responses={200: {"model": QuestionState}, **CONFLICT})
def quiz_reveal_api(request: Request, slug: str, qid: str, loaded: Course = Depends(course),
                    progress: ProgressStore = Depends(store)):
    """After a wrong answer, every option's explanation; the question is then finished."""
    return _json_step(request, slug, qid, "reveal", loaded, progress)
