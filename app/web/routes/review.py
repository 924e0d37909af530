"""Spaced review of the questions a learner has answered (app/web/views/review.py), as pages
and as JSON.

GET  /review                      the next due question (interleaved across chapters, ten a
                                  session), or, with ?last=<chapter>/<question>, the feedback on
                                  that review answer and a "Next question" link; ?done=N counts
                                  the session's answers so far
POST /review/{slug}/{qid}         a form answer (`choice`, repeated for checkboxes; optional
                                  `confidence`; `done`): htmx gets the feedback in place, a plain
                                  form POST is redirected to /review?last=... (303)
GET  /api/review                  what is due: this session's questions (no answers), the exercises
POST /api/review/{slug}/{qid}     JSON {"selected": [indices], "confidence"?} -> graded, the card's
                                  new schedule; 409 when the card is not due (or does not exist)
"""
from __future__ import annotations

import asyncio
import dataclasses
import re

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import Field

from app.course.content import Course
from app.course.quiz import grade
from app.learning.progress import ProgressStore
from app.learning.review import QUIZ, CardNotDue, rating_for
from app.web.errors import alert_fragment
from app.web.learner import learner_id
from app.web.limits import json_keys_once, read_form
from app.web.pages import chapter_or_404, course, exercises, is_htmx, quiz_or_404, render_fragment, render_page, \
    sidebar_context, store
from app.web.routes.quiz import CONFLICT, Answer, confidence_or_422, grade_or_422
from app.web.views.review import SESSION_SIZE, Answered, QuizCard, due_in, now, review_order, review_queue
from app.web.views.review_variants import asked_variant, pick_variant, run_after_answer
from widgets.base import ParamError

router = APIRouter()

LAST_RE = re.compile(r"([a-z0-9-]{1,64})/([a-z0-9-]{1,64})")
FORM_BODY = {"requestBody": {"required": False, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "properties": {
        "choice": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]{1,4}$"},
                   "description": "an option's authored index; repeated for a multiple-answer question"},
        "confidence": {"type": "string", "enum": ["sure", "think", "guess"],
                       "description": "how sure the learner is (optional)"},
        "done": {"type": "string", "pattern": "^[0-9]{1,3}$",
                 "description": "answers given so far in this session"},
        "variant": {"type": "string", "pattern": "^[0-9]{1,2}$",
                    "description": "the predict variant asked (0 or absent: the question as authored)"}}}}}}}
SEE_OTHER = {303: {"description": "A plain form post: redirected to the feedback on /review"}}


def _count_or_422(field: str, value: str | None, most: int) -> int:
    if value in (None, ""):
        return 0
    if not value.isdigit() or int(value) > most:
        raise ParamError(field, value[:16], f"a whole number from 0 to {most}")
    return int(value)


def panel_context(request: Request, loaded: Course, progress: ProgressStore, done: int, last: str = "") -> dict:
    """What _review_panel.html needs: the queue, and either the feedback on the answer `last`
    (chapter/question) or the next due question."""
    learner, is_new = learner_id(request)
    at = now(request)
    queue = review_queue(loaded, exercises(request), progress, learner, at) if not is_new else None
    context = {"queue": queue, "done": done, "session_size": SESSION_SIZE, "answered": None, "current": None,
               "now": at, "due_in": due_in}
    found = LAST_RE.fullmatch(last or "")
    if found and not is_new:
        context["answered"] = _answered(request, loaded, progress, learner, *found.groups())
    if context["answered"] is None and queue is not None and done < SESSION_SIZE and queue.questions:
        first = queue.questions[0]
        asked = pick_variant(request, first.quiz, learner, first.chapter.slug, first.card.reviews)
        context["current"] = dataclasses.replace(first, asked=asked)
    return context


