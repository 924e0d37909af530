"""A learner's side of a class (issue 24): joining by the link, the class's poll, leaving.

GET  /classes/{class_id}/join    the join form: a nickname, or a random alias
POST /classes/{class_id}/join    join (rate-limited), then to the class page
GET  /classes/{class_id}         the class page: your alias, the poll open now, leaving
POST /classes/{class_id}/vote    a vote in the open round of the poll (rate-limited)
POST /classes/{class_id}/leave   leave: your membership and your votes in the class go
GET  /api/classes/me             the banner's state: your classes and their open polls
                                 (static/class.js asks every few seconds on every page)

A learner sees the class's votes only when the teacher shows them, and the answer only when
the teacher reveals it; never another learner's vote. Every POST must come from this site
(app/web/teacher_auth.py, same_origin).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from app.course.content import Course
from app.course.quiz import AnswerError, grade
from app.learning.classes import ClassError, clean_nickname
from app.learning.progress import ProgressStore
from app.web.learner import learner_id, no_learner_cookie
from app.web.limits import read_form
from app.web.pages import course, render_page, sidebar_context, store
from app.web.rate_limit import RateLimit, check
from app.web.teacher_auth import same_origin
from app.web.views.class_poll import find_question, letter, poll_distributions, poll_state, presence_json
from app.web.views.quiz import predict_html
from widgets.base import ParamError

router = APIRouter()
BANNER_EVERY_S = 2  # how often a page asks whether the teacher opened a question (visible tab)


@dataclass
class ClassLimits:
    """Per web process (app/web/rate_limit.py)."""
    join_learner: RateLimit = field(default_factory=lambda: RateLimit(10, per_s=60))
    join_address: RateLimit = field(default_factory=lambda: RateLimit(200, per_s=60))  # a classroom's NAT
    vote_learner: RateLimit = field(default_factory=lambda: RateLimit(10, per_s=60))
    banner_learner: RateLimit = field(default_factory=lambda: RateLimit(90, per_s=60))  # 30 a minute per tab


def limits(request: Request) -> ClassLimits:
    found = getattr(request.app.state, "class_limits", None)
    if found is None:
        found = request.app.state.class_limits = ClassLimits()
    return found


def _address(request: Request) -> str:
    return request.client.host if request.client else "-"


MESSAGE = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}},
                       "text/html": {"schema": {"type": "string"}}}}
SEE_OTHER = {"description": "Done: on to the class page (See Other)"}
RESPONSES = {303: SEE_OTHER, 403: {"description": "Not from this site, or not in the class", **MESSAGE},
             404: {"description": "No such class", **MESSAGE}, 409: {"description": "Not now", **MESSAGE},
             429: {"description": "Too many requests: try again after Retry-After seconds",
                   "headers": {"Retry-After": {"schema": {"type": "integer"}}}, **MESSAGE}}
FORM = {"requestBody": {"required": False, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "properties": {
        "nickname": {"type": "string", "maxLength": 24, "description": "optional; empty: a random alias"},
        "poll": {"type": "string", "pattern": "^[0-9]{1,12}$"}, "round": {"type": "string", "enum": ["1", "2"]},
        "choice": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]{1,4}$"}}}}}}}}


def _class_or_404(progress: ProgressStore, class_id: str):
    info = progress.class_info(class_id) if len(class_id) <= 64 else None
    if info is None:
        raise HTTPException(404, "there is no such class: check the link your teacher gave you")
    return info


@router.get("/classes/{class_id}/join", response_class=HTMLResponse, responses=RESPONSES)
def join_page(request: Request, class_id: str, progress: ProgressStore = Depends(store)):
    """The join form: choose a nickname, or keep a random alias."""
    info = _class_or_404(progress, class_id)
    learner, is_new = learner_id(request)
    alias = None if is_new else progress.membership(class_id, learner)
    return render_page(request, "class_join.html", {**sidebar_context(request), "info": info, "alias": alias})


@router.post("/classes/{class_id}/join", response_class=HTMLResponse, responses=RESPONSES, openapi_extra=FORM)
async def join(request: Request, class_id: str, progress: ProgressStore = Depends(store)):
    """Join the class (or change your nickname in it); the alias is all the teacher sees."""
    same_origin(request, required=False)
    learner, _ = learner_id(request)
    found = limits(request)
    check([(found.join_learner, learner), (found.join_address, _address(request))], "joins")
    form = await read_form(request)
    nickname = next((v for k, v in form if k == "nickname"), "")
    if nickname.strip():
        try:
            clean_nickname(nickname)
        except ClassError as exc:
            raise ParamError("nickname", nickname, "1 to 24 letters, digits, spaces or . ' - _", str(exc)) from None
    return await asyncio.to_thread(_join, progress, class_id, learner, nickname)


def _join(progress: ProgressStore, class_id: str, learner: str, nickname: str):
    _class_or_404(progress, class_id)
    try:
        progress.join_class(class_id, learner, nickname)
    except ClassError as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"/classes/{class_id}", status_code=303)


@router.get("/classes/{class_id}", response_class=HTMLResponse, responses=RESPONSES)
def class_page(request: Request, class_id: str, loaded: Course = Depends(course),
               progress: ProgressStore = Depends(store)):
    """Your class: your alias, the question the teacher opened, and what they chose to show."""
    info = _class_or_404(progress, class_id)
    learner, is_new = learner_id(request)
    alias = None if is_new else progress.membership(class_id, learner)
    if alias is None:
        return RedirectResponse(f"/classes/{class_id}/join", status_code=303)
    context = {**sidebar_context(request), "info": info, "alias": alias, "poll": None}
    poll = progress.current_poll(class_id)
    found = find_question(loaded, poll.chapter, poll.question) if poll else None
    if poll and found:
        chapter, quiz = found
        mine = progress.my_votes(poll.id, learner)
        shown = poll.votes_shown or poll.revealed
        context.update(poll=poll, chapter=chapter, quiz=quiz, letter=letter, state=poll_state(poll),
                       my_vote=mine.get(poll.round), my_votes=mine,
                       distributions=(poll_distributions(quiz, poll, progress.tally(poll.id), poll.revealed)
                                      if shown else []),
                       run_html=predict_html(request, quiz) if poll.revealed else None)
    return render_page(request, "class_learner.html", context)


@router.post("/classes/{class_id}/vote", response_class=HTMLResponse, responses=RESPONSES, openapi_extra=FORM)
async def vote(request: Request, class_id: str, loaded: Course = Depends(course),
               progress: ProgressStore = Depends(store)):
    """Your vote in the open round (fields poll, round, choice): one per round, final."""
    same_origin(request, required=False)
    learner, _ = learner_id(request)
    check([(limits(request).vote_learner, learner)], "votes")
    form = await read_form(request)
    return await asyncio.to_thread(_vote, progress, loaded, class_id, learner, form)


def _field_int(form, name: str, allowed: range) -> int:
    values = [v for k, v in form if k == name]
    if len(values) != 1 or not values[0].isdigit() or int(values[0]) not in allowed:
        raise ParamError(name, values[0] if values else None, f"one whole number from {allowed.start} "
                         f"to {allowed.stop - 1}", f"{name} must be given once, as a whole number")
    return int(values[0])


def _vote(progress: ProgressStore, loaded: Course, class_id: str, learner: str, form):
    _class_or_404(progress, class_id)
    if progress.membership(class_id, learner) is None:
        raise HTTPException(403, "join the class first: open the link your teacher gave you")
    poll_id, round_ = _field_int(form, "poll", range(1, 10**12)), _field_int(form, "round", range(1, 3))
    poll = progress.current_poll(class_id)
    found = find_question(loaded, poll.chapter, poll.question) if poll and poll.id == poll_id else None
    if found is None:
        raise HTTPException(409, "this vote has closed: the class page shows the question open now")
    quiz = found[1]
    choices = [v for k, v in form if k == "choice"]
    try:
        graded = grade(quiz, choices)
    except AnswerError as exc:
        raise ParamError("choice", choices, f"options A to {letter(len(quiz.options) - 1)}", str(exc)) from None
    try:
        progress.vote(class_id, poll_id, round_, learner, list(graded.selected), graded.correct)
    except ClassError as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"/classes/{class_id}#poll", status_code=303)


@router.post("/classes/{class_id}/leave", response_class=HTMLResponse, responses=RESPONSES)
def leave(request: Request, class_id: str, progress: ProgressStore = Depends(store)):
    """Leave the class: your membership and your votes in its polls are deleted."""
    same_origin(request, required=False)
    learner, is_new = learner_id(request)
    if not is_new:
        progress.leave_class(class_id, learner)
    return RedirectResponse("/?left=1", status_code=303)


@router.get("/api/classes/me", responses={429: RESPONSES[429]})
def banner_state(request: Request, loaded: Course = Depends(course), progress: ProgressStore = Depends(store)):
    """Your classes and the question open in each (what the banner on every page shows)."""
    no_learner_cookie(request)
    learner, is_new = learner_id(request)
    if is_new:
        return JSONResponse({"classes": [], "next_s": BANNER_EVERY_S})
    check([(limits(request).banner_learner, learner)], "requests")
    return JSONResponse({"classes": [presence_json(p, loaded) for p in progress.presence(learner)],
                         "next_s": BANNER_EVERY_S}, headers={"Cache-Control": "no-store"})

