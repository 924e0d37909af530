"""One shape for every error the app answers, whatever raised it.

    422  {"detail": [{"loc": [where, field], "msg", "type", "input", "allowed"}]}
         bad input: a widget parameter (ParamError), a quiz answer (AnswerError), a body
         that does not match its model or is not JSON (RequestValidationError)
    4xx  {"detail": "what is wrong"}: 404 no such thing, 405, 409, 413 body too large
    500  {"detail": "...", "error_id": "3f2a9c1b7e04"}: the id is in the server's log
         beside the traceback; the exception's own text never reaches the client

A browser (Accept: text/html) gets the same as a page, htmx a fragment with role=alert.
Every echoed value is cut to a few dozen characters, so an error never repeats a huge input.

The handlers are registered by `install(app)`; `CatchAll` turns anything uncaught into the
500 above (inside the security headers, so an error page carries them too).
"""
from __future__ import annotations

import logging
import math
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import Markup
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.course.content import BrokenChapter
from app.course.quiz import AnswerError
from widgets.base import ParamError

log = logging.getLogger("app.web.errors")
ECHO_CHARS = 64
INTERNAL = "Something went wrong on the server. The error id is in the server's log: {}"


# --- the documented shapes (app/web/schema.py puts them in /openapi.json) -----------------------

class Problem(BaseModel):
    """One thing wrong with a request: where, what was sent, and what is allowed."""
    loc: list[str | int]
    msg: str
    type: str
    input: Any = None
    allowed: str | None = None


class Unprocessable(BaseModel):
    detail: list[Problem]


class Message(BaseModel):
    detail: str


class ServerError(BaseModel):
    detail: str
    error_id: str


# --- helpers ---------------------------------------------------------------------------------

