"""Limits on what one request may send, enforced before anything is read.

Every request body is capped (`Settings.max_body_bytes`, COURSE_MAX_BODY, 256 KiB by
default: a 20,000-character config, URL-encoded, fits many times over). A Content-Length over
the cap is answered 413 at once, without reading a byte of the body; a body sent without one
(chunked) is counted as it arrives and refused the moment it passes the cap. A 50 MB body so
costs neither memory nor time on the event loop.

`read_form` reads an application/x-www-form-urlencoded body (UTF-8 only, at most
MAX_FORM_FIELDS fields) for the routes that take forms. `loads_json` parses a JSON body
refusing a key given twice in one object (json.loads would keep the last one silently:
which did the sender mean?); `json_keys_once` is that check as a dependency, for routes
whose body FastAPI parses into a model.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from widgets.base import ParamError

MAX_FORM_FIELDS = 100


class BodyTooLarge(HTTPException):
    """Raised while a body is read, once it passes the cap (an HTTPException, so FastAPI's
    own body reading lets it through as the 413 it is)."""

    def __init__(self, max_bytes: int):
        super().__init__(413, f"the request body is larger than the {max_bytes:,} bytes allowed",
                         headers={"Connection": "close"})


class BodyLimit:
    """ASGI middleware capping every request body at `max_bytes`."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            too_large = BodyTooLarge(self.max_bytes)
            response = JSONResponse({"detail": too_large.detail}, status_code=413, headers=too_large.headers)
            return await response(scope, receive, send)
        received = 0

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted_receive, send)


async def read_form(request: Request) -> list[tuple[str, str]]:
    """The (name, value) pairs of a URL-encoded form body, in order; ParamError (a 422) for a
    body that is not UTF-8 or has more than MAX_FORM_FIELDS fields."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ParamError("body", f"{len(raw)} bytes", "UTF-8 form data (application/x-www-form-urlencoded)",
                         "the form is not UTF-8 text") from None
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise ParamError("body", f"{text.count('&') + 1} fields", f"at most {MAX_FORM_FIELDS} fields, "
                         f"percent-encoded UTF-8", "the form has too many fields or bad percent-encoding") from None


def repeated(key: str, count: int) -> ParamError:
    """The 422 for a name given more than once."""
    return ParamError(key[:64], f"given {count} times", "one value",
                      f"{key[:64]} is given {count} times: give it once")


def _object_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) < len(pairs):
        keys = [key for key, _ in pairs]
        key = next(k for k in keys if keys.count(k) > 1)
        raise repeated(key, keys.count(key))
    return found


def loads_json(raw: bytes | str) -> Any:
    """json.loads, with ParamError (a 422) for a key repeated in an object; ValueError (or
    RecursionError) for a body that is not JSON, as json.loads raises them."""
    return json.loads(raw, object_pairs_hook=_object_once)


async def json_keys_once(request: Request) -> None:
    """A dependency: a JSON body with a key given twice is a 422. Anything else wrong with
    the body is left to the route's own validation, which names it."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return
    try:
        loads_json(await request.body())
    except ParamError:
        raise
    except (ValueError, RecursionError):
        return
