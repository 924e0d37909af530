"""Widget routes: the parameter list, JSON twins, HTML fragments for htmx, and streams.

  GET /api/widgets                 every widget with its parameters and bounds
  GET /api/widgets/{name}?...      the result as JSON (params, data, figure, provenance)
  POST /api/widgets/{name}         the same, parameters in the body (JSON object or form)
  GET /widgets/{name}?...          the result fragment htmx swaps into the page
  POST /widgets/{name}             the finished fragment, parameters in a form body: widgets
                                   with a text parameter (the config reader) post their form,
                                   since a URL cannot carry long text
  GET /widgets/{name}/stream?...   Server-Sent Events: the run's new points, then the result
  GET /widgets/{name}/demo?...     a page holding just this widget
  GET /widgets/{name}/notebook?... "show the code" as a Jupyter notebook with these settings
  GET /widgets                     a gallery of every widget
  GET /api/engine                  what the engine and the cache are doing

No route here computes: results come from the cache or from an engine job awaited without
blocking. A learner's newer request for the same widget instance supersedes the older one,
a request whose client went away is cancelled, and a full queue answers 503 + Retry-After.

Stream events: `queued` {"pending"}, then `progress` {"seq", "done", "total"} with either
"figure" (a whole figure) or "extend" (new points per trace, for Plotly.extendTraces) and
maybe "layout"; it ends with `result` {"html": the result fragment, "provenance"}, or
`failed` {"message", "error_id"} / `cancelled` {"message"}.

Bad input is a ParamError, answered as a 422 by app/web/errors.py (the fragment shows it in
place instead); a failed run is a 500 whose error id is in the log with the failure.
"""
from __future__ import annotations

import asyncio
import json
import math
from typing import Any, Mapping

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from app.serving.engine import JobCancelled, JobFailed, QueueFull, Superseded
from app.web.errors import log_failure
from app.web.limits import loads_json, read_form, repeated
from app.web.pages import sidebar_context
from app.web.learner import learner_id
from app.web.views.widget import (INSTANCE_RE, check_url_text, instance_or_422, render_result, render_widget,
                             result_html)
from widgets.base import ParamError, Widget
from widgets.notebook import MEDIA_TYPE, notebook_text
from widgets.registry import all_widgets

router = APIRouter()
KEEP_ALIVE_S = 15.0  # a comment line this often while a run waits in the queue
FAILED = "The run failed on the server. The error id is in the server's log: {}"


