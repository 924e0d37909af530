"""Shared by the chapter-claim tests: find a CLAIM block and rerun the widget it describes.

A sentence in a chapter that states what a widget's run shows is wrapped in
<!-- CLAIM:<slug>:<id> --> ... <!-- /CLAIM -->; its test reruns the widget with the
chapter's own directive parameters and checks the sentence on the real data.
"""
from __future__ import annotations

import re

from app.course.content import parse_chapter
from app.settings import Settings
from shared_runs import widget_data

CHAPTERS = Settings().content_dir / "chapters"


def chapter_text(name: str) -> str:
    return (CHAPTERS / name).read_text(encoding="utf-8")


def claim(name: str, claim_id: str) -> str:
    """The text of one CLAIM block; fails if the block is missing."""
    slug = parse_chapter(CHAPTERS / name).slug
    m = re.search(rf"<!-- CLAIM:{re.escape(slug)}:{re.escape(claim_id)} -->(.*?)<!-- /CLAIM -->",
                  chapter_text(name), re.S)
    assert m, f"{name}: no CLAIM:{slug}:{claim_id} block"
    return " ".join(m.group(1).split())


def directive_params(name: str, widget: str) -> dict:
    uses = [w for w in parse_chapter(CHAPTERS / name).widgets if w.name == widget]
    assert uses, f"{name} has no {widget} widget"
    return uses[0].overrides


def _run(widget: str, overrides: tuple) -> dict:
    """The widget's run at these parameters (shared by the whole session, see shared_runs.py)."""
    return widget_data(widget, dict(overrides))


def run_as_in_chapter(name: str, widget: str) -> dict:
    return _run(widget, tuple(sorted(directive_params(name, widget).items())))


def claim_ids(names) -> set[tuple[str, str]]:
    """Every (slug, id) CLAIM block in these chapter files; fails on an unclosed block."""
    found = set()
    for name in names:
        if not (CHAPTERS / name).exists():
            continue
        text = chapter_text(name)
        opens = re.findall(r"<!-- CLAIM:([a-z0-9-]+):([a-z0-9-]+) -->", text)
        assert len(opens) == text.count("<!-- /CLAIM -->"), f"{name}: unbalanced CLAIM blocks"
        found |= set(opens)
    return found
