"""The content check for the landing page (content/course.md, app/course/landing.py): it
loads, its widget directives name registered widgets with valid values, and each starts from
the values of one of the chapters' placements, so `python -m app precompute` (which
precomputes every chapter placement) has its run cached before a learner opens the page."""
from __future__ import annotations

from pathlib import Path

from app.course.content import ContentError, Course
from app.course.landing import LANDING_FILE, load_landing
from app.tools.check.course import widget_problems
from widgets.base import ParamError


def landing_problems(content_dir: Path, course: Course, registry) -> list[str]:
    try:
        landing = load_landing(content_dir)
    except ContentError as exc:
        return [str(exc)]
    if landing is None:
        return []
    problems = []
    placements = {(use.name, _key(registry, use.name, use.overrides))
                  for chapter in course.chapters for use in chapter.widgets}
    for use in landing.widgets:
        where = f"{LANDING_FILE} line {use.line}"
        found = widget_problems(registry, use.name, use.overrides, where, "widget directive")
        problems += found
        if not found and (use.name, _key(registry, use.name, use.overrides)) not in placements:
            problems.append(f"{where}: widget {use.name} starts from values no chapter places it with, so "
                            f"precompute does not cache its run and the first visitor waits for it; use the "
                            f"values of one of the chapters' `{use.name}` directives")
    if not landing.widgets:
        problems.append(f"{LANDING_FILE}: no ```widget directive: the landing page opens with a live chart")
    return problems


def _key(registry, name: str, overrides: dict):
    widget = registry.get(name)
    try:
        return repr(sorted(widget.canonicalize(overrides).items())) if widget else None
    except ParamError:  # reported by widget_problems
        return None