def _answered(request: Request, loaded: Course, progress: ProgressStore, learner: str, slug: str,
              qid: str) -> dict | None:
    """The learner's latest review answer to this question, graded, with its explanations (and
    a predict question's run, when cached)."""
    chapter = loaded.get(slug)
    quiz = chapter.quizzes.get(qid) if chapter else None
    logged = [r for r in progress.review_log(learner, QUIZ, slug, qid) if r.source == "review"] if quiz else []
    if not logged or logged[-1].selected is None:
        return None
    latest = logged[-1]
    asked = asked_variant(request, quiz, latest.variant) if latest.variant else None
    if latest.variant and asked is None:  # its run left the cache since: nothing to grade it on
        return None
    try:
        graded = grade(asked.quiz if asked else quiz, list(latest.selected))
    except ValueError:  # the question changed since: nothing to explain
        return None
    order = list(latest.shown_order or range(len(quiz.options)))
    if sorted(order) != list(range(len(quiz.options))):
        order = list(range(len(quiz.options)))
    card = progress.card(learner, QUIZ, slug, qid)
    run_html = run_after_answer(request, quiz, asked.values if asked else None) if quiz.predict else None
    return {"chapter": chapter, "quiz": asked.quiz if asked else quiz, "state": Answered(graded, order),
            "review": latest, "card": card, "item": QuizCard(card, chapter, quiz, order, asked) if card else None,
            "run_html": run_html}


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, done: int = Query(0, ge=0, le=1000, description="answers so far this session"),
                last: str = Query("", max_length=140, description="chapter/question: show the feedback on "
                                                                   "that review answer"),
                loaded: Course = Depends(course), progress: ProgressStore = Depends(store)):
    """The next due question, or the feedback on the one just answered."""
    context = sidebar_context(request)
    context.update(panel_context(request, loaded, progress, done, last))
    return render_page(request, "review.html", context)


@router.post("/review/{slug}/{qid}", response_class=HTMLResponse, openapi_extra=FORM_BODY, responses=SEE_OTHER)
async def review_form(request: Request, slug: str, qid: str, loaded: Course = Depends(course),
                      progress: ProgressStore = Depends(store)):
    """Answer a due question (field `choice`, repeated for checkboxes; optional `confidence`)."""
    fields = await read_form(request)
    choices = [value for key, value in fields if key == "choice"]
    confidence = next((value for key, value in fields if key == "confidence"), None)
    done = next((value for key, value in fields if key == "done"), None)
    variant = next((value for key, value in fields if key == "variant"), None)
    # SQLite and the result cache off the event loop: no stream or page waits behind them
    return await asyncio.to_thread(_form_step, request, slug, qid, choices, confidence, done, variant, loaded,
                                   progress)


def _form_step(request: Request, slug: str, qid: str, choices: list[str], confidence: str | None,
               done_field: str | None, variant_field: str | None, loaded: Course, progress: ProgressStore):
    chapter = chapter_or_404(loaded, slug)
    quiz = quiz_or_404(chapter, qid)
    learner, _ = learner_id(request)
    try:
        done = _count_or_422("done", done_field, 1000)
        variant = _count_or_422("variant", variant_field, 99)
        _review(request, progress, learner, chapter.slug, quiz, choices, confidence_or_422(confidence),
                now(request), "choice", variant)
    except CardNotDue:  # (done is parsed by then) answered twice, or never: show what is due now
        return _back(request, loaded, progress, done, "")
    except ParamError as exc:
        if not is_htmx(request):
            raise  # the 422 page
        return alert_fragment(exc.message, 422, {"HX-Retarget": "#review-feedback", "HX-Reswap": "innerHTML"})
    return _back(request, loaded, progress, done + 1, f"{chapter.slug}/{quiz.id}")


def _back(request: Request, loaded: Course, progress: ProgressStore, done: int, last: str):
    if not is_htmx(request):
        query = f"?done={done}" + (f"&last={last}" if last else "")
        return RedirectResponse(f"/review{query}", status_code=303)
    return render_fragment(request, "_review_panel.html", panel_context(request, loaded, progress, done, last))


