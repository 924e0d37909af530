"""The OpenAPI document (/openapi.json): exactly what the app accepts and answers.

FastAPI's own document lists `/api/widgets/{name}` with only `name`: no parameter, bound or
response shape. Here every widget route is expanded into one operation per widget, generated
from the widget's declared parameters (type, minimum, maximum, default, enum, description),
with a response model; every operation lists every status it can answer, each error in the
shape app/web/errors.py gives it; and the learner cookie (and htmx's HX-Request header on HTML
routes) are declared, so a generated client or a fuzzer sees what the server really does.

    install(app)      make app.openapi() build this document (once, then cached)
    params_model(w)   the pydantic model of widget w's parameters (also the POST body)
"""
from __future__ import annotations

import re
from typing import Any, Literal, Optional

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import models_json_schema

from app.web.errors import Message, ServerError, Unprocessable
from app.web.views.widget import INSTANCE_RE, URL_TEXT_MAX
from widgets.base import Widget
from widgets.notebook import MEDIA_TYPE as NOTEBOOK_MEDIA_TYPE

REF = "#/components/schemas/{model}"


class Busy(BaseModel):
    """The queue is full: try again after retry_after seconds (also in Retry-After)."""
    detail: str
    retry_after: int


class SpeedMeters(BaseModel):
    """How fast a run trained (widgets/lab/speed.py): tokens per second, achieved GFLOP/s (FLOPs
    counted by torch's FlopCounterMode), their share of the worker's measured matmul rate, and on
    a known GPU the share of its datasheet peak for the dtype."""
    tokens: int
    flops: int
    train_s: float
    dtype: str
    tokens_per_s: float
    gflops_per_s: float
    matmul_gflops_per_s: float
    share_of_matmul: float
    peak_gflops_per_s: Optional[float] = None
    share_of_peak: Optional[float] = None


class Provenance(BaseModel):
    """Where and how a result was computed."""
    model_config = ConfigDict(extra="allow")
    seed: int
    device: str
    torch: str
    cached: bool
    wall_time_s: float
    cpu: Optional[str] = None
    profile: Optional[str] = None
    host: Optional[str] = None
    computed_at: Optional[str] = None
    cpu_time_s: Optional[float] = None
    code_version: Optional[str] = None
    speed: Optional[SpeedMeters] = None  # None: no language model trained (a schedule, a 2-D valley)


class Figure(BaseModel):
    """A Plotly figure: traces and layout, as plain JSON."""
    model_config = ConfigDict(extra="allow")
    data: list[dict[str, Any]]
    layout: dict[str, Any]


# --- one model per widget -------------------------------------------------------------------

def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[-_]", name))


def _field(p) -> tuple[Any, Any]:
    description = p.help or p.label
    if p.unit:
        description += f" (unit: {p.unit})"
    default = ... if p.default is None else p.default
    if p.kind in ("float", "int") and p.values:  # only these values (seeds: 1, 3 or 5)
        return Literal[tuple(p.values)], Field(default, description=description, title=p.label)
    if p.kind in ("float", "int"):
        kind = float if p.kind == "float" else int
        return kind, Field(default, ge=p.min, le=p.max, description=description, title=p.label)
    if p.kind == "bool":
        return bool, Field(default, description=description, title=p.label)
    if p.kind == "choice":
        return Literal[tuple(p.choices)], Field(default, description=description, title=p.label)
    return str, Field(default, max_length=p.max_length, description=description, title=p.label)


_models: dict[tuple[str, str], type[BaseModel]] = {}


def params_model(widget: Widget) -> type[BaseModel]:
    """The widget's parameters as a model; unknown keys are ignored by the app, so allowed."""
    if (widget.name, "params") not in _models:
        _models[widget.name, "params"] = _params_model(widget)
    return _models[widget.name, "params"]


def result_model(widget: Widget) -> type[BaseModel]:
    if (widget.name, "result") not in _models:
        _models[widget.name, "result"] = _result_model(widget)
    return _models[widget.name, "result"]


def _params_model(widget: Widget) -> type[BaseModel]:
    fields = {p.name: _field(p) for p in widget.params}
    return create_model(f"{_camel(widget.name)}Params", __config__=ConfigDict(extra="allow"),
                        __doc__=f"The parameters of the {widget.name} widget ({widget.title}).", **fields)


def _result_model(widget: Widget) -> type[BaseModel]:
    return create_model(f"{_camel(widget.name)}Result",
                        __doc__=f"A finished {widget.name} run: its canonical parameters, data "
                                f"series, figure and provenance.",
                        widget=(Literal[widget.name], ...), params=(params_model(widget), ...),
                        data=(dict[str, Any], ...), figure=(Figure, ...), provenance=(Provenance, ...))


