"""Turns a widget into HTML: the form of controls, the chart, and the result area.

A widget placed in a page keeps its state in the page's URL as
`?<instance>.<param>=value`, so a link reopens the page with those values.
The result area holds the finished figure when it is cached, or the address of
the stream that will compute and grow it: rendering a page never computes.
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from widgets.base import Param, ParamError, Widget


def format_value(param: Param, value: Any) -> str:
    if param.kind == "float":
        return f"{value:.3g}"
    if param.kind == "bool":
        return "on" if value else "off"
    return str(value)


def control(param: Param, value: Any) -> dict:
    """What the template needs to draw one control (log sliders move in log10 space)."""
    info = {"p": param, "value": value, "text": format_value(param, value)}
    if param.kind in ("float", "int"):
        if param.log:
            info.update(slider_min=math.log10(param.min), slider_max=math.log10(param.max),
                        slider_step=param.step or 0.01, slider_value=math.log10(value))
        else:
            info.update(slider_min=param.min, slider_max=param.max,
                        slider_step=param.step or (1 if param.kind == "int" else "any"), slider_value=value)
    return info


def query_string(values: dict, **extra) -> str:
    encoded = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in values.items()}
    return urlencode({**extra, **encoded})


def _page_values(widget: Widget, overrides: Mapping[str, Any], query: Mapping[str, str],
                 instance: str) -> tuple[dict, list[str]]:
    """Directive values, then the page URL's `<instance>.<param>` values; bad URL values are dropped."""
    values = widget.canonicalize(overrides)
    notes = []
    prefix = f"{instance}."
    from_url = {k[len(prefix):]: v for k, v in query.items() if k.startswith(prefix)}
    if from_url:
        try:
            check_url_text(widget, from_url)
            values = widget.canonicalize({**values, **from_url})
        except ParamError as error:
            notes.append(f"The link's value was ignored: {error.message}")
    return values, notes


def render_widget(request: Request, name: str, overrides: Mapping[str, Any] | None = None,
                  instance: str | None = None) -> Markup:
    """HTML for one widget placed in a page.

    name: a registered widget name; overrides: the directive's starting parameters;
    instance: a page-unique id (defaults to the name). Values in the page's query
    string (prefixed "<instance>.") win over the overrides, so links keep state.
    Raises KeyError for an unknown widget and ParamError for a bad directive value.
    """
    state = request.app.state
    widget = state.widgets[name]
    instance = instance or name
    values, notes = _page_values(widget, overrides or {}, request.query_params, instance)
    view = view_key("widget", instance, notes)
    html = state.jobs.remembered(widget, values, view) or state.jobs.remembered_pending(widget, values, view)
    if html is None:
        result = result_context(state.jobs, widget, values, instance)
        html = state.templates.get_template("_widget.html").render(
            widget=widget, instance=instance, notes=notes, url_text_max=URL_TEXT_MAX,
            at_defaults=values == widget.defaults(),
            controls=[control(p, values[p.name]) for p in widget.params if not p.advanced],
            advanced=[control(p, values[p.name]) for p in widget.params if p.advanced],
            result=result)
        if result["item"] is not None:  # kept while the shared cache holds the result
            state.jobs.remember(widget, values, view, html)
        elif not any(key.startswith(f"{instance}.") for key in request.query_params):
            # a placement as the course wrote it, waiting for its run (a server that did not
            # precompute): kept until the run is done. Not a link's own values: any visitor
            # could fill the memo with those
            state.jobs.remember_pending(widget, values, view, html)
    return Markup(html)


def view_key(kind: str, instance: str, notes=()) -> str:
    """What a rendering of a run's result depends on besides the run: which fragment, the
    widget instance its ids are made of, and any notes shown with it."""
    return "\0".join([kind, instance, *notes])


INSTANCE_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The longest text a URL may carry: uvicorn refuses a request head over 16 KiB, and a
# character can take 12 bytes percent-encoded. Longer text goes in a POST body.
URL_TEXT_MAX = 1000


def instance_or_422(name: str, query: Mapping[str, Any]) -> str:
    """The page-unique widget instance a request is for (its name when not given)."""
    instance = query.get("instance") or name
    if not isinstance(instance, str) or not INSTANCE_RE.fullmatch(instance):
        shown = instance if isinstance(instance, str) else repr(instance)
        raise ParamError("instance", shown[:64], "1 to 64 letters, digits, '-' or '_'")
    return instance