def _review(request: Request, progress: ProgressStore, learner: str, slug: str, quiz, selected,
            confidence: str | None, at, field: str, variant: int = 0):
    """Grade a review answer (at predict variant `variant`, on its cached run) and reschedule
    the card; CardNotDue when it is not due, or the variant cannot be graded now."""
    card = progress.card(learner, QUIZ, slug, quiz.id)
    if card is None or not card.is_due(at):
        raise CardNotDue(f"question {quiz.id!r} of chapter {slug!r} is not due for review"
                         + (f" until {card.due.isoformat(timespec='minutes')}" if card else
                            ": answer it in its chapter first"))
    asked = asked_variant(request, quiz, variant) if variant else None
    if variant and asked is None:
        raise CardNotDue(f"question {quiz.id!r} has no variant {variant} whose run is cached; "
                         f"GET /api/review for the variant to answer")
    order = review_order(quiz, learner, slug, card.reviews)
    result = grade_or_422(asked.quiz if asked else quiz, selected, field)
    rating = rating_for(result.correct, 0, confidence)
    after = progress.review(learner, QUIZ, slug, quiz.id, rating, at, source="review", correct=result.correct,
                            confidence=confidence, selected=list(result.selected), shown_order=order,
                            variant=variant)
    return result, rating, after


# --- JSON ------------------------------------------------------------------------------------------

@router.get("/api/review")
def review_api(request: Request, loaded: Course = Depends(course), progress: ProgressStore = Depends(store)):
    """What is due for this learner now: this session's questions (interleaved across chapters,
    options in this review's order, no answers), the due exercises, and when the next card
    falls due."""
    learner, is_new = learner_id(request)
    at = now(request)
    body = {"now": at.isoformat(), "session_size": SESSION_SIZE, "due": 0, "questions_due": 0, "session": [],
            "exercises": [], "next_due": None}
    if is_new:
        return JSONResponse(body)
    queue = review_queue(loaded, exercises(request), progress, learner, at)
    session = [dataclasses.replace(q, asked=pick_variant(request, q.quiz, learner, q.chapter.slug, q.card.reviews))
               for q in queue.session]
    body.update(due=queue.due, questions_due=len(queue.questions), session=[q.public(at) for q in session],
                exercises=[{"id": e.exercise.id, "title": e.exercise.title, "chapter": e.exercise.chapter,
                            "url": e.url, "card": e.card.as_dict(at)} for e in queue.exercises],
                next_due=queue.next_due.isoformat() if queue.next_due else None)
    return JSONResponse(body)


class ReviewAnswer(Answer):
    """A review answer: a predict question's variant, as /api/review gave it, beside the answer."""
    variant: int = Field(0, ge=0, le=99, description="the predict variant asked (0: the question as authored)")


@router.post("/api/review/{slug}/{qid}", response_model=None, responses=CONFLICT,
             dependencies=[Depends(json_keys_once)])
def review_answer_api(request: Request, slug: str, qid: str, answer: ReviewAnswer = Body(...),
                      loaded: Course = Depends(course), progress: ProgressStore = Depends(store)):
    """Answer a due question {"selected": [indices], "confidence"?: "sure" | "think" | "guess",
    "variant"?: n}: graded (a predict variant on its cached run), every option's explanation,
    and the card's new schedule (wrong: Again; right: Good; right and sure: Easy)."""
    chapter = chapter_or_404(loaded, slug)
    quiz = quiz_or_404(chapter, qid)
    learner, _ = learner_id(request)
    at = now(request)
    try:
        result, rating, after = _review(request, progress, learner, chapter.slug, quiz, answer.selected,
                                        answer.confidence, at, "selected", answer.variant)
    except CardNotDue as exc:
        raise HTTPException(409, str(exc)) from None
    queue = review_queue(loaded, exercises(request), progress, learner, at)
    item = QuizCard(after, chapter, quiz, [])
    return JSONResponse({"correct": result.correct, "selected": list(result.selected), "rating": rating.name,
                         "options": [o.as_dict() for o in result.options], "correct_options": result.quiz.correct_indices,
                         "variant": answer.variant, "section_url": item.section_url, "card": after.as_dict(at),
                         "due": queue.due})