def _components(models: list[type[BaseModel]]) -> dict:
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    return top.get("$defs", {})


# --- building blocks of operations -----------------------------------------------------------

def _json(model: str) -> dict:
    return {"application/json": {"schema": {"$ref": REF.format(model=model)}}}


HTML = {"text/html": {"schema": {"type": "string"}}}
UNPROCESSABLE = {"description": "Bad input: every problem with its field, value and what is allowed",
                 "content": _json("Unprocessable")}
SERVER_ERROR = {"description": "An internal failure; its error id is in the server's log",
                "content": _json("ServerError")}
TOO_LARGE = {"description": "The body is larger than the server takes", "content": _json("Message")}
NOT_FOUND = {"description": "No such chapter, question or widget", "content": _json("Message")}
BUSY = {"description": "The training queue is full; try again after Retry-After seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": _json("Busy")}
CONFLICT = {"description": "The run was cancelled or superseded by this learner's newer request",
            "content": _json("Message")}
GONE = {"description": "The client went away before the run finished", "content": _json("Message")}
REDIRECT = {"description": "A plain form post: redirected back (See Other)",
            "headers": {"Location": {"schema": {"type": "string"}}}}

COOKIE = {"name": "learner", "in": "cookie", "required": False,
          "description": "The learner's anonymous id; a missing or malformed one is replaced",
          "schema": {"type": "string"}}
HX_REQUEST = {"name": "HX-Request", "in": "header", "required": False,
              "description": "Sent by htmx: the answer is a fragment instead of a page",
              "schema": {"type": "string"}}


SSE_EVENT = {  # one event of a widget's stream; `data` is a JSON object
    "type": "object", "required": ["event", "data"],
    "properties": {"event": {"type": "string", "enum": ["queued", "nearest", "progress", "result", "failed", "cancelled"]},
                   "data": {"type": "string", "contentMediaType": "application/json"}}}


def _also_html(response: dict) -> dict:
    """An error of an HTML route: JSON for API clients, HTML for browsers and htmx."""
    return {**response, "content": {**response["content"], **HTML}}


def _query_parameters(widget: Widget, in_url: bool = True) -> list[dict]:
    schema = params_model(widget).model_json_schema(ref_template=REF)
    out = []
    for p in widget.params:
        prop = dict(schema["properties"][p.name])
        prop.pop("title", None)
        if p.kind == "text" and in_url:
            prop["maxLength"] = URL_TEXT_MAX  # longer text travels in a POST body
        out.append({"name": p.name, "in": "query", "required": p.default is None,
                    "description": prop.pop("description", p.label), "schema": prop})
    return out


def _instance(widget: Widget) -> dict:
    return {"name": "instance", "in": "query", "required": False,
            "description": "The widget's page-unique id (missing or empty: the widget's name)",
            "schema": {"type": "string", "pattern": f"^(?:{INSTANCE_RE.pattern})?$", "default": widget.name}}


def _body(widget: Widget) -> dict:
    ref = {"$ref": REF.format(model=params_model(widget).__name__)}
    return {"required": False, "content": {"application/json": {"schema": ref},
                                           "application/x-www-form-urlencoded": {"schema": ref}}}


