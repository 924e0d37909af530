"""The Jinja environment shared by every page and fragment."""
from __future__ import annotations

import json
from typing import Callable

from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from app.settings import Settings
from app.web.assets import asset_url


def _to_json(value) -> Markup:
    """JSON safe to embed inside <script type="application/json">."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


FIGURE_DIGITS = 6


def _rounded(value):
    """`value` with every float cut to FIGURE_DIGITS significant digits (a chart's pixels need
    four; the rest is bytes the page carries and compresses on every request)."""
    if isinstance(value, float):
        return float(f"{value:.{FIGURE_DIGITS}g}") if value == value and abs(value) != float("inf") else value
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(item) for item in value]
    return value


def _figure_json(figure) -> Markup:
    """A Plotly figure as _to_json writes it, its floats to FIGURE_DIGITS significant digits."""
    return _to_json(_rounded(figure))


def _highlight_python(code: str) -> Markup:
    from app.course.markdown import highlight_code  # the one highlighter, its output kept per text

    return Markup(highlight_code(code, "python"))


class Kept:
    """Page pieces kept under a key of everything they depend on. Bounded: past `limit` entries
    it starts again (the keys used take a few thousand values at most, so that is a rare full
    rebuild, never a growing process). Builds race harmlessly: the same key builds the same
    piece. `owner`, when given, is an object the piece was built from (a question of the course
    as loaded): an entry is used only for that very object, which it holds, so an edited course,
    whose objects are new, is built anew."""

    def __init__(self, limit: int = 4096):
        self.limit = limit
        self.entries: dict[tuple, tuple[object, object]] = {}

    def get(self, key: tuple, build: Callable[[], object], owner: object = None):
        found = self.entries.get(key)
        if found is None or found[0] is not owner:
            if len(self.entries) >= self.limit:
                self.entries = {}
            found = self.entries[key] = (owner, build())
        return found[1]


class SidebarEntries:
    """The sidebar's chapter lines (_sidebar_entry.html), each rendered once per state and kept.

    Every page carries the ten of them; a line's state (the chapter's title and question count,
    whether it is the current one, the learner's visit, score and exercise tally) takes a few
    values per chapter, shared by every learner in it."""

    def __init__(self, templates: Jinja2Templates, kept: Kept | None = None):
        self.templates = templates
        self.kept = kept or Kept()

    def __call__(self, chapter, is_current: bool, progress, tally) -> Markup:
        key = (chapter.slug, chapter.order, chapter.title, len(chapter.quizzes), bool(is_current),
               bool(progress and progress.visited), progress.first_correct if progress else 0,
               (tally["solved"], tally["attempts"], tally["total"]) if tally else None)
        return self.kept.get(key, lambda: self._render(chapter, bool(is_current), progress, tally))

    def _render(self, chapter, is_current: bool, progress, tally) -> Markup:
        return Markup(self.templates.get_template("_sidebar_entry.html").module.entry(chapter, is_current, progress, tally))


def make_templates(settings: Settings) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(settings.templates_dir))
    # Templates are code: read once, like the modules (checking each one's time on every use
    # was 3 % of the web process's time under a class's load). Edit, then restart the server.
    templates.env.auto_reload = False
    templates.env.filters["tojson_script"] = _to_json
    templates.env.filters["figure_json"] = _figure_json
    templates.env.filters["highlight_python"] = _highlight_python
    templates.env.globals["asset_version"] = "1"
    # a file's URL with its content hash, cached for a year by the browser (app/web/assets.py)
    templates.env.globals["asset_url"] = lambda url_path: asset_url(url_path, settings.static_dir)
    templates.env.globals["sidebar_entry"] = SidebarEntries(templates)
    return templates
