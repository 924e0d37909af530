"""Turns a checklist into HTML with the learner's ticks, and reads a submitted form's ticks."""
from __future__ import annotations

from fastapi import Request

from app.course.checklist import Checklist
from app.web.errors import clip
from app.web.learner import learner_id, store_for
from widgets.base import ParamError


def parse_items(checklist: Checklist, values: list[str], field: str = "item") -> set[int]:
    """The ticked item numbers a form sent; ParamError (a 422) naming the field, what was sent
    and what is allowed when one is not an item of this checklist or comes twice."""
    allowed = f"distinct item numbers from 1 to {len(checklist.items)}, each at most once"
    numbers = []
    for value in values:
        if not (value.isascii() and value.isdigit() and len(value) <= 3 and 1 <= int(value) <= len(checklist.items)):
            raise ParamError(field, clip(value), allowed,
                             f"{field}={clip(value)!r} is not an item of checklist {checklist.id!r}: "
                             f"expected {allowed}")
        numbers.append(int(value))
    if len(set(numbers)) != len(numbers):
        raise ParamError(field, clip(values), allowed, f"{field} names an item twice: expected {allowed}")
    return set(numbers)


def chapter_ticks(request: Request, chapter_slug: str) -> dict[str, set[int]]:
    """checklist id -> this learner's ticked items in the chapter (none for a new learner)."""
    learner, is_new = learner_id(request)
    return {} if is_new else store_for(request).ticks(learner, chapter_slug).get(chapter_slug, {})


def render_checklist(request: Request, chapter, checklist: Checklist, ticked: set[int]) -> str:
    """The checklist's form, with this learner's ticks."""
    template = request.app.state.templates.get_template("_checklist.html")
    return template.render(chapter=chapter, checklist=checklist, ticked=checklist.known(ticked))
