"""Widget routes: the parameter list, JSON twins, HTML fragments for htmx, and streams.

  GET /api/widgets                 every widget with its parameters and bounds
  GET /api/widgets/{name}?...      the result as JSON (params, data, figure, provenance)
  GET /widgets/{name}?...          the result fragment htmx swaps into the page
  GET /widgets/{name}/stream?...   Server-Sent Events: the run's new points, then the result
  GET /widgets/{name}/demo?...     a page holding just this widget
  GET /widgets                     a gallery of every widget
  GET /api/engine                  what the engine and the cache are doing

No route here computes: results come from the cache or from an engine job awaited without
blocking. A learner's newer request for the same widget instance supersedes the older one,
a request whose client went away is cancelled, and a full queue answers 503 + Retry-After.

Stream events: `queued` {"pending"}, then `progress` {"seq", "done", "total"} with either
"figure" (a whole figure) or "extend" (new points per trace, for Plotly.extendTraces) and
maybe "layout"; it ends with `result` {"html": the result fragment, "provenance"}, or
`failed` / `cancelled` {"message"}.
"""
from __future__ import annotations

import asyncio
import json
import math
from typing import Any, Mapping

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from app.engine import JobCancelled, JobFailed, QueueFull, Superseded
from app.pages import sidebar_context
from app.progress import learner_id, set_learner_cookie
from app.widget_view import INSTANCE_RE, instance_or_422, render_result, render_widget, resolve, result_html
from widgets.base import ParamError
from widgets.registry import all_widgets

router = APIRouter()
KEEP_ALIVE_S = 15.0  # a comment line this often while a run waits in the queue
FAILED = "The run failed on the server (the error is in the server's log)."


def json_safe(value: Any) -> Any:
    """NaN and inf become None: JSON has no spelling for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def unprocessable(error: ParamError) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": [
        {"loc": ["query", error.field], "msg": error.message, "type": "value_error",
         "input": error.as_dict()["value"], "allowed": error.allowed}]})


def busy_json(error: QueueFull) -> JSONResponse:
    return JSONResponse(status_code=503, headers={"Retry-After": str(error.retry_after)},
                        content={"detail": f"busy, queued: {error.reason}; try again in "
                                           f"{error.retry_after} s", "retry_after": error.retry_after})


def resolve_or_404(name: str, query: Mapping[str, str]):
    """(widget, canonical values); HTTPException 404 for an unknown widget, ParamError for bad values."""
    try:
        return resolve(name, query)
    except KeyError:
        raise HTTPException(404, f"no widget named {name!r}; see /api/widgets") from None


async def wait_for_disconnect(request: Request) -> None:
    """Returns when the client has gone (uvicorn reports it as soon as the socket closes)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


@router.get("/api/widgets")
def list_widgets():
    """Every widget with its parameters: name, label, bounds, step, default, unit, log scale."""
    return {"widgets": [w.describe() for w in all_widgets().values()]}


@router.get("/api/engine")
def engine_status(request: Request):
    """The engine (mode, workers, profiles, queue) and the result cache (entries, bytes)."""
    return {"engine": request.app.state.engine.status(), "cache": request.app.state.cache.stats()}


