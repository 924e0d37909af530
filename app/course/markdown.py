"""Markdown -> HTML for chapters: anchors, server-side MathML, Pygments, tables, directives.

Directives are fenced blocks whose info string names them:

    ```widget lr-schedule          a live widget; the optional YAML body gives its
    peak_lr: 0.003                 starting parameters (a mapping)
    ```

    ```quiz                        a quick-check question (YAML body, see app/course/quiz.py)
    id: warmup-why
    question: Why ...?
    multiple: false
    options:
      - {text: ..., correct: true, feedback: ...}
    ```

    ```try-this Optional title     a box whose body is Markdown: <aside class="try-this">
    ```takeaways                   the same, <section class="takeaways">
    ```references                  the same, <section class="references">
    ```note                        the same, <aside class="note">
    ```diagram                     a conceptual diagram (YAML body, see app/course/diagrams.py),
                                   rendered to SVG here, once, with its text alternative
    ```checklist pre-training      a list of checks a learner ticks (body: one Markdown
    1. **First check** ...         list, one paragraph per item; see app/course/checklist.py)
    ```

Widgets, quizzes and checklists depend on the request (query-string state, the learner's
saved answers and ticks), so the cached HTML holds a slot marker for each of them
(``<!--slot:widget:3-->``) and `fill_slots` swaps them in per request.
Any other info string is a language name for Pygments.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

import latex2mathml.converter
import yaml
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from mdit_py_plugins.dollarmath import dollarmath_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

BOX_DIRECTIVES = {
    # name: (element, class, default heading or None)
    "try-this": ("aside", "try-this", "Try this"),
    "note": ("aside", "note", None),
    "takeaways": ("section", "takeaways", None),
    "references": ("section", "references", None),
}
SLOT_RE = re.compile(r"<!--slot:(widget|quiz|checklist):(\d+)-->")
CHECKLIST_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
MAX_CHECKLIST_ITEMS = 50  # a longer list is two checklists; it also bounds what a form may send
_FORMATTER = HtmlFormatter(cssclass="highlight", nowrap=False)


class MarkdownError(ValueError):
    """A chapter that cannot be rendered: bad math, bad directive YAML, unknown language."""


@dataclass
class Directive:
    kind: str  # "widget", "quiz" or "checklist"
    name: str  # the widget name, "quiz", or the checklist id
    data: Any  # the parsed YAML body; a checklist's (ordered, [item HTML])
    line: int  # 1-based line in the Markdown source


@dataclass
class Rendered:
    html: str  # with slot markers for widgets and quizzes
    toc: list[dict] = field(default_factory=list)  # [{"level", "id", "text"}]
    directives: list[Directive] = field(default_factory=list)


# --- pieces -----------------------------------------------------------------------
def slugify(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text.lower())
    return re.sub(r"[\s_-]+", "-", text).strip("-") or "section"


def math_to_mathml(latex: str, display: bool) -> str:
    try:
        return latex2mathml.converter.convert(latex, display="block" if display else "inline")
    except Exception as exc:  # latex2mathml raises assorted errors for bad input
        raise MarkdownError(f"cannot convert math {latex!r} to MathML: {exc}") from exc


@lru_cache(maxsize=512)  # pages highlight the same exercise tests on every request
def highlight_code(code: str, lang: str) -> str:
    if not lang:
        return f'<div class="highlight"><pre><code>{escapeHtml(code)}</code></pre></div>\n'
    try:
        lexer = get_lexer_by_name(lang)
    except ClassNotFound:
        raise MarkdownError(f"unknown code language {lang!r} in a fenced block") from None
    return highlight(code, lexer, _FORMATTER)


def parse_yaml_body(text: str, what: str, line: int) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise MarkdownError(f"line {line}: the {what} block is not valid YAML: {exc}") from None


def _inline_text(token) -> str:
    """Plain text of an inline token (for the table of contents and anchor ids)."""
    parts = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "math_inline"):
            parts.append(child.content)
    return "".join(parts).strip()


# --- the renderer -------------------------------------------------------------------
def _heading_open(self, tokens, idx, options, env):
    token = tokens[idx]
    text = _inline_text(tokens[idx + 1])
    base = slugify(text)
    used = env.setdefault("_ids", set())
    anchor, n = base, 2
    while anchor in used:
        anchor, n = f"{base}-{n}", n + 1
    used.add(anchor)
    env.setdefault("_heading_ids", []).append(anchor)
    level = int(token.tag[1])
    if level in (2, 3):
        env.setdefault("toc", []).append({"level": level, "id": anchor, "text": text})
    return f'<{token.tag} id="{anchor}">'


def _heading_close(self, tokens, idx, options, env):
    anchor = env["_heading_ids"].pop()
    return (f' <a class="heading-anchor" href="#{anchor}" aria-label="Link to this section">#</a>'
            f"</{tokens[idx].tag}>\n")


def _make_fence(md: MarkdownIt) -> Callable:
    def fence(self, tokens, idx, options, env):
        token = tokens[idx]
        info = token.info.strip()
        word, _, rest = info.partition(" ")
        rest = rest.strip()
        line = (token.map[0] + 1 if token.map else 0) + env.get("_line_offset", 0)
        if word == "widget":
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", rest):
                raise MarkdownError(f"line {line}: a widget directive needs a name, got {rest!r}")
            overrides = parse_yaml_body(token.content, f"widget {rest}", line) or {}
            if not isinstance(overrides, dict):
                raise MarkdownError(f"line {line}: the widget {rest} body must be a YAML mapping")
            return _slot(env, Directive("widget", rest, overrides, line))
        if word == "quiz":
            data = parse_yaml_body(token.content, "quiz", line)
            return _slot(env, Directive("quiz", "quiz", data, line))
        if word == "diagram":
            from app.course.diagrams import DiagramError, render_diagram

            data = parse_yaml_body(token.content, "diagram", line)
            env["_diagrams"] = env.get("_diagrams", 0) + 1
            try:
                return render_diagram(data, f"diagram-{env['_diagrams']}")
            except DiagramError as exc:
                raise MarkdownError(f"line {line}: {exc}") from None
        if word == "checklist":
            if not CHECKLIST_ID_RE.fullmatch(rest):
                raise MarkdownError(f"line {line}: a checklist directive needs an id (lowercase letters, "
                                    f"digits, dashes), as in ```checklist pre-training; got {rest!r}")
            return _slot(env, Directive("checklist", rest, checklist_items(md, token.content, env, line), line))
        if word in BOX_DIRECTIVES:
            tag, cls, default_title = BOX_DIRECTIVES[word]
            title = rest or default_title
            inner_env = env  # shares ids, toc and directive slots with the page
            saved = env.get("_line_offset", 0)
            env["_line_offset"] = line
            inner = md.render(token.content, inner_env)
            env["_line_offset"] = saved
            head = f'<p class="{cls}-title">{escapeHtml(title)}</p>\n' if title else ""
            return f'<{tag} class="{cls}">\n{head}{inner}</{tag}>\n'
        return highlight_code(token.content, word)

    return fence


def checklist_items(md: MarkdownIt, text: str, env: dict, line: int) -> tuple[bool, list[str]]:
    """(whether the list is numbered, each item's inline HTML) of a checklist's body, which
    must be one Markdown list whose items are one paragraph each: an item becomes the text
    of a checkbox's <label>, where only inline content is valid HTML."""
    tokens = md.parse(text, env)
    where = f"line {line}: checklist"
    top = [t for t in tokens if t.level == 0]
    if len(top) != 2 or top[0].type not in ("ordered_list_open", "bullet_list_open"):
        raise MarkdownError(f"{where}: the body must be one Markdown list (`1. ...` or `- ...`), one item "
                            f"per check, and nothing else")
    items: list[str] = []
    opened = 0
    for i, t in enumerate(tokens):
        if t.type == "list_item_open" and t.level == 1:
            opened = i
        elif t.type == "list_item_close" and t.level == 1:
            inner = tokens[opened + 1:i]
            if len(inner) != 3 or inner[0].type != "paragraph_open" or not inner[1].content.strip():
                raise MarkdownError(f"{where} item {len(items) + 1}: each item must be one paragraph "
                                    f"(no nested list, code block or blank item)")
            items.append(md.renderer.renderInline(inner[1].children, md.options, env))
    if len(items) > MAX_CHECKLIST_ITEMS:
        raise MarkdownError(f"{where}: {len(items)} items, at most {MAX_CHECKLIST_ITEMS}; split it in two")
    return top[0].type == "ordered_list_open", items


def _slot(env: dict, directive: Directive) -> str:
    directives = env.setdefault("directives", [])
    directives.append(directive)
    return f"<!--slot:{directive.kind}:{len(directives) - 1}-->\n"


def make_markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "typographer": False}).enable("table")
    dollarmath_plugin(md, allow_digits=False,
                      renderer=lambda content, opts: math_to_mathml(content, opts["display_mode"]))
    md.add_render_rule("heading_open", _heading_open)
    md.add_render_rule("heading_close", _heading_close)
    md.add_render_rule("fence", _make_fence(md))
    return md


_MD = make_markdown()


def render_markdown(text: str) -> Rendered:
    """Render a chapter body. Raises MarkdownError for anything that cannot be rendered."""
    env: dict = {}
    html = _MD.render(text, env)
    return Rendered(html=html, toc=env.get("toc", []), directives=env.get("directives", []))


def render_inline(text: str) -> str:
    """Inline Markdown (quiz questions, options, feedback): math and code, no paragraphs."""
    return _MD.renderInline(str(text), {})


def fill_slots(html: str, fill: Callable[[str, int], str]) -> str:
    """Replace every slot marker with fill(kind, index)."""
    return SLOT_RE.sub(lambda m: fill(m.group(1), int(m.group(2))), html)


def pygments_css() -> str:
    """The stylesheet rules for highlighted code (for whoever writes the CSS)."""
    return _FORMATTER.get_style_defs(".highlight")
