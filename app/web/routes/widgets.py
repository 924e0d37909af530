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

Streams follow the one protocol of app/web/jobs_http.py: `queued`, `progress` (with the
figure's change: "figure", or "extend"/"replace"/"layout"), then `result` {"html": the result
fragment, "provenance"}, or `failed` / `cancelled`. A cached setting is one `result` event, so
the page opens the stream directly when a control moves: one request per move, cached or not.

Bad input is a ParamError, answered as a 422 by app/web/errors.py (the fragment shows it in
place instead); a failed run is a 500 whose error id is in the log with the failure.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from app.serving.engine import QueueFull
from app.web.jobs_http import Refused, answer, busy, event_stream, handle_result, json_safe
from app.web.limits import loads_json, read_form, repeated
from app.web.pages import sidebar_context, widget_registry
from app.web.learner import learner_id
from app.web.views.widget import (INSTANCE_RE, check_url_text, format_value, instance_or_422,
                                  remembered_event, render_result, render_widget, result_event)
from widgets.base import ParamError, Widget
from widgets.notebook import MEDIA_TYPE, notebook_text

router = APIRouter()
REPLACED = "a newer request for this widget instance replaced it"


def widget_or_404(request: Request, name: str) -> Widget:
    widget = widget_registry(request).get(name)
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


async def widget_request(widget: Widget, request: Request) -> tuple[dict, str]:
    """(canonical values, instance) of a request for `widget`; ParamError when bad."""
    params = await request_params(request)
    if request.method == "GET":
        check_url_text(widget, params)
    elif is_json(request):  # JSON has types: a number is a number, not a string of digits
        body_names = {p.name for p in widget.params} - set(request.query_params)
        for p in widget.params:
            if p.name in body_names and p.name in params:
                p.parse_json(params[p.name])
    return widget.canonicalize(params), instance_or_422(widget.name, params)


@router.get("/api/widgets")
def list_widgets(widgets: dict[str, Widget] = Depends(widget_registry)):
    """Every widget with its parameters: name, label, bounds, step, default, unit, log scale."""
    return {"widgets": [w.describe() for w in widgets.values()]}


@router.get("/api/engine")
def engine_status(request: Request):
    """The engine (mode, workers, profiles, queue), the result cache (entries, bytes), the
    start-up pre-render of cached fragments (app/web/views/prerender.py), and which of the
    machine's web processes answered (Settings.web_processes): each has its own engine."""
    return {"engine": request.app.state.engine.status(), "cache": request.app.state.cache.stats(),
            "prerendered": request.app.state.prerender.status(),
            "process": {"pid": os.getpid(), "web_processes": request.app.state.settings.web_processes}}


async def finished_item(request: Request, widget: Widget, values: dict, instance: str) -> dict:
    """The finished item, from the cache or the run awaited (cancelled if the client leaves
    first); Refused with the response that says why there is none (app/web/jobs_http.py)."""
    jobs = request.app.state.jobs
    item = await asyncio.to_thread(jobs.cached, widget, values)
    if item is not None:
        return item
    learner, _ = learner_id(request)
    try:
        handle = await jobs.follow(widget, values, owner=(learner, instance))
    except QueueFull as error:
        raise Refused(busy(error)) from None
    return await answer(request, handle_result(handle), what=f"the {widget.name} run at {values}",
                        replaced=REPLACED)


@router.get("/api/widgets/{name}")
@router.post("/api/widgets/{name}")
async def widget_json(name: str, request: Request):
    """The JSON twin of a widget: canonical parameters, data series, figure and provenance.
    A miss waits for the run; the run is cancelled if the client leaves first."""
    widget = widget_or_404(request, name)
    values, instance = await widget_request(widget, request)
    try:
        item = await finished_item(request, widget, values, instance)
    except Refused as refused:
        return refused.response
    return JSONResponse(json_safe(item))


