"""Engine jobs over HTTP: how a route awaits a job, answers its outcome, and streams it.

Awaiting (a JSON answer):

    try:
        item = await answer(request, handle.result(), what="the warmup run", replaced="...")
    except Refused as refused:
        return refused.response

`answer` awaits the work unless the client leaves first (the work is then cancelled, which
releases its job), and turns the outcome into a status code, each with {"detail": ...}:

    QueueFull (and EngineUnavailable)  503 + Retry-After, {"detail", "retry_after"}
    Superseded                         409: a newer request for the same slot replaced it
    JobCancelled                       409
    JobFailed                          500 {"detail", "error_id"}: the failure is logged with the id
    the client went away               499

Streaming (text/event-stream): `event_stream(request, handle, finish)`. One protocol for every
job; each event is one `event:` line and one `data:` line of JSON (NaN and infinities become
null: JSON has no spelling for them, and a diverged run is full of them):

    queued     {"pending": n}          the job is submitted; n jobs wait in this web process
    nearest    {"figure", "label"}     optional, right after queued: the figure of the nearest
                                       setting that is ready (cached), shown while this one trains
    progress   {"done", "total", ...}  what the job reported, as it comes (widgets add "seq" and
                                       the figure's change: "figure", or "extend"/"replace"/"layout",
                                       see app/serving/worker/figure_delta.py)
    result     {...}                   the end: whatever the route's `finish(value)` returns
                                       (widgets: {"html": the result fragment, "provenance"})
    failed     {"message", "error_id"} the job or the stream failed on the server; "error_id"
                                       is in the log (absent when the message says it all)
    cancelled  {"message"}             a newer request replaced the job, or it was cancelled

Nothing follows result, failed or cancelled. While nothing happens a comment line
(": still queued") goes every KEEP_ALIVE_S seconds, so proxies keep the connection open. A
request refused before the stream starts is an ordinary response: 503 + Retry-After when the
queue is full, 422 for a bad parameter (app/web/errors.py), 404, 409.

A cached result is a stream of one event: `event_stream(request, None, finish, value=item)`.

The client's reader is static/stream.js (`CourseStream.read`), used by static/course.js.
"""
from __future__ import annotations

import asyncio
import json
import math
from typing import Any, AsyncIterator, Awaitable, Callable

from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse

from app.serving.engine import Handle, JobCancelled, JobFailed, QueueFull, Superseded
from app.web.errors import log_failure

KEEP_ALIVE_S = 15.0
FAILED = "The run failed on the server. The error id is in the server's log: {}"
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class Refused(Exception):
    """A job's outcome that is not its value, as the response that says so."""

    def __init__(self, response: JSONResponse):
        super().__init__(response.status_code)
        self.response = response


class StreamFailed(Exception):
    """Raised by a stream's `finish`: the job ended, but with nothing to show (its message)."""


