"""Who the learner is: an anonymous random id in an HttpOnly, SameSite=Lax cookie (Secure
over HTTPS), and the request's progress store.

The cookie is set in one place, `LearnerCookie`: every response to a visitor without a
valid id gets a fresh one (the id a route already used for this request, if any), except
static and vendor files and the routes that opt out (`no_learner_cookie`: exporting asks
nothing of a new visitor, and deleting expires the cookie instead).
"""
from __future__ import annotations

import re
import secrets

from fastapi import Request, Response

from app.learning.progress import ProgressStore
from app.web.security import is_https

COOKIE_NAME = "learner"
COOKIE_MAX_AGE = 365 * 24 * 3600
LEARNER_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
NO_COOKIE_PREFIXES = ("/static/", "/vendor/", "/favicon")


def store_for(request: Request) -> ProgressStore:
    """This request's store (one connection, opened on first use; app/web/pages.py's `store`
    dependency hands it back when the request ends)."""
    current = getattr(request.state, "progress", None)
    if current is None:
        current = ProgressStore(request.app.state.progress_db)
        request.state.progress = current
    return current


def learner_id(request: Request) -> tuple[str, bool]:
    """(the learner's id, whether it is new: LearnerCookie then sets the cookie)."""
    cached = getattr(request.state, "learner", None)
    if cached:
        return cached
    value = request.cookies.get(COOKIE_NAME, "")
    result = (value, False) if LEARNER_RE.fullmatch(value) else (secrets.token_urlsafe(18), True)
    request.state.learner = result
    return result


def no_learner_cookie(request: Request) -> None:
    """This response sets no learner cookie, even for a visitor without one."""
    request.state.learner_cookie = False


def forget_learner_cookie(request: Request, response: Response) -> Response:
    """Expire the cookie: the browser forgets the id (after everything under it was deleted)."""
    no_learner_cookie(request)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=is_https(request))
    return response


class LearnerCookie:
    """ASGI middleware: give a visitor without a valid id its cookie, on any route."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith(NO_COOKIE_PREFIXES):
            return await self.app(scope, receive, send)
        request = Request(scope)

        async def send_with_cookie(message):
            if message["type"] == "http.response.start" and getattr(request.state, "learner_cookie", True):
                learner, is_new = learner_id(request)
                if is_new:
                    cookie = Response()
                    cookie.set_cookie(COOKIE_NAME, learner, max_age=COOKIE_MAX_AGE, httponly=True,
                                      samesite="lax", path="/", secure=is_https(request))
                    headers = [*message.get("headers", []), *cookie.raw_headers[-1:]]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
