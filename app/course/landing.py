"""The landing page's content: content/course.md, the course as a whole.

    ---
    prerequisites:            # what to know before chapter 1 (inline Markdown each)
      - ...
    outcomes:                 # exactly three: what a learner can do after the course
      - ...
    ---
    A short Markdown body: the opening paragraph and one ```widget directive, the live
    chart the page opens with (no other directives).

The widget's starting values should be those of one of the chapters' placements, so that
`python -m app precompute` has its run cached before anyone opens the page; the content
check (app/tools/check/landing.py) says so when they are not.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from markupsafe import Markup

from app.course.content import ContentError, WidgetUse, _slot, read_front_matter
from app.course.markdown import MarkdownError, render_inline, render_markdown

LANDING_FILE = "course.md"
OUTCOMES = 3


@dataclass(frozen=True)
class Landing:
    prerequisites_html: tuple[Markup, ...]
    outcomes_html: tuple[Markup, ...]
    html: str  # the body, with a slot marker where each widget goes
    widgets: tuple[WidgetUse, ...]


def load_landing(content_dir: Path) -> Landing | None:
    """content/course.md, parsed (None when the course has none); ContentError when it is malformed."""
    path = Path(content_dir) / LANDING_FILE
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    return _parse(path, stamp)


@lru_cache(maxsize=4)
def _parse(path: Path, stamp: int) -> Landing:
    text, match, meta = read_front_matter(path)
    lists = {}
    for key in ("prerequisites", "outcomes"):
        value = meta.get(key) if isinstance(meta, dict) else None
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise ContentError(f"{path.name}: `{key}:` must be a list of text items")
        lists[key] = tuple(Markup(render_inline(v.strip())) for v in value)
    if len(lists["outcomes"]) != OUTCOMES:
        raise ContentError(f"{path.name}: `outcomes:` has {len(lists['outcomes'])} items; the landing page "
                           f"shows exactly {OUTCOMES}")
    offset = text[:match.end()].count("\n")
    try:
        rendered = render_markdown(text[match.end():])
    except MarkdownError as exc:
        raise ContentError(f"{path.name}: {exc}") from None
    widgets, seen = [], {}
    for directive in rendered.directives:
        if directive.kind != "widget":
            raise ContentError(f"{path.name}: only ```widget directives belong here, not ```{directive.kind}")
        widgets.append(_slot(path, directive, offset, seen))
    return Landing(lists["prerequisites"], lists["outcomes"], rendered.html, tuple(widgets))