def check_url_text(widget: Widget, query: Mapping[str, Any]) -> None:
    """A text parameter in a URL is at most URL_TEXT_MAX characters (POST longer text)."""
    for p in widget.params:
        value = query.get(p.name)
        if p.kind == "text" and isinstance(value, str) and len(value) > URL_TEXT_MAX:
            raise ParamError(p.name, value[:40] + "...", f"at most {URL_TEXT_MAX} characters in a URL; "
                             f"POST up to {p.max_length} in the body",
                             f"{p.name} is {len(value)} characters long: a URL carries at most "
                             f"{URL_TEXT_MAX}; send longer text (up to {p.max_length}) in a POST body")


def json_url(name: str, values: Mapping[str, Any]) -> str:
    """The address of a run's JSON twin, /api/widgets/{name}?{values}."""
    query = query_string(values)
    return f"/api/widgets/{name}" + (f"?{query}" if query else "")


def result_context(jobs, widget: Widget, values: dict | None, instance: str,
                   error: ParamError | None = None, item: dict | None = None,
                   busy: int | None = None) -> dict:
    """What _widget_result.html needs. Never computes: the finished item when it is cached
    in `jobs` (or given), otherwise the address of the stream that will compute and grow it;
    `busy` (seconds) when the queue is full."""
    context = {"widget": widget, "instance": instance, "error": error, "item": None,
               "stream_url": None, "busy": busy, "findings": [], "summary": [], "at_defaults": True}
    if values is None:
        return context
    context["json_url"] = json_url(widget.name, values)
    context["notebook_url"] = f"/widgets/{widget.name}/notebook?{query_string(values)}"
    if item is None and busy is None:
        item = jobs.cached(widget, values)
    if item is not None:
        context.update(item=item, tables=widget.tables(values, item["data"]), code=widget.code(values),
                       findings=widget.findings(values, item["data"]), summary=widget.summary(values, item["data"]),
                       at_defaults=values == widget.defaults())
    elif busy is None:
        context["stream_url"] = f"/widgets/{widget.name}/stream?{query_string(values, instance=instance)}"
    return context


def result_html(templates, jobs, **context) -> str:
    """The result fragment alone: what htmx swaps in after a control moves, what a stream's
    last event carries, and what the start-up pre-render makes (app/web/views/prerender.py).
    `context`: result_context's arguments after `jobs`. A cached result's fragment is kept
    in the jobs' memo; a live result (just computed) is rendered as it is."""
    template = templates.get_template("_widget_result.html")
    item = context.get("item")
    from_cache = item is None or item["provenance"].get("cached")
    plain = (context.get("error") is None and context.get("busy") is None and from_cache
             and context.get("values") is not None)
    if not plain:  # an error, a busy note or a live result just computed: rendered as it is
        return template.render(result=result_context(jobs, **context))
    widget, values, instance = context["widget"], context["values"], context["instance"]
    view = view_key("result", instance)
    html = jobs.remembered(widget, values, view)
    if html is None:
        result = result_context(jobs, **context)
        html = template.render(result=result)
        if result["item"] is not None:
            jobs.remember(widget, values, view, html)
    return html


def result_event(templates, jobs, widget: Widget, values: dict, instance: str, item: dict) -> str:
    """A finished run's `result` event as its stream sends it (the fragment and where the run
    came from), kept in the jobs' memo when the result is cached: a moved slider that lands on a
    cached setting is then answered without decoding, rendering or encoding anything."""
    from app.web.jobs_http import sse

    html = result_html(templates, jobs, widget=widget, values=values, instance=instance, item=item)
    event = sse("result", {"html": html, "provenance": item["provenance"]})
    if item["provenance"].get("cached"):
        jobs.remember(widget, values, view_key("result-event", instance), event)
    return event


def remembered_event(jobs, widget: Widget, values: dict, instance: str) -> str | None:
    """The kept `result` event of this cached setting, if any (result_event)."""
    return jobs.remembered(widget, values, view_key("result-event", instance))


def render_result(request: Request, widget: Widget, values: dict | None, instance: str,
                  error: ParamError | None = None, status_code: int = 200,
                  busy: int | None = None, item: dict | None = None) -> HTMLResponse:
    headers = {"Retry-After": str(busy)} if busy is not None else None
    state = request.app.state
    html = result_html(state.templates, state.jobs, widget=widget, values=values, instance=instance,
                       error=error, busy=busy, item=item)
    return HTMLResponse(html, status_code=status_code, headers=headers)