# --- encoding ----------------------------------------------------------------------------------
def json_safe(value: Any) -> Any:
    """NaN and inf become None: JSON has no spelling for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def sse(event: str, payload: dict) -> str:
    """One Server-Sent Event whose data is `payload` as strict JSON."""
    return f"event: {event}\ndata: {json.dumps(json_safe(payload), separators=(',', ':'), allow_nan=False)}\n\n"


# --- outcomes ----------------------------------------------------------------------------------
def busy(error: QueueFull) -> JSONResponse:
    return JSONResponse(status_code=503, headers={"Retry-After": str(error.retry_after)},
                        content={"detail": f"busy, queued: {error.reason}; try again in "
                                           f"{error.retry_after} s", "retry_after": error.retry_after})


def refusal(error: BaseException, what: str, replaced: str) -> JSONResponse:
    """The response for a job that ended without a value. `what` names the job in the log
    ("the warmup run at {...}"); `replaced` says what superseded it ("a newer request ...")."""
    if isinstance(error, QueueFull):
        return busy(error)
    if isinstance(error, Superseded):
        return JSONResponse(status_code=409, content={"detail": f"superseded: {replaced}"})
    if isinstance(error, JobCancelled):
        return JSONResponse(status_code=409, content={"detail": "the run was cancelled"})
    if isinstance(error, JobFailed):
        error_id = log_failure(f"{what} failed: {error}", exc_info=None)
        return JSONResponse(status_code=500, content={"detail": FAILED.format(error_id), "error_id": error_id})
    raise error


def failed_event(error: BaseException, what: str) -> str:
    """The last event of a stream whose job ended without a value."""
    if isinstance(error, Superseded):
        return sse("cancelled", {"message": "a newer setting replaced this run"})
    if isinstance(error, JobCancelled):
        return sse("cancelled", {"message": "the run was cancelled"})
    if isinstance(error, StreamFailed):
        return sse("failed", {"message": str(error)})
    error_id = log_failure(f"{what} failed: {error}", exc_info=None if isinstance(error, JobFailed) else True)
    return sse("failed", {"message": FAILED.format(error_id), "error_id": error_id})


# --- awaiting ----------------------------------------------------------------------------------
async def wait_for_disconnect(request: Request) -> None:
    """Returns when the client has gone (uvicorn reports it as soon as the socket closes)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def answer(request: Request, work: Awaitable, what: str, replaced: str) -> Any:
    """work's value; Refused with the response when it ends otherwise (see the module
    docstring) or when the client leaves first (499; the work is cancelled)."""
    gone = asyncio.ensure_future(wait_for_disconnect(request))
    outcome = asyncio.ensure_future(work)
    try:
        await asyncio.wait({gone, outcome}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        outcome.cancel()
        raise
    finally:
        gone.cancel()
    if not outcome.done():  # the client left: nobody to answer
        outcome.cancel()
        raise Refused(JSONResponse(status_code=499, content={"detail": "the client went away"}))
    try:
        return outcome.result()
    except (QueueFull, JobCancelled, JobFailed) as error:
        raise Refused(refusal(error, what, replaced)) from None


async def handle_result(handle: Handle) -> Any:
    """The job's value; the handle is released however it ends (awaited through `answer`, a
    client that leaves cancels this and so releases the job)."""
    try:
        return await handle.result()
    finally:
        handle.release()


# --- streaming ---------------------------------------------------------------------------------
Finish = Callable[[Any], Awaitable[dict]]


def event_stream(request: Request, handle: Handle | None, finish: Finish, *, what: str,
                 value: Any = None, pending: Callable[[], int] = lambda: 0,
                 shape: Callable[[dict], dict | None] = lambda event: event,
                 lead: dict | None = None) -> StreamingResponse:
    """The job's events as Server-Sent Events (the protocol in the module docstring).

    handle: the job followed (None: `value` is already there, a cached result); finish(value)
    -> the `result` event's payload, or the whole event already made (a str; raise
    StreamFailed for a `failed` event instead);
    pending() -> the queue depth the `queued` event reports; shape(event) -> the `progress`
    payload, or None to skip the event; lead: a `nearest` event's payload, sent after `queued`. The handle is released when the stream ends or the
    client leaves (Starlette then cancels the body), so a job nobody follows stops."""
    return StreamingResponse(_events(handle, finish, what, value, pending, shape, lead),
                             media_type="text/event-stream", headers=STREAM_HEADERS)


async def _events(handle, finish, what, value, pending, shape, lead) -> AsyncIterator[str]:
    try:
        if handle is not None:
            yield sse("queued", {"pending": pending()})
            if lead is not None:
                yield sse("nearest", lead)
            index = 0
            while True:
                batch, index = handle.take(index)
                for event in batch:
                    payload = shape(event)
                    if payload is not None:
                        yield sse("progress", payload)
                if handle.over:
                    break
                if not await handle.wait(KEEP_ALIVE_S):
                    yield ": still queued\n\n"
            value = await handle.result()
        result = await finish(value)
        yield result if isinstance(result, str) else sse("result", result)  # str: the event, made already
    except asyncio.CancelledError:
        raise
    except Exception as error:  # the status is sent already: the stream says what happened
        yield failed_event(error, what)
    finally:
        if handle is not None:
            handle.release()
