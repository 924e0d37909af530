"""Turns a widget into HTML: the form of controls, the chart, and the result area.

A widget placed in a page keeps its state in the page's URL as
`?<instance>.<param>=value`, so a link reopens the page with those values.
The result area holds the finished figure when it is cached, or the address of
the stream that will grow it.
"""
from __future__ import annotations

import math
from typing import Any, Mapping
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from widgets.base import Param, ParamError, Widget
from widgets.registry import all_widgets


def resolve(name: str, query: Mapping[str, Any]) -> tuple[Widget, dict]:
    """(widget, canonical values) from a query; KeyError for an unknown name, ParamError for bad values."""
    widget = all_widgets()[name]
    return widget, widget.canonicalize(query)


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
    widget = all_widgets()[name]
    instance = instance or name
    values, notes = _page_values(widget, overrides or {}, request.query_params, instance)
    templates = request.app.state.templates
    html = templates.get_template("_widget.html").render(
        widget=widget, instance=instance, notes=notes,
        controls=[control(p, values[p.name]) for p in widget.params if not p.advanced],
        advanced=[control(p, values[p.name]) for p in widget.params if p.advanced],
        result=_result_context(request, widget, values, instance))
    return Markup(html)


def _result_context(request: Request, widget: Widget, values: dict | None, instance: str,
                    error: ParamError | None = None) -> dict:
    context = {"widget": widget, "instance": instance, "error": error, "item": None, "stream_url": None}
    if values is None:
        return context
    item = request.app.state.jobs.cached(widget, values)
    context["fragment_url"] = f"/widgets/{widget.name}?{query_string(values, instance=instance)}"
    context["json_url"] = f"/api/widgets/{widget.name}?{query_string(values)}"
    if item is not None:
        context.update(item=item, tables=widget.tables(values, item["data"]), code=widget.code(values))
    elif widget.streams:
        context["stream_url"] = f"/widgets/{widget.name}/stream?{query_string(values)}"
    else:  # quick widgets compute right here (they are cheap by construction)
        item = request.app.state.jobs.run_blocking(widget, values)
        context.update(item=item, tables=widget.tables(values, item["data"]), code=widget.code(values))
    return context


def render_result(request: Request, widget: Widget, values: dict | None, instance: str,
                  error: ParamError | None = None, status_code: int = 200) -> HTMLResponse:
    """The result fragment alone, as htmx swaps it in after a control moves."""
    templates = request.app.state.templates
    html = templates.get_template("_widget_result.html").render(
        result=_result_context(request, widget, values, instance, error))
    return HTMLResponse(html, status_code=status_code)
