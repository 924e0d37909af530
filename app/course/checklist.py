"""Checklists: a chapter's list of checks that a learner ticks, kept with their progress.

A ```checklist <id> block (app/course/markdown.py) holds one Markdown list; each item is a check.
Items are numbered 1..N in the order written, and a tick is stored under that number
(table checklist_ticks, app/learning/progress.py): so add new checks at the end, since moving one
moves the ticks that learners already gave.

The form (templates/_checklist.html, filled in by app/web/views/checklist.py) posts the whole set
of ticked items (field `item`, repeated): a plain HTML form sends that without JavaScript,
and htmx sends it on every change. Each post says what the list looks like now, so one sent
twice does no harm, and htmx sends one form's posts one after another (the last queued
wins), so the state saved is the state on screen.
"""
from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup


@dataclass(frozen=True)
class Checklist:
    id: str  # unique in its chapter
    items: tuple[Markup, ...]  # each item's inline HTML, item n at index n - 1
    ordered: bool  # written as a numbered list
    line: int  # in the chapter file

    @property
    def anchor(self) -> str:
        return f"checklist-{self.id}"

    def action(self, chapter_slug: str) -> str:
        return f"/progress/checklist/{chapter_slug}/{self.id}"

    def known(self, items) -> set[int]:
        """The item numbers among `items` that this list still has (it may have shrunk)."""
        return {i for i in items if 1 <= i <= len(self.items)}
