"""Finds every widget module in this package and lists its widget by name.

A widget module defines a module-level `WIDGET` (one instance of a Widget
subclass). Discovery is automatic, so adding a widget never touches this file.
"""
from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from widgets.base import Widget


@lru_cache(maxsize=1)
def all_widgets() -> dict[str, Widget]:
    import widgets

    found: dict[str, Widget] = {}
    for module_info in pkgutil.iter_modules(widgets.__path__):
        if module_info.ispkg or module_info.name in ("base", "registry"):
            continue
        module = importlib.import_module(f"widgets.{module_info.name}")
        widget = getattr(module, "WIDGET", None)
        if isinstance(widget, Widget):
            if widget.name in found:
                raise RuntimeError(f"two widgets are named {widget.name!r}")
            found[widget.name] = widget
    return dict(sorted(found.items()))


def get_widget(name: str) -> Widget | None:
    return all_widgets().get(name)
