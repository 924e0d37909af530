"""Widget routes: the parameter list, JSON twins, HTML fragments for htmx, and streams.

  GET /api/widgets                 every widget with its parameters and bounds
  GET /api/widgets/{name}?...      the result as JSON (params, data, figure, provenance)
  GET /widgets/{name}?...          the result fragment htmx swaps into the page
  GET /widgets/{name}/stream?...   Server-Sent Events: growing figures, then the result
  GET /widgets/{name}/demo?...     a page holding just this widget
  GET /widgets                     a gallery of every widget
"""
from __future__ import annotations

import asyncio
import json
import math
from typing import Any, Mapping

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from app.pages import sidebar_context
from app.widget_view import render_result, render_widget, resolve
from widgets.base import ParamError
from widgets.registry import all_widgets

router = APIRouter()
POLL_SECONDS = 0.03  # how often a stream looks for new points (they come every few steps)


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


def params_or_422(name: str, query: Mapping[str, str]):
    """(widget, canonical values), or an HTTPException/JSONResponse for bad input."""
    try:
        return resolve(name, query)
    except KeyError:
        raise HTTPException(404, f"no widget named {name!r}; see /api/widgets") from None


@router.get("/api/widgets")
def list_widgets():
    """Every widget with its parameters: name, label, bounds, step, default, unit, log scale."""
    return {"widgets": [w.describe() for w in all_widgets().values()]}


@router.get("/api/widgets/{name}")
def widget_json(name: str, request: Request):
    """The JSON twin of a widget: canonical parameters, data series, figure and provenance."""
    try:
        widget, values = params_or_422(name, request.query_params)
    except ParamError as error:
        return unprocessable(error)
    try:
        item = request.app.state.jobs.run_blocking(widget, values)
    except (RuntimeError, TimeoutError) as exc:
        raise HTTPException(500, f"{name} failed: {exc}") from None
    return JSONResponse(json_safe(item))


@router.get("/widgets/{name}", response_class=HTMLResponse)
def widget_fragment(name: str, request: Request):
    """The result fragment: the figure when cached, otherwise the stream to follow."""
    try:
        widget, values = params_or_422(name, request.query_params)
    except ParamError as error:
        instance = request.query_params.get("instance", name)
        return render_result(request, widget=all_widgets()[name], values=None, instance=instance,
                             error=error, status_code=422)
    instance = request.query_params.get("instance", name)
    return render_result(request, widget, values, instance)


@router.get("/widgets/{name}/stream")
async def widget_stream(name: str, request: Request):
    """Server-Sent Events: 'progress' events with the growing figure, then 'result' or 'error'."""
    try:
        widget, values = params_or_422(name, request.query_params)
    except ParamError as error:
        return unprocessable(error)
    jobs = request.app.state.jobs
    return StreamingResponse(_events(request, jobs, widget, values), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _sse(event: str, payload: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(json_safe(payload), separators=(',', ':'))}\n\n"


async def _events(request: Request, jobs, widget, values):
    item = jobs.cached(widget, values)
    if item is not None:
        yield _sse("result", {"figure": item["figure"], "provenance": item["provenance"]})
        return
    job = jobs.subscribe(widget, values)
    seen = -1
    try:
        while True:
            if job.version != seen:
                seen = job.version
                if job.finished.is_set():
                    if job.error:
                        yield _sse("error", {"message": job.error})
                    else:
                        yield _sse("result", {"figure": job.result["figure"],
                                              "provenance": job.result["provenance"]})
                    return
                if job.figure is not None:
                    yield _sse("progress", {"figure": job.figure, "done": job.done, "total": job.total})
            if await request.is_disconnected():
                return
            await asyncio.sleep(POLL_SECONDS)
    finally:
        jobs.unsubscribe(job)


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
