"""The teacher's side of a class (issue 24): the operator's page, the class's view, the poll.

GET  /teach                      operator (COURSE_TEACHER_TOKEN): sign in, then the classes and
                                 a form to create one (404 when the setting is empty)
POST /teach/login                operator: the token in the form body, exchanged for a cookie
POST /teach/logout               operator: forget the cookie
POST /teach/classes              operator: create a class; the answer shows its two links, once
POST /teach/classes/{class_id}/token   operator: a new teacher link for a class (the old one stops)
GET  /teach/{class_id}           the class's live view (?token=... on the first visit only:
                                 exchanged for a cookie and redirected to the clean URL)
POST /teach/{class_id}/poll      open a question for the class (field question = "chapter/qid")
POST /teach/{class_id}/poll/{poll_id}   a step on the open poll (field action; polls.ACTIONS)
POST /teach/{class_id}/signout   forget this class's teacher cookie

The live view's stream, the predict runs and the exports are in app/web/routes/teach_live.py.
Every route here answers 403 without the class's token (or the operator's); every POST also
checks Origin and the form's CSRF value (app/web/teacher_auth.py).
"""
from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.course.content import Course
from app.learning.classes import ClassError
from app.learning.polls import ACTIONS
from app.learning.progress import ProgressStore
from app.web.limits import read_form
from app.web.pages import course, render_page, sidebar_context, store
from app.web.rate_limit import RateLimit, check
from app.web.teacher_auth import (OPERATOR_COOKIE, TEACHER_COOKIE, TEACHER_RESPONSES, TOKEN_RE, check_csrf,
                                  class_path, csrf_value, forget_secret_cookie, operator_ok, same_origin,
                                  set_secret_cookie, teacher_token)
from app.web.views.class_poll import find_question
from app.web.views.class_teacher import teacher_context
from widgets.base import ParamError

router = APIRouter()
TOKEN_TRIES_PER_MINUTE = 20  # right or wrong, per client address, in each web process
NO_STORE = {"Cache-Control": "no-store"}
RESPONSES = TEACHER_RESPONSES


def _form_body(**properties) -> dict:
    return {"requestBody": {"required": False, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "properties": {"csrf": {"type": "string"}, **properties}}}}}}


def _one(form: list[tuple[str, str]], name: str, limit: int = 200) -> str:
    values = [v for k, v in form if k == name]
    if len(values) != 1 or len(values[0]) > limit:
        raise ParamError(name, f"{len(values)} values" if len(values) != 1 else f"{len(values[0])} characters",
                         f"one value of at most {limit} characters", f"give {name} once")
    return values[0]


def _guess(request: Request) -> None:
    tries = getattr(request.app.state, "token_tries", None)
    if tries is None:
        tries = request.app.state.token_tries = RateLimit(TOKEN_TRIES_PER_MINUTE, per_s=60)
    check([(tries, request.client.host if request.client else "-")], "token tries")


# --- the operator ------------------------------------------------------------------------

def _operator_page(request: Request, progress: ProgressStore, status_code: int = 200, **extra) -> HTMLResponse:
    settings = request.app.state.settings
    if not settings.teacher_token:
        raise HTTPException(404, "the teacher's page is off: the operator sets COURSE_TEACHER_TOKEN "
                                 "(or creates classes with python -m app class create)")
    token = operator_ok(request)
    context = {**sidebar_context(request), "signed_in": bool(token), "classes": progress.all_classes() if token else [],
               "csrf": csrf_value(token, "operator") if token else "", "class_page": True,
               "too_short": len(settings.teacher_token) < 16, **extra}
    response = render_page(request, "class_operator.html", context, status_code=status_code)
    response.headers.update(NO_STORE)
    return response


@router.get("/teach", response_class=HTMLResponse, responses=RESPONSES)
def operator_page(request: Request, progress: ProgressStore = Depends(store)):
    """The operator's page: the sign-in form (it shows nothing else), then the classes."""
    return _operator_page(request, progress)


@router.post("/teach/login", response_class=HTMLResponse, responses=RESPONSES,
             openapi_extra=_form_body(token={"type": "string"}))
async def operator_login(request: Request, progress: ProgressStore = Depends(store)):
    """Sign in with COURSE_TEACHER_TOKEN (in the body, never in a URL)."""
    same_origin(request, required=True)
    _guess(request)
    expected = request.app.state.settings.teacher_token
    if not expected or len(expected) < 16:
        return _operator_page(request, progress, 404 if not expected else 403)
    given = _one(await read_form(request), "token", 256)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return _operator_page(request, progress, 403, wrong=True)
    return set_secret_cookie(request, RedirectResponse("/teach", status_code=303), OPERATOR_COOKIE, expected, "/teach")


async def _operator_post(request: Request) -> list[tuple[str, str]]:
    same_origin(request, required=True)
    token = operator_ok(request)
    if not token:
        raise HTTPException(403, "sign in on /teach first")
    form = await read_form(request)
    check_csrf(form, token, "operator")
    return form


@router.post("/teach/logout", response_class=HTMLResponse, responses=RESPONSES, openapi_extra=_form_body())
async def operator_logout(request: Request):
    """Forget the operator's cookie."""
    await _operator_post(request)
    return forget_secret_cookie(request, RedirectResponse("/teach", status_code=303), OPERATOR_COOKIE, "/teach")


def _created(request: Request, info, token: str, status_code: int) -> HTMLResponse:
    base = str(request.base_url).rstrip("/")
    response = render_page(request, "class_created.html", {
        **sidebar_context(request), "info": info, "class_page": True, "join_url": f"{base}/classes/{info.id}/join",
        "teacher_url": f"{base}{class_path(info.id)}?token={token}"}, status_code=status_code)
    response.headers.update(NO_STORE)
    return response


@router.post("/teach/classes", response_class=HTMLResponse, responses={201: {"description": "Created"}, **RESPONSES},
             status_code=201, openapi_extra=_form_body(name={"type": "string", "maxLength": 80}))
async def create_class(request: Request, progress: ProgressStore = Depends(store)):
    """Create a class; the page shows its join link and its teacher link (shown once)."""
    form = await _operator_post(request)
    try:
        info, token = progress.create_class(_one(form, "name", 400))
    except ClassError as exc:
        raise ParamError("name", _one(form, "name", 400), "1 to 80 characters", str(exc)) from None
    return _created(request, info, token, 201)


@router.post("/teach/classes/{class_id}/token", response_class=HTMLResponse, responses=RESPONSES,
             openapi_extra=_form_body())
async def renew_token(request: Request, class_id: str, progress: ProgressStore = Depends(store)):
    """A new teacher link for the class: the old link and the cookies made from it stop working."""
    await _operator_post(request)
    try:
        token = progress.new_teacher_token(class_id)
    except ClassError as exc:
        raise HTTPException(404, str(exc)) from None
    return _created(request, progress.class_info(class_id), token, 200)


# --- the class's teacher -----------------------------------------------------------------

@router.get("/teach/{class_id}", response_class=HTMLResponse, responses=RESPONSES)
def teacher_page(request: Request, class_id: str, loaded: Course = Depends(course),
                 progress: ProgressStore = Depends(store)):
    """The class's live view. A first visit with ?token= puts the token in a cookie and
    redirects to this URL without it."""
    token = request.query_params.get("token")
    if token is not None:
        _guess(request)
        if not TOKEN_RE.fullmatch(token) or not progress.teacher_token_ok(class_id, token):
            raise HTTPException(403, "this teacher link is not valid (mistyped, or replaced by a newer one)")
        return set_secret_cookie(request, RedirectResponse(class_path(class_id), status_code=303),
                                 TEACHER_COOKIE, token, class_path(class_id))
    info, token = teacher_token(request, progress, class_id)
    response = render_page(request, "class_teacher.html", teacher_context(request, loaded, progress, info, token))
    response.headers.update(NO_STORE)
    return response


async def _teacher_post(request: Request, progress: ProgressStore, class_id: str) -> list[tuple[str, str]]:
    same_origin(request, required=True)
    _, token = teacher_token(request, progress, class_id)
    form = await read_form(request)
    check_csrf(form, token, class_id)
    return form


@router.post("/teach/{class_id}/poll", response_class=HTMLResponse, responses=RESPONSES,
             openapi_extra=_form_body(question={"type": "string", "description": "chapter slug/question id"}))
async def open_poll(request: Request, class_id: str, loaded: Course = Depends(course),
                    progress: ProgressStore = Depends(store)):
    """Put a question to the class (its first vote); the poll open before is closed."""
    form = await _teacher_post(request, progress, class_id)
    value = _one(form, "question")
    slug, _, qid = value.partition("/")
    if find_question(loaded, slug, qid) is None:
        raise ParamError("question", value, "chapter-slug/question-id of a question in the course",
                         "there is no such question")
    progress.open_poll(class_id, slug, qid)
    return RedirectResponse(f"{class_path(class_id)}#poll", status_code=303)


@router.post("/teach/{class_id}/poll/{poll_id}", response_class=HTMLResponse, responses=RESPONSES,
             openapi_extra=_form_body(action={"type": "string", "enum": list(ACTIONS)}))
async def poll_step(request: Request, class_id: str, poll_id: int, progress: ProgressStore = Depends(store)):
    """Show or hide the votes, stop the vote, open the second vote, reveal the answer, or close."""
    form = await _teacher_post(request, progress, class_id)
    action = _one(form, "action")
    if action not in ACTIONS:
        raise ParamError("action", action, ", ".join(ACTIONS), "no such step")
    try:
        progress.poll_action(class_id, poll_id, action)
    except ClassError as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"{class_path(class_id)}#poll", status_code=303)


@router.post("/teach/{class_id}/signout", response_class=HTMLResponse, responses=RESPONSES,
             openapi_extra=_form_body())
async def teacher_signout(request: Request, class_id: str, progress: ProgressStore = Depends(store)):
    """Forget this class's teacher cookie in this browser (the link still works)."""
    await _teacher_post(request, progress, class_id)
    return forget_secret_cookie(request, RedirectResponse("/", status_code=303), TEACHER_COOKIE, class_path(class_id))