@router.get("/api/widgets/{name}")
async def widget_json(name: str, request: Request):
    """The JSON twin of a widget: canonical parameters, data series, figure and provenance.
    A miss waits for the run; the run is cancelled if the client leaves first."""
    try:
        widget, values = resolve_or_404(name, request.query_params)
        instance = instance_or_422(name, request.query_params)
    except ParamError as error:
        return unprocessable(error)
    jobs = request.app.state.jobs
    item = await asyncio.to_thread(jobs.cached, widget, values)
    if item is None:
        learner, _ = learner_id(request)
        try:
            handle = await jobs.follow(widget, values, owner=(learner, instance))
        except QueueFull as error:
            return set_learner_cookie(request, busy_json(error))
        gone = asyncio.ensure_future(wait_for_disconnect(request))
        outcome = asyncio.ensure_future(handle.result())
        try:
            await asyncio.wait({gone, outcome}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            handle.release()
        if not outcome.done():  # the client left: nobody to answer
            outcome.cancel()
            return JSONResponse(status_code=499, content={"detail": "the client went away"})
        try:
            item = outcome.result()
        except Superseded:
            return JSONResponse(status_code=409, content={
                "detail": "superseded: a newer request for this widget instance replaced it"})
        except JobCancelled:
            return JSONResponse(status_code=409, content={"detail": "the run was cancelled"})
        except JobFailed:
            raise HTTPException(500, f"{name}: {FAILED}") from None
    return set_learner_cookie(request, JSONResponse(json_safe(item)))


@router.get("/widgets/{name}", response_class=HTMLResponse)
def widget_fragment(name: str, request: Request):
    """The result fragment: the figure when cached, otherwise the stream to follow."""
    try:
        widget, values = resolve_or_404(name, request.query_params)
        instance = instance_or_422(name, request.query_params)
    except ParamError as error:
        instance = request.query_params.get("instance", name)
        instance = instance if INSTANCE_RE.fullmatch(instance) else name
        return render_result(request, widget=all_widgets()[name], values=None, instance=instance,
                             error=error, status_code=422)
    engine = request.app.state.engine
    if engine.pending() >= engine.settings.max_queue and not request.app.state.jobs.is_cached(widget, values):
        return render_result(request, widget, values, instance, status_code=503, busy=engine.retry_after())
    return render_result(request, widget, values, instance)


@router.get("/widgets/{name}/stream")
async def widget_stream(name: str, request: Request):
    """Server-Sent Events: the run's new points as they come, then the finished fragment."""
    try:
        widget, values = resolve_or_404(name, request.query_params)
        instance = instance_or_422(name, request.query_params)
    except ParamError as error:
        return unprocessable(error)
    jobs = request.app.state.jobs
    item = await asyncio.to_thread(jobs.cached, widget, values)
    handle = None
    if item is None:
        learner, _ = learner_id(request)
        try:
            handle = await jobs.follow(widget, values, owner=(learner, instance))
        except QueueFull as error:
            return set_learner_cookie(request, busy_json(error))
    response = StreamingResponse(_events(request, jobs, widget, values, instance, item, handle),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    return set_learner_cookie(request, response)


def _sse(event: str, payload: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(json_safe(payload), separators=(',', ':'))}\n\n"


async def _final(request: Request, widget, values, instance: str, item: dict) -> str:
    html = await asyncio.to_thread(result_html, request, widget=widget, values=values,
                                   instance=instance, item=item)
    return _sse("result", {"html": html, "provenance": item["provenance"]})


async def _events(request: Request, jobs, widget, values, instance, item, handle):
    """The stream's body. Starlette cancels it when the client disconnects; `finally` then
    releases the job, which stops at its next report if nobody else follows it."""
    if handle is None:
        yield await _final(request, widget, values, instance, item)
        return
    try:
        yield _sse("queued", {"pending": jobs.engine.pending()})
        index = 0
        while True:
            batch, index = handle.take(index)
            for event in batch:
                yield _sse("progress", event)
            if handle.over:
                break
            if not await handle.wait(KEEP_ALIVE_S):
                yield ": still queued\n\n"
        try:
            item = await handle.result()
        except Superseded:
            yield _sse("cancelled", {"message": "a newer setting replaced this run"})
            return
        except JobCancelled:
            yield _sse("cancelled", {"message": "the run was cancelled"})
            return
        except JobFailed:
            yield _sse("failed", {"message": FAILED})
            return
        yield await _final(request, widget, values, instance, item)
    finally:
        handle.release()


@router.get("/widgets", response_class=HTMLResponse)
def widget_gallery(request: Request):
    """Every widget, one link each."""
    return request.app.state.templates.TemplateResponse(
        request, "widget_gallery.html", {**sidebar_context(request), "widgets": list(all_widgets().values())})


@router.get("/widgets/{name}/demo", response_class=HTMLResponse)
def widget_demo(name: str, request: Request):
    """A page with just this widget (its state in the URL like any chapter)."""
    if name not in all_widgets():
        raise HTTPException(404, f"no widget named {name!r}")
    try:
        html = render_widget(request, name)
    except ParamError as error:
        return unprocessable(error)
    return request.app.state.templates.TemplateResponse(
        request, "widget_demo.html", {**sidebar_context(request), "widget": all_widgets()[name], "widget_html": html})
