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
      learning rate: ...              # term: one-sentence definition, or
      warmup:                         # term: {definition, section?, aliases?}
        definition: ...
        section: warmup               # the heading id where it is taught (see app/course/glossary.py)
        aliases: [warm-up]
    ---
    Markdown body (see app/course/markdown.py for the directives).

How to write a chapter: content/AUTHORING.md.

The web app holds a CourseLoader (app/course/loader.py) that reloads an edited chapter
without a restart. An edit that breaks a chapter does not take the course down: the server
keeps serving the last version of that chapter that loaded (and logs the error); a chapter
file that never loaded is listed in `Course.broken`, and only its own page is an error page.
`python -m app check` and `load_course_uncached` stay strict: they raise on the first broken
file.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml
from markupsafe import Markup

from app.course.checklist import Checklist
from app.course.glossary import build as build_glossary, link_terms, sections, term_slug
from app.course.markdown import Directive, MarkdownError, render_inline, render_markdown
from app.course.quiz import Quiz, QuizFormatError, parse_quiz
from app.course.search import SearchIndex

log = logging.getLogger(__name__)
FRONT_MATTER_RE = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]*")


class ContentError(ValueError):
    """A chapter file that cannot be loaded; the message names the file."""


class BrokenChapter(Exception):
    """A request for a chapter whose file has never loaded (app/web/errors.py answers a 500)."""

    def __init__(self, slug: str, why: str):
        super().__init__(f"chapter {slug!r} does not load: {why}")
        self.slug = slug
        self.why = why


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
    html: str  # rendered body with slot markers for widgets, quizzes and checklists
    toc: list[dict]
    slots: list  # index -> WidgetUse, Quiz or Checklist, in page order
    objectives_html: list[Markup] = field(default_factory=list)
    glossary_html: dict[str, Markup] = field(default_factory=dict)
    glossary_meta: dict[str, dict] = field(default_factory=dict)  # term -> {section, aliases}
    sections: list = field(default_factory=list)  # app.course.glossary.Section, in page order
    linked_html: str = ""  # html with glossary terms linked (set by Course)
    heading_ids: set = field(default_factory=set)
    level: str = ""  # one of LEVELS; `python -m app check` requires it and the prerequisites
    prerequisite_chapters: list[str] = field(default_factory=list)  # slugs of earlier chapters
    background: list[str] = field(default_factory=list)  # what to know from outside the course
    background_html: list[Markup] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"/chapters/{self.slug}"

    @property
    def glossary_items(self) -> list[tuple[str, str, Markup]]:
        """(term, anchor id, definition HTML) for the chapter's key-terms box."""
        return [(t, term_slug(t), self.glossary_html[t]) for t in self.glossary]

    # The slots are fixed once the chapter is read (an edited file is a new Chapter), and these
    # are asked for many times on every page (the sidebar alone asks each chapter's quizzes):
    # computed once. Callers must not change what they get.
    @cached_property
    def quizzes(self) -> dict[str, Quiz]:
        return {s.id: s for s in self.slots if isinstance(s, Quiz)}

    @cached_property
    def checklists(self) -> dict[str, Checklist]:
        return {s.id: s for s in self.slots if isinstance(s, Checklist)}

    @cached_property
    def widgets(self) -> list[WidgetUse]:
        return [s for s in self.slots if isinstance(s, WidgetUse)]

    def front_matter(self) -> dict:
        return {"slug": self.slug, "title": self.title, "order": self.order, "minutes": self.minutes,
                "level": self.level, "prerequisites": {"chapters": list(self.prerequisite_chapters),
                                                        "background": list(self.background)},
                "objectives": list(self.objectives), "glossary": dict(self.glossary)}

    def summary(self) -> dict:
        return {**self.front_matter(), "url": self.url, "questions": len(self.quizzes),
                "widgets": [w.name for w in self.widgets]}


def read_front_matter(path: Path) -> tuple[str, re.Match, object]:
    """(the file's text, the front matter's match, its YAML) of a Markdown file with front
    matter; ContentError naming the file when there is none or it is not YAML."""
    text = path.read_text(encoding="utf-8")
    match = FRONT_MATTER_RE.match(text)
    if not match:
        raise ContentError(f"{path.name}: no YAML front matter (--- ... ---) at the top")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise ContentError(f"{path.name}: the front matter is not valid YAML: {exc}") from None
    return text, match, meta


def parse_chapter(path: Path) -> Chapter:
    text, match, meta = read_front_matter(path)
    if not isinstance(meta, dict):
        raise ContentError(f"{path.name}: the front matter must be a mapping")
    missing = [f for f in REQUIRED_FIELDS if f not in meta]
    if missing:
        raise ContentError(f"{path.name} line 1: the front matter lacks {missing}; every chapter starts "
                           f"with {', '.join(REQUIRED_FIELDS)} (see content/AUTHORING.md)")
    slug = meta["slug"]
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise ContentError(f"{path.name}: slug {slug!r} must be lowercase letters, digits and dashes")
    if not isinstance(meta["order"], int) or not isinstance(meta["minutes"], int):
        raise ContentError(f"{path.name}: order and minutes must be integers")
    objectives = meta["objectives"]
    if not isinstance(objectives, list) or not all(isinstance(o, str) for o in objectives):
        raise ContentError(f"{path.name}: objectives must be a list of strings")
    glossary, glossary_meta = _parse_glossary(path, text, meta["glossary"])
    level = meta.get("level", "")
    if level and level not in LEVELS:
        raise ContentError(f"{path.name} line {line_of(text, 'level:')}: level {level!r} must be one of "
                           f"{', '.join(LEVELS)}")
    prerequisite_chapters, background = _parse_prerequisites(path, text, meta.get("prerequisites"))

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
    checklist_ids = [s.id for s in slots if isinstance(s, Checklist)]
    dupes = {c for c in checklist_ids if checklist_ids.count(c) > 1}
    if dupes:  # a tick is stored under its checklist's id: two lists would share ticks
        raise ContentError(f"{path.name}: checklist ids used twice: {sorted(dupes)}")
    heading_ids = set(re.findall(r'<h[1-6] id="([^"]+)"', rendered.html))
    for term, info in glossary_meta.items():
        if info.get("section") and info["section"] not in heading_ids:
            raise ContentError(f"{path.name} line {line_of(text, term + ':')}: glossary term {term!r} names "
                               f"section {info['section']!r}, which is not a heading id of this chapter; "
                               f"use one of {sorted(heading_ids)}")
    return Chapter(
        slug=slug, title=str(meta["title"]), order=meta["order"], minutes=meta["minutes"],
        objectives=list(objectives), glossary=glossary, path=path,
        html=rendered.html, toc=rendered.toc, slots=slots,
        objectives_html=[Markup(render_inline(o)) for o in objectives],
        glossary_html={k: Markup(render_inline(v)) for k, v in glossary.items()},
        glossary_meta=glossary_meta, sections=sections(rendered.html, str(meta["title"])),
        heading_ids=heading_ids, level=str(level), prerequisite_chapters=prerequisite_chapters,
        background=background, background_html=[Markup(render_inline(b)) for b in background],
    )


def _parse_prerequisites(path: Path, text: str, raw) -> tuple[list[str], list[str]]:
    """`prerequisites: {chapters: [slugs], background: [inline Markdown]}`; absent is allowed here
    (the checker asks for it), a wrong shape is an error."""
    if raw is None:
        return [], []
    where = f"{path.name} line {line_of(text, 'prerequisites:')}"
    if not isinstance(raw, dict) or set(raw) - {"chapters", "background"}:
        raise ContentError(f"{where}: prerequisites must be a mapping of `chapters` (slugs of earlier "
                           f"chapters) and `background` (what to know from outside the course)")
    chapters, background = raw.get("chapters") or [], raw.get("background") or []
    if not isinstance(chapters, list) or not all(isinstance(c, str) and SLUG_RE.fullmatch(c) for c in chapters):
        raise ContentError(f"{where}: prerequisites.chapters must be a list of chapter slugs, got {chapters!r}")
    if not isinstance(background, list) or not all(isinstance(b, str) and b.strip() for b in background):
        raise ContentError(f"{where}: prerequisites.background must be a list of non-empty strings")
    return list(chapters), [b.strip() for b in background]


REQUIRED_FIELDS = ("title", "slug", "order", "minutes", "objectives", "glossary")
LEVELS = ("introductory", "intermediate", "advanced")



def line_of(text: str, needle: str, default: int = 1) -> int:
    """The 1-based line of the first occurrence of needle in text."""
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else default


def _parse_glossary(path: Path, text: str, glossary) -> tuple[dict[str, str], dict[str, dict]]:
    if not isinstance(glossary, dict):
        raise ContentError(f"{path.name} line {line_of(text, 'glossary:')}: glossary must map terms to "
                           f"definitions, as in `  warmup: A first phase in which ...`")
    definitions, meta = {}, {}
    for term, value in glossary.items():
        term = str(term)
        where = f"{path.name} line {line_of(text, term + ':')}"
        info = {}
        if isinstance(value, dict):
            unknown = set(value) - {"definition", "section", "aliases"}
            if unknown:
                raise ContentError(f"{where}: glossary term {term!r} has unknown keys {sorted(unknown)}; "
                                   f"allowed: definition, section, aliases")
            aliases = value.get("aliases") or []
            if isinstance(aliases, str):
                aliases = [aliases]
            if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
                raise ContentError(f"{where}: glossary term {term!r}: aliases must be a list of words")
            section = value.get("section")
            if section is not None and (not isinstance(section, str) or not section.strip()):
                raise ContentError(f"{where}: glossary term {term!r}: section must be a heading id")
            info = {"aliases": [a.strip() for a in aliases], "section": section}
            value = value.get("definition")
        if not isinstance(value, str) or not value.strip():
            raise ContentError(f"{where}: glossary term {term!r} has no definition; write "
                               f"`  {term}: <a one-sentence definition>`")
        definitions[term] = value.strip()
        meta[term] = info
    return definitions, meta


def _slot(path: Path, d: Directive, offset: int, seen: dict[str, int]):
    line = d.line + offset
    if d.kind == "widget":
        seen[d.name] = seen.get(d.name, 0) + 1
        n = seen[d.name]
        return WidgetUse(d.name, dict(d.data), d.name if n == 1 else f"{d.name}-{n}", line)
    if d.kind == "checklist":
        ordered, items = d.data
        return Checklist(d.name, tuple(Markup(i) for i in items), ordered, line)
    try:
        return parse_quiz(d.data, f"{path.name} line {line}")
    except QuizFormatError as exc:
        raise ContentError(str(exc)) from None


class Course:
    """Every chapter, sorted by order."""

    def __init__(self, chapters: list[Chapter], broken: dict[str, str] | None = None):
        self.chapters = sorted(chapters, key=lambda c: (c.order, c.slug))
        # slug (from the file name) -> why the file does not load, for files never loaded
        self.broken = dict(broken or {})
        self.by_slug = {c.slug: c for c in self.chapters}
        self.glossary = build_glossary(self.chapters)  # app.course.glossary.Entry, alphabetical
        self.glossary_by_slug = {e.slug: e for e in self.glossary}
        for chapter in self.chapters:
            chapter.linked_html = link_terms(chapter.html, self.glossary)
        self._search_index = None

    @property
    def search_index(self):
        if self._search_index is None:
            self._search_index = SearchIndex(self)
        return self._search_index

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


def load_course(content_dir: Path) -> Course:
    """The course under content_dir/chapters, loaded now, every time (a chapter that does not
    load is listed in Course.broken). The web app keeps a CourseLoader instead, which reloads
    only what changed."""
    from app.course.loader import CourseLoader  # the loader builds on this module

    return CourseLoader(content_dir).course()
