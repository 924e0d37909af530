"""Chapters: Markdown files with YAML front matter, loaded once and cached.

A chapter is content/chapters/NN-slug.md:

    ---
    title: The learning rate and its schedule
    slug: learning-rate
    order: 3
    minutes: 25
    objectives:
      - ...
    glossary:
      learning rate: ...
    ---
    Markdown body (see app/markdown.py for the directives).

The cache is keyed by the chapter directory and each file's modification time, so an
edited chapter is picked up without restarting the server.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from markupsafe import Markup

from app.markdown import Directive, MarkdownError, render_inline, render_markdown
from app.quiz import Quiz, QuizFormatError, parse_quiz

FRONT_MATTER_RE = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]*")


class ContentError(ValueError):
    """A chapter file that cannot be loaded; the message names the file."""


@dataclass(frozen=True)
class WidgetUse:
    name: str
    overrides: dict
    instance: str  # page-unique: name, name-2, name-3 ...
    line: int


@dataclass
class Chapter:
    slug: str
    title: str
    order: int
    minutes: int
    objectives: list[str]
    glossary: dict[str, str]
    path: Path
    html: str  # rendered body with slot markers for widgets and quizzes
    toc: list[dict]
    slots: list  # index -> WidgetUse or Quiz, in page order
    objectives_html: list[Markup] = field(default_factory=list)
    glossary_html: dict[str, Markup] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"/chapters/{self.slug}"

    @property
    def quizzes(self) -> dict[str, Quiz]:
        return {s.id: s for s in self.slots if isinstance(s, Quiz)}

    @property
    def widgets(self) -> list[WidgetUse]:
        return [s for s in self.slots if isinstance(s, WidgetUse)]

    def front_matter(self) -> dict:
        return {"slug": self.slug, "title": self.title, "order": self.order, "minutes": self.minutes,
                "objectives": list(self.objectives), "glossary": dict(self.glossary)}

    def summary(self) -> dict:
        return {**self.front_matter(), "url": self.url, "questions": len(self.quizzes),
                "widgets": [w.name for w in self.widgets]}


def parse_chapter(path: Path) -> Chapter:
    text = path.read_text(encoding="utf-8")
    match = FRONT_MATTER_RE.match(text)
    if not match:
        raise ContentError(f"{path.name}: no YAML front matter (--- ... ---) at the top")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise ContentError(f"{path.name}: the front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise ContentError(f"{path.name}: the front matter must be a mapping")
    missing = {"title", "slug", "order", "minutes", "objectives", "glossary"} - set(meta)
    if missing:
        raise ContentError(f"{path.name}: the front matter lacks {sorted(missing)}")
    slug = meta["slug"]
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise ContentError(f"{path.name}: slug {slug!r} must be lowercase letters, digits and dashes")
    if not isinstance(meta["order"], int) or not isinstance(meta["minutes"], int):
        raise ContentError(f"{path.name}: order and minutes must be integers")
    objectives = meta["objectives"]
    if not isinstance(objectives, list) or not all(isinstance(o, str) for o in objectives):
        raise ContentError(f"{path.name}: objectives must be a list of strings")
    glossary = meta["glossary"]
    if not isinstance(glossary, dict) or not all(isinstance(v, str) for v in glossary.values()):
        raise ContentError(f"{path.name}: glossary must map terms to definitions")

    body = text[match.end():]
    body_offset = text[:match.end()].count("\n")
    try:
        rendered = render_markdown(body)
    except MarkdownError as exc:
        raise ContentError(f"{path.name}: {exc} (lines count from the end of the front matter, "
                           f"which is {body_offset} lines long)") from None
    slots: list = []
    seen_widgets: dict[str, int] = {}
    for d in rendered.directives:
        slots.append(_slot(path, d, body_offset, seen_widgets))
    quiz_ids = [s.id for s in slots if isinstance(s, Quiz)]
    dupes = {q for q in quiz_ids if quiz_ids.count(q) > 1}
    if dupes:
        raise ContentError(f"{path.name}: quiz ids used twice: {sorted(dupes)}")
    return Chapter(
        slug=slug, title=str(meta["title"]), order=meta["order"], minutes=meta["minutes"],
        objectives=list(objectives), glossary={str(k): v for k, v in glossary.items()}, path=path,
        html=rendered.html, toc=rendered.toc, slots=slots,
        objectives_html=[Markup(render_inline(o)) for o in objectives],
        glossary_html={str(k): Markup(render_inline(v)) for k, v in glossary.items()},
    )


def _slot(path: Path, d: Directive, offset: int, seen: dict[str, int]):
    line = d.line + offset
    if d.kind == "widget":
        seen[d.name] = seen.get(d.name, 0) + 1
        n = seen[d.name]
        return WidgetUse(d.name, dict(d.data), d.name if n == 1 else f"{d.name}-{n}", line)
    try:
        return parse_quiz(d.data, f"{path.name} line {line}")
    except QuizFormatError as exc:
        raise ContentError(str(exc)) from None


class Course:
    """Every chapter, sorted by order."""

    def __init__(self, chapters: list[Chapter]):
        self.chapters = sorted(chapters, key=lambda c: (c.order, c.slug))
        self.by_slug = {c.slug: c for c in self.chapters}

    def get(self, slug: str) -> Chapter | None:
        return self.by_slug.get(slug)

    def neighbours(self, slug: str) -> tuple[Chapter | None, Chapter | None]:
        i = self.chapters.index(self.by_slug[slug])
        return (self.chapters[i - 1] if i > 0 else None,
                self.chapters[i + 1] if i + 1 < len(self.chapters) else None)


def load_course_uncached(chapters_dir: Path) -> Course:
    chapters = [parse_chapter(p) for p in sorted(chapters_dir.glob("*.md"))]
    slugs = [c.slug for c in chapters]
    dupes = {s for s in slugs if slugs.count(s) > 1}
    if dupes:
        raise ContentError(f"chapter slugs used twice: {sorted(dupes)}")
    return Course(chapters)


_cache: dict[Path, tuple[tuple, Course]] = {}
_lock = threading.Lock()


def load_course(content_dir: Path) -> Course:
    """The course under content_dir/chapters, reloaded only when a file changed."""
    chapters_dir = Path(content_dir) / "chapters"
    files = sorted(chapters_dir.glob("*.md"))
    key = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    with _lock:
        hit = _cache.get(chapters_dir)
        if hit and hit[0] == key:
            return hit[1]
        course = load_course_uncached(chapters_dir)
        _cache[chapters_dir] = (key, course)
        return course


def check_course(content_dir: Path) -> list[str]:
    """Problems with the course content, as sentences (empty when all is well).

    Loads and renders every chapter (bad front matter, Markdown, math or quiz raise
    ContentError here), then checks every widget directive names a registered widget
    whose parameters accept the directive's starting values. For `python -m app check`.
    """
    from widgets.base import ParamError
    from widgets.registry import all_widgets

    problems: list[str] = []
    try:
        course = load_course_uncached(Path(content_dir) / "chapters")
    except ContentError as exc:
        return [str(exc)]
    registry = all_widgets()
    for chapter in course.chapters:
        for use in chapter.widgets:
            widget = registry.get(use.name)
            if widget is None:
                problems.append(f"{chapter.path.name} line {use.line}: no widget named {use.name!r} "
                                f"(registered: {', '.join(registry) or 'none'})")
                continue
            unknown = set(use.overrides) - {p.name for p in widget.params}
            if unknown:
                problems.append(f"{chapter.path.name} line {use.line}: widget {use.name} has no "
                                f"parameters {sorted(unknown)}")
            try:
                widget.canonicalize(use.overrides)
            except ParamError as exc:
                problems.append(f"{chapter.path.name} line {use.line}: widget {use.name}: {exc.message}")
    return problems