def _widget_operations(widget: Widget) -> dict[str, dict]:
    """path -> {method: operation} for one widget."""
    name, result = widget.name, result_model(widget).__name__
    query = _query_parameters(widget) + [_instance(widget)]
    posted = [_instance(widget)]
    twin_errors = {"409": CONFLICT, "422": UNPROCESSABLE, "499": GONE, "500": SERVER_ERROR, "503": BUSY}
    twin = {"summary": f"{widget.title}: the result as JSON",
            "description": (f"{widget.caption} A miss waits for the run (cancelled if the client "
                            f"leaves). Cross-field rules may refuse a combination of values (422)."),
            "tags": ["widgets"]}
    fragment_errors = {"422": {"description": "Bad input, shown in place", "content": HTML},
                       "503": {**BUSY, "content": HTML}, "500": SERVER_ERROR}
    return {
        f"/api/widgets/{name}": {
            "get": {**twin, "operationId": f"widget_{_camel(name)}_json", "parameters": query,
                    "responses": {"200": {"description": "The finished result", "content": _json(result)},
                                  **twin_errors}},
            "post": {**twin, "summary": f"{widget.title}: the result as JSON, parameters in the body",
                     "operationId": f"widget_{_camel(name)}_json_post", "parameters": posted,
                     "requestBody": _body(widget),
                     "responses": {"200": {"description": "The finished result", "content": _json(result)},
                                   **twin_errors, "413": TOO_LARGE}},
        },
        f"/widgets/{name}": {
            "get": {"summary": f"{widget.title}: the result fragment (htmx)", "tags": ["widgets"],
                    "description": "The figure when cached, otherwise the address of the stream "
                                   "that computes it. Never computes.",
                    "operationId": f"widget_{_camel(name)}_fragment", "parameters": query,
                    "responses": {"200": {"description": "The result fragment", "content": HTML},
                                  **fragment_errors}},
            "post": {"summary": f"{widget.title}: the finished fragment, parameters in a form body",
                     "tags": ["widgets"], "operationId": f"widget_{_camel(name)}_fragment_post",
                     "parameters": posted, "requestBody": _body(widget),
                     "responses": {"200": {"description": "The finished fragment", "content": HTML},
                                   **fragment_errors, "409": CONFLICT, "499": GONE, "413": TOO_LARGE}},
        },
        f"/widgets/{name}/stream": {
            "get": {"summary": f"{widget.title}: the run as Server-Sent Events", "tags": ["widgets"],
                    "description": "Events: queued, progress (a figure, then only new points), then "
                                   "result (the finished fragment), or failed / cancelled.",
                    "operationId": f"widget_{_camel(name)}_stream", "parameters": query,
                    "responses": {"200": {"description": "The event stream",
                                          "content": {"text/event-stream": {"schema": SSE_EVENT}}},
                                  "422": UNPROCESSABLE, "503": BUSY, "500": SERVER_ERROR}},
        },
        f"/widgets/{name}/notebook": {
            "get": {"summary": f"{widget.title}: the code as a Jupyter notebook", "tags": ["widgets"],
                    "description": "The widget's 'show the code' with these settings, as a notebook file "
                                   "(a download). Never computes.",
                    "operationId": f"widget_{_camel(name)}_notebook", "parameters": query,
                    "responses": {"200": {"description": "The notebook (nbformat 4)",
                                          "content": {NOTEBOOK_MEDIA_TYPE: {"schema": {"type": "object"}}}},
                                  "422": UNPROCESSABLE, "500": SERVER_ERROR}},
        },
        f"/widgets/{name}/demo": {
            "get": {"summary": f"{widget.title}: a page holding just this widget", "tags": ["widgets"],
                    "operationId": f"widget_{_camel(name)}_demo", "parameters": [],
                    "responses": {"200": {"description": "The page", "content": HTML},
                                  "500": _also_html(SERVER_ERROR)}},
        },
    }


WIDGET_TEMPLATES = ("/api/widgets/{name}", "/widgets/{name}", "/widgets/{name}/stream", "/widgets/{name}/demo",
                    "/widgets/{name}/notebook")


def _is_html(operation: dict) -> bool:
    return "text/html" in operation.get("responses", {}).get("200", {}).get("content", {})


def _complete(path: str, method: str, operation: dict) -> None:
    """Every status the app can answer, in app/web/errors.py's shapes."""
    responses = operation.setdefault("responses", {})
    html = _is_html(operation)
    error = _also_html if html else (lambda r: r)
    has_input = bool(operation.get("parameters")) or "requestBody" in operation
    if "422" in responses and responses["422"].get("content", {}).get("application/json", {}).get(
            "schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
        responses["422"] = error(UNPROCESSABLE)
    if has_input and "422" not in responses:
        responses["422"] = error(UNPROCESSABLE)
    if ("{slug}" in path or "{exercise_id}" in path) and "404" not in responses:
        responses["404"] = error(NOT_FOUND)
    if method == "post":
        responses.setdefault("413", TOO_LARGE)
    responses.setdefault("500", error(SERVER_ERROR))
    parameters = operation.setdefault("parameters", [])
    parameters.append(COOKIE)
    if html:
        parameters.append(HX_REQUEST)


def build(app: FastAPI) -> dict:
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes,
                      description="Every widget parameter, bound and response shape, and every error "
                                  "in one shape: see app/web/schema.py and app/web/errors.py.")
    paths = doc["paths"]
    widgets = [app.state.widgets[n] for n in sorted(app.state.widgets)]  # this app's own set
    for template in WIDGET_TEMPLATES:
        paths.pop(template, None)
    for widget in widgets:
        paths.update(_widget_operations(widget))
    for path, operations in paths.items():
        for method, operation in operations.items():
            _complete(path, method, operation)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    models = [Unprocessable, Message, ServerError, Busy, Provenance, Figure]
    models += [m for w in widgets for m in (params_model(w), result_model(w))]
    schemas.update(_components(models))
    return doc


def install(app: FastAPI) -> None:
    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi
