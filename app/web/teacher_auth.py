"""Who may teach a class, and the checks on every POST about classes (issue 24).

A teacher link carries the class's token once: /teach/{class_id}?token=... . That first
request compares it in constant time (ClassRecords.teacher_token_ok compares SHA-256 digests
with hmac.compare_digest), puts it in a cookie (HttpOnly, SameSite=Strict, Path=/teach/{id},
Secure over HTTPS) and redirects (303) to the clean URL: the token leaves the address bar,
the history, Referer headers and every page. uvicorn's access log would record that first
URL, so `RedactTokens` (a filter on the uvicorn.access and uvicorn.error loggers, installed
by create_app) writes it as token=[redacted]. The command line prints the link once.

Every teacher POST needs
  - the cookie's token, valid for the class (else 403, the same for a class that does not exist);
  - an Origin (or, without one, a Referer) naming this server (a cross-site form is refused);
  - the form's `csrf` field equal to HMAC-SHA256(token, "csrf:" + class_id): a page of another
    site cannot compute it, and it changes when the token does.
A learner's POSTs about classes (join, vote, leave) need the same-origin check; the learner
cookie is SameSite=Lax, so another site's form never carries it anyway.

The operator (COURSE_TEACHER_TOKEN set) signs in through a form, POST /teach/login: the token
travels in the body, never in a URL; their cookie is Path=/teach, with its own CSRF value.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Response

from app.learning.classes import ClassInfo
from app.learning.progress import ProgressStore
from app.web.security import is_https

TEACHER_COOKIE = "teacher"
OPERATOR_COOKIE = "operator"
COOKIE_MAX_AGE = 30 * 24 * 3600  # a term's lessons; a new token (python -m app class token) ends it
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")
FORBIDDEN = "this page is for the class's teacher: open the teacher link you were given"


def class_path(class_id: str) -> str:
    return f"/teach/{class_id}"


def csrf_value(token: str, scope: str) -> str:
    """The form value that proves a POST came from a page this server gave the token holder."""
    return hmac.new(token.encode(), f"csrf:{scope}".encode(), hashlib.sha256).hexdigest()


def set_secret_cookie(request: Request, response: Response, name: str, token: str, path: str) -> Response:
    response.set_cookie(name, token, max_age=COOKIE_MAX_AGE, path=path, httponly=True, samesite="strict",
                        secure=is_https(request))
    response.headers["Cache-Control"] = "no-store"
    return response


def forget_secret_cookie(request: Request, response: Response, name: str, path: str) -> Response:
    response.delete_cookie(name, path=path, httponly=True, samesite="strict", secure=is_https(request))
    return response


def teacher_token(request: Request, store: ProgressStore, class_id: str) -> tuple[ClassInfo, str]:
    """(the class, the teacher's token) from the cookie; 403 unless it is the class's token."""
    token = request.cookies.get(TEACHER_COOKIE, "")
    if not TOKEN_RE.fullmatch(token) or not store.teacher_token_ok(class_id, token):
        raise HTTPException(403, FORBIDDEN)
    info = store.class_info(class_id)
    if info is None:  # deleted between the two reads
        raise HTTPException(403, FORBIDDEN)
    return info, token


def operator_ok(request: Request) -> str | None:
    """The operator's token from the cookie when it is COURSE_TEACHER_TOKEN, else None."""
    expected = request.app.state.settings.teacher_token
    given = request.cookies.get(OPERATOR_COOKIE, "")
    if not expected or not given:
        return None
    return given if hmac.compare_digest(given.encode(), expected.encode()) else None


def same_origin(request: Request, required: bool) -> None:
    """403 when the Origin (or Referer) header names another site; when `required`, also when
    neither is sent (every browser sends Origin with a POST)."""
    claimed = request.headers.get("origin") or request.headers.get("referer") or ""
    if not claimed:
        if required:
            raise HTTPException(403, "this form must be sent from the course's own page (no Origin header)")
        return
    hosts = {request.headers.get("host", "")}
    if request.app.state.settings.trust_proxy and request.headers.get("x-forwarded-host"):
        hosts.add(request.headers["x-forwarded-host"].split(",")[0].strip())
    if claimed == "null" or urlsplit(claimed).netloc not in hosts:
        raise HTTPException(403, "this form was sent from another site")


def check_csrf(form: list[tuple[str, str]], token: str, scope: str) -> None:
    sent = [value for key, value in form if key == "csrf"]
    if len(sent) != 1 or not hmac.compare_digest(sent[0].encode(), csrf_value(token, scope).encode()):
        raise HTTPException(403, "the form is stale or not from this course's page: reload the page and try again")


class RedactTokens(logging.Filter):
    """Writes `token=...` in log records as `token=[redacted]` (the first visit's access line)."""

    PATTERN = re.compile(r"(token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._clean(v) for k, v in record.args.items()}
        record.msg = self._clean(record.msg)
        return True

    def _clean(self, value):
        return self.PATTERN.sub(r"\1[redacted]", value) if isinstance(value, str) else value


def install_log_redaction() -> None:
    """Once per process: every logger that writes request lines redacts tokens."""
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


HTML_MESSAGE = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}},
                            "text/html": {"schema": {"type": "string"}}}}
TEACHER_RESPONSES = {  # what the class routes answer besides 200, for /openapi.json
    303: {"description": "Done: back to the page (See Other)"},
    403: {"description": "Not the class's teacher (or not the operator), or not from this site", **HTML_MESSAGE},
    404: {"description": "No such class, or the operator's page is off (COURSE_TEACHER_TOKEN empty)",
          **HTML_MESSAGE},
    409: {"description": "Not possible now (the poll closed)", **HTML_MESSAGE},
    429: {"description": "Too many tries: wait Retry-After seconds",
          "headers": {"Retry-After": {"schema": {"type": "integer"}}}, **HTML_MESSAGE}}
