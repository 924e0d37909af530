"""Turns a widget directive into the HTML a chapter embeds (form, chart, result area)."""
from __future__ import annotations

from typing import Any, Mapping

from fastapi import Request
from markupsafe import Markup


def render_widget(request: Request, name: str, overrides: Mapping[str, Any] | None = None,
                  instance: str | None = None) -> Markup:
    """HTML for one widget placed in a page.

    name: a registered widget name; overrides: the directive's starting parameters;
    instance: a page-unique id (defaults to the name). Values in the page's query
    string (prefixed "<instance>.") win over the overrides, so links keep state.
    Raises KeyError for an unknown widget and widgets.base.ParamError for a bad value.
    """
    raise NotImplementedError("filled in by the widget views")