def clip(value: Any, limit: int = ECHO_CHARS) -> Any:
    """A value as it may be echoed back: short strings, numbers and None as they are."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no spelling for inf and nan
    if value is None or isinstance(value, (bool, int, float)) and len(repr(value)) <= limit:
        return value
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def new_error_id() -> str:
    return secrets.token_hex(6)


def log_failure(what: str, exc_info: Any = True) -> str:
    """Log a server-side failure with a fresh error id and return the id (what the client sees)."""
    error_id = new_error_id()
    log.error("error id %s: %s", error_id, what, exc_info=exc_info)
    return error_id


def wants_html(request: Request) -> bool:
    """A browser navigation (a page, not an API call) wants an HTML error page."""
    return (not request.url.path.startswith("/api/")
            and "text/html" in request.headers.get("accept", ""))


def is_htmx(request: Request) -> bool:
    """An htmx request wants an HTML fragment; an API path answers JSON whatever the headers say."""
    return request.headers.get("HX-Request") == "true" and not request.url.path.startswith("/api/")


def body_or_query(request: Request) -> str:
    return "body" if request.method in ("POST", "PUT", "PATCH") else "query"


def problem(loc: list, msg: str, value: Any = None, allowed: str | None = None,
            kind: str = "value_error") -> dict:
    return {"loc": loc, "msg": clip(msg, 400), "type": kind, "input": clip(value), "allowed": allowed}


def alert_fragment(message: str, status_code: int, headers: dict | None = None) -> HTMLResponse:
    return HTMLResponse(Markup('<p class="form-error" role="alert">{}</p>').format(message),
                        status_code=status_code, headers=headers)


def error_page(request: Request, status_code: int, title: str, message: str,
               error_id: str | None = None) -> Response:
    """The error as a whole page; plain text if even the templates fail."""
    try:
        chapters = request.app.state.course.course().chapters
    except Exception:  # an error page must not fail because the course does
        chapters = []
    try:
        return request.app.state.templates.TemplateResponse(
            request, "error.html", {"status": status_code, "title": title, "message": message,
                                    "error_id": error_id, "chapters": chapters, "progress": {}},
            status_code=status_code)
    except Exception:
        log.exception("the error page could not be rendered")
        return Response(f"{status_code} {title}: {message}", status_code=status_code,
                        media_type="text/plain; charset=utf-8")


def unprocessable(request: Request, problems: list[dict]) -> Response:
    """A 422 listing every problem; one readable line for a browser or htmx."""
    if is_htmx(request):
        response = alert_fragment(problems[0]["msg"], 422)
    elif wants_html(request):
        response = error_page(request, 422, "That input is not allowed", problems[0]["msg"])
    else:
        response = JSONResponse({"detail": problems}, status_code=422)
    return response


def server_error(request: Request, error_id: str) -> Response:
    message = INTERNAL.format(error_id)
    if is_htmx(request):
        return alert_fragment(message, 500)
    if wants_html(request):
        return error_page(request, 500, "Server error", message, error_id)
    return JSONResponse({"detail": message, "error_id": error_id}, status_code=500)


# --- the handlers ----------------------------------------------------------------------------

async def on_param_error(request: Request, exc: ParamError) -> Response:
    return unprocessable(request, [problem([body_or_query(request), exc.field], exc.message,
                                           exc.as_dict()["value"], exc.allowed)])


async def on_answer_error(request: Request, exc: AnswerError) -> Response:
    return unprocessable(request, [problem(["body", "selected"], str(exc), None,
                                           getattr(exc, "allowed", None) or "option indices of the question")])


EXPECTED = {"int_type": "an integer", "int_parsing": "an integer", "float_type": "a number",
            "list_type": "a list", "dict_type": "a JSON object", "string_type": "a string",
            "bool_type": "true or false", "missing": "a value (it is required)",
            "json_invalid": "valid JSON", "model_attributes_type": "a JSON object"}


async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
    problems = []
    for error in exc.errors()[:20]:
        ctx = {k: v for k, v in (error.get("ctx") or {}).items()
               if k not in ("error", "field_type", "actual_length")}
        allowed = (", ".join(f"{k.replace('_', ' ')} {clip(v)}" for k, v in ctx.items())
                   or EXPECTED.get(error.get("type", ""), error.get("msg")))
        problems.append(problem(list(error.get("loc", ())), error.get("msg", "invalid"),
                                error.get("input"), allowed, error.get("type", "value_error")))
    return unprocessable(request, problems or [problem(["body"], "invalid request")])


PHRASES = {404: "Not found", 405: "Method not allowed", 409: "Conflict", 413: "Too large"}


async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 400:  # FastAPI's "error parsing the body": a bad body is a 422
        return unprocessable(request, [problem(["body"], "the body could not be read: it is not "
                                               "UTF-8 JSON, or a number in it is too long",
                                               None, "a JSON document matching the schema")])
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    detail = clip(detail, 300)
    headers = getattr(exc, "headers", None)
    if exc.status_code >= 500:  # raised on purpose with a safe message; still logged with an id
        error_id = log_failure(f"{request.method} {request.url.path}: {detail}", exc_info=None)
        return JSONResponse({"detail": detail, "error_id": error_id}, status_code=exc.status_code,
                            headers=headers)
    if wants_html(request) and not is_htmx(request):
        response = error_page(request, exc.status_code, PHRASES.get(exc.status_code, "Error"), detail)
        if headers:
            response.headers.update(headers)
        return response
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)


class CatchAll:
    """ASGI middleware: an exception nothing handled becomes a 500 with an error id in the
    log (never the exception text). After a response has started (a stream), the failure is
    logged with its id and the connection closed: there is no status left to change."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            error_id = log_failure(f"{scope['method']} {scope['path']}")
            if started:
                return
            request = Request(scope, receive)
            try:
                response = server_error(request, error_id)
            except Exception:  # never fail while reporting a failure
                response = JSONResponse({"detail": INTERNAL.format(error_id), "error_id": error_id},
                                        status_code=500)
            await response(scope, receive, send)


async def on_broken_chapter(request: Request, exc: BrokenChapter) -> Response:
    error_id = log_failure(str(exc), exc_info=None)
    message = (f"This chapter's file has an error its author must fix; every other chapter "
               f"works. The error id is in the server's log: {error_id}")
    if wants_html(request) and not is_htmx(request):
        return error_page(request, 500, "This chapter cannot be shown right now", message, error_id)
    return JSONResponse({"detail": message, "error_id": error_id}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(BrokenChapter, on_broken_chapter)
    app.add_exception_handler(ParamError, on_param_error)
    app.add_exception_handler(AnswerError, on_answer_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