@router.get("/widgets/{name}", response_class=HTMLResponse)
@router.post("/widgets/{name}", response_class=HTMLResponse)
async def widget_fragment(name: str, request: Request):
    """The result fragment (for links, forms without JavaScript, and widgets that post text).
    GET: the figure when cached, otherwise the stream to follow.
    POST (a form with long text): the finished figure, the run awaited."""
    widget = widget_or_404(request, name)
    try:
        values, instance = await widget_request(widget, request)
    except ParamError as error:  # shown in place of the result, in the widget
        instance = request.query_params.get("instance", name)
        instance = instance if INSTANCE_RE.fullmatch(instance) else name
        return await asyncio.to_thread(render_result, request, widget=widget, values=None,
                                       instance=instance, error=error, status_code=422)
    if request.method == "POST":
        try:
            item = await finished_item(request, widget, values, instance)
            return await asyncio.to_thread(render_result, request, widget, values, instance, item=item)
        except Refused as refused:
            if refused.response.status_code != 503:
                return refused.response
    engine = request.app.state.engine
    if engine.pending() >= engine.settings.max_queue and not request.app.state.jobs.is_cached(widget, values):
        return await asyncio.to_thread(render_result, request, widget, values, instance, status_code=503,
                                       busy=engine.retry_after())
    return await asyncio.to_thread(render_result, request, widget, values, instance)


@router.get("/widgets/{name}/stream")
async def widget_stream(name: str, request: Request):
    """Server-Sent Events: the run's new points as they come, then the finished fragment; a
    cached setting answers with the fragment at once. What a moved control asks for."""
    widget = widget_or_404(request, name)
    values, instance = await widget_request(widget, request)
    jobs, templates = request.app.state.jobs, request.app.state.templates
    what = f"the {widget.name} run at {values}"
    ready = await asyncio.to_thread(remembered_event, jobs, widget, values, instance)
    if ready is not None:  # the most common move of all: a cached setting, its event kept

        async def as_kept(_) -> str:
            return ready

        return event_stream(request, None, as_kept, value=ready, what=what)
    item = await asyncio.to_thread(jobs.cached, widget, values)
    handle = lead = None
    if item is None:
        learner, _ = learner_id(request)
        try:
            handle = await jobs.follow(widget, values, owner=(learner, instance))
        except QueueFull as error:
            return busy(error)
        lead = await asyncio.to_thread(nearest_lead, jobs, widget, values)

    async def finish(item: dict) -> str:
        return await asyncio.to_thread(result_event, templates, jobs, widget, values, instance, item)

    return event_stream(request, handle, finish, value=item, what=what, pending=jobs.engine.pending, lead=lead)


def nearest_lead(jobs, widget: Widget, values: dict) -> dict | None:
    """The `nearest` event: the closest ready setting's figure, and a label naming how it differs."""
    found = jobs.nearest_cached(widget, values)
    if found is None:
        return None
    near, item = found
    differs = [f"{p.label} {format_value(p, near[p.name])}" for p in widget.params
               if near.get(p.name) != values.get(p.name)]
    return {"figure": item["figure"], "values": near,
            "label": f"Showing the nearest ready setting ({', '.join(differs)}) while yours trains"}


@router.get("/widgets", response_class=HTMLResponse)
def widget_gallery(request: Request, widgets: dict[str, Widget] = Depends(widget_registry)):
    """Every widget, one link each."""
    return request.app.state.templates.TemplateResponse(
        request, "widget_gallery.html", {**sidebar_context(request), "widgets": list(widgets.values())})


@router.get("/widgets/{name}/demo", response_class=HTMLResponse)
def widget_demo(name: str, request: Request):
    """A page with just this widget (its state in the URL like any chapter)."""
    widget = widget_or_404(request, name)
    html = render_widget(request, name)
    return request.app.state.templates.TemplateResponse(
        request, "widget_demo.html", {**sidebar_context(request), "widget": widget, "widget_html": html})


@router.get("/widgets/{name}/notebook")
async def widget_notebook(name: str, request: Request):
    """The widget's "show the code" as a Jupyter notebook, with the settings in the query string
    (validated as the widget's own routes validate them: a bad value is a 422). Never computes."""
    widget = widget_or_404(request, name)
    values, _ = await widget_request(widget, request)
    text = await asyncio.to_thread(notebook_text, widget, values)
    return Response(text, media_type=MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{widget.name}.ipynb"'})