def json_safe(value: Any) -> Any:
    """NaN and inf become None: JSON has no spelling for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def busy_json(error: QueueFull) -> JSONResponse:
    return JSONResponse(status_code=503, headers={"Retry-After": str(error.retry_after)},
                        content={"detail": f"busy, queued: {error.reason}; try again in "
                                           f"{error.retry_after} s", "retry_after": error.retry_after})


def widget_or_404(name: str) -> Widget:
    widget = all_widgets().get(name)
    if widget is None:
        raise HTTPException(404, f"no widget named {name[:64]!r}; see /api/widgets")
    return widget


def single_values(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """name -> value; a name given twice is a 422 (which one was meant?)."""
    values: dict[str, Any] = {}
    for key, value in pairs:
        if key in values:
            raise repeated(key, sum(1 for k, _ in pairs if k == key))
        values[key] = value
    return values


async def request_params(request: Request) -> dict[str, Any]:
    """A request's parameters: the query string's, then for a POST the body's (a JSON object,
    or a URL-encoded form). The body was capped by app/web/limits.py before it is read here."""
    pairs = list(request.query_params.multi_items())
    if request.method == "POST":
        if is_json(request):
            raw = await request.body()
            try:
                body = loads_json(raw)  # a key given twice is a 422, as in a query string
            except ParamError:
                raise
            except (ValueError, RecursionError):  # not JSON, not UTF-8, thousands of digits, too deep
                raise ParamError("body", f"{len(raw)} bytes", "a JSON object of parameter values",
                                 "the body is not a JSON object of parameter values") from None
            if not isinstance(body, dict):
                raise ParamError("body", type(body).__name__, "a JSON object of parameter values")
            pairs += list(body.items())
        else:
            pairs += await read_form(request)
    return single_values(pairs)


def is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


async def widget_request(name: str, request: Request) -> tuple[Widget, dict, str]:
    """(widget, canonical values, instance) of a request; 404 or ParamError."""
    widget = widget_or_404(name)
    params = await request_params(request)
    if request.method == "GET":
        check_url_text(widget, params)
    elif is_json(request):  # JSON has types: a number is a number, not a string of digits
        body_names = {p.name for p in widget.params} - set(request.query_params)
        for p in widget.params:
            if p.name in body_names and p.name in params:
                p.parse_json(params[p.name])
    return widget, widget.canonicalize(params), instance_or_422(name, params)


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
    """The engine (mode, workers, profiles, queue), the result cache (entries, bytes) and the
    start-up pre-render of cached fragments (app/web/views/prerender.py)."""
    return {"engine": request.app.state.engine.status(), "cache": request.app.state.cache.stats(),
            "prerendered": request.app.state.prerender.status()}


async def finished_item(request: Request, widget: Widget, values: dict, instance: str):
    """(item, None) with the finished item, from the cache or the run awaited (cancelled if
    the client leaves first); or (None, the response saying why there is none)."""
    jobs = request.app.state.jobs
    item = await asyncio.to_thread(jobs.cached, widget, values)
    if item is not None:
        return item, None
    learner, _ = learner_id(request)
    try:
        handle = await jobs.follow(widget, values, owner=(learner, instance))
    except QueueFull as error:
        return None, busy_json(error)
    gone = asyncio.ensure_future(wait_for_disconnect(request))
    outcome = asyncio.ensure_future(handle.result())
    try:
        await asyncio.wait({gone, outcome}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        handle.release()
    if not outcome.done():  # the client left: nobody to answer
        outcome.cancel()
        return None, JSONResponse(status_code=499, content={"detail": "the client went away"})
    try:
        return outcome.result(), None
    except Superseded:
        return None, JSONResponse(status_code=409, content={
            "detail": "superseded: a newer request for this widget instance replaced it"})
    except JobCancelled:
        return None, JSONResponse(status_code=409, content={"detail": "the run was cancelled"})
    except JobFailed as failure:
        error_id = log_failure(f"the {widget.name} run at {values} failed: {failure}", exc_info=None)
        return None, JSONResponse(status_code=500, content={"detail": FAILED.format(error_id),
                                                            "error_id": error_id})


@router.get("/api/widgets/{name}")
@router.post("/api/widgets/{name}")
async def widget_json(name: str, request: Request):
    """The JSON twin of a widget: canonical parameters, data series, figure and provenance.
    A miss waits for the run; the run is cancelled if the client leaves first."""
    widget, values, instance = await widget_request(name, request)
    item, failure = await finished_item(request, widget, values, instance)
    return failure or JSONResponse(json_safe(item))


@router.get("/widgets/{name}", response_class=HTMLResponse)
@router.post("/widgets/{name}", response_class=HTMLResponse)
async def widget_fragment(name: str, request: Request):
    """The result fragment. GET: the figure when cached, otherwise the stream to follow.
    POST (a form with long text): the finished figure, the run awaited."""
    widget = widget_or_404(name)
    try:
        widget, values, instance = await widget_request(name, request)
    except ParamError as error:  # shown in place of the result, in the widget
        instance = request.query_params.get("instance", name)
        instance = instance if INSTANCE_RE.fullmatch(instance) else name
        return await asyncio.to_thread(render_result, request, widget=widget, values=None,
                                       instance=instance, error=error, status_code=422)
    if request.method == "POST":
        item, failure = await finished_item(request, widget, values, instance)
        if failure is not None and failure.status_code != 503:
            return failure
        if failure is None:
            return await asyncio.to_thread(render_result, request, widget, values, instance, item=item)
    engine = request.app.state.engine
    if engine.pending() >= engine.settings.max_queue and not request.app.state.jobs.is_cached(widget, values):
        return await asyncio.to_thread(render_result, request, widget, values, instance, status_code=503,
                                       busy=engine.retry_after())
    return await asyncio.to_thread(render_result, request, widget, values, instance)


@router.get("/widgets/{name}/stream")
async def widget_stream(name: str, request: Request):
    """Server-Sent Events: the run's new points as they come, then the finished fragment."""
    widget, values, instance = await widget_request(name, request)
    jobs = request.app.state.jobs
    item = await asyncio.to_thread(jobs.cached, widget, values)
    handle = None
    if item is None:
        learner, _ = learner_id(request)
        try:
            handle = await jobs.follow(widget, values, owner=(learner, instance))
        except QueueFull as error:
            return busy_json(error)
    response = StreamingResponse(_events(request, jobs, widget, values, instance, item, handle),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    return response


def _sse(event: str, payload: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(json_safe(payload), separators=(',', ':'))}\n\n"


async def _final(request: Request, widget, values, instance: str, item: dict) -> str:
    html = await asyncio.to_thread(result_html, request, widget=widget, values=values,
                                   instance=instance, item=item)
    return _sse("result", {"html": html, "provenance": item["provenance"]})


async def _events(request: Request, jobs, widget, values, instance, item, handle):
    """The stream's body. Starlette cancels it when the client disconnects; `finally` then
    releases the job, which stops at its next report if nobody else follows it."""
    try:
        if handle is None:
            yield await _final(request, widget, values, instance, item)
            return
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
        except JobFailed as failure:
            error_id = log_failure(f"the {widget.name} run at {values} failed: {failure}", exc_info=None)
            yield _sse("failed", {"message": FAILED.format(error_id), "error_id": error_id})
            return
        yield await _final(request, widget, values, instance, item)
    except Exception:  # the status is sent already: say so in the stream, with the error id
        error_id = log_failure(f"the {widget.name} stream at {values} failed")
        yield _sse("failed", {"message": FAILED.format(error_id), "error_id": error_id})
    finally:
        if handle is not None:
            handle.release()


@router.get("/widgets", response_class=HTMLResponse)
def widget_gallery(request: Request):
    """Every widget, one link each."""
    return request.app.state.templates.TemplateResponse(
        request, "widget_gallery.html", {**sidebar_context(request), "widgets": list(all_widgets().values())})


@router.get("/widgets/{name}/demo", response_class=HTMLResponse)
def widget_demo(name: str, request: Request):
    """A page with just this widget (its state in the URL like any chapter)."""
    widget_or_404(name)
    html = render_widget(request, name)
    return request.app.state.templates.TemplateResponse(
        request, "widget_demo.html", {**sidebar_context(request), "widget": all_widgets()[name], "widget_html": html})


@router.get("/widgets/{name}/notebook")
async def widget_notebook(name: str, request: Request):
    """The widget's "show the code" as a Jupyter notebook, with the settings in the query string
    (validated as the widget's own routes validate them: a bad value is a 422). Never computes."""
    widget, values, _ = await widget_request(name, request)
    text = await asyncio.to_thread(notebook_text, widget, values)
    return Response(text, media_type=MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{widget.name}.ipynb"'})
