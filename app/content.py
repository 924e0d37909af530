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
        section: warmup               # the heading id where it is taught (see app/glossary.py)
        aliases: [warm-up]
    ---
    Markdown body (see app/markdown.py for the directives).

How to write a chapter: content/AUTHORING.md.

The cache is keyed by the chapter directory and each file's modification time, so an
edited chapter is picked up without restarting the server.
"""
from __future__ import annotations

import json
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
    glossary_meta: dict[str, dict] = field(default_factory=dict)  # term -> {section, aliases}
    sections: list = field(default_factory=list)  # app.glossary.Section, in page order
    linked_html: str = ""  # html with glossary terms linked (set by Course)
    heading_ids: set = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"/chapters/{self.slug}"

    @property
    def glossary_items(self) -> list[tuple[str, str, Markup]]:
        """(term, anchor id, definition HTML) for the chapter's key-terms box."""
        from app.glossary import term_slug

        return [(t, term_slug(t), self.glossary_html[t]) for t in self.glossary]

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
    from app.glossary import sections

    heading_ids = set(re.findall(r'<h[1-6] id="([^"]+)"', rendered.html))
    for term, info in glossary_meta.items():
        if info.get("section") and info["section"] not in heading_ids:
            raise ContentError(f"{path.name} line {_line_of(text, term + ':')}: glossary term {term!r} names "
                               f"section {info['section']!r}, which is not a heading id of this chapter; "
                               f"use one of {sorted(heading_ids)}")
    return Chapter(
        slug=slug, title=str(meta["title"]), order=meta["order"], minutes=meta["minutes"],
        objectives=list(objectives), glossary=glossary, path=path,
        html=rendered.html, toc=rendered.toc, slots=slots,
        objectives_html=[Markup(render_inline(o)) for o in objectives],
        glossary_html={k: Markup(render_inline(v)) for k, v in glossary.items()},
        glossary_meta=glossary_meta, sections=sections(rendered.html, str(meta["title"])),
        heading_ids=heading_ids,
    )


REQUIRED_FIELDS = ("title", "slug", "order", "minutes", "objectives", "glossary")


def _line_of(text: str, needle: str, default: int = 1) -> int:
    """The 1-based line of the first occurrence of needle in text."""
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else default


def _parse_glossary(path: Path, text: str, glossary) -> tuple[dict[str, str], dict[str, dict]]:
    if not isinstance(glossary, dict):
        raise ContentError(f"{path.name} line {_line_of(text, 'glossary:')}: glossary must map terms to "
                           f"definitions, as in `  warmup: A first phase in which ...`")
    definitions, meta = {}, {}
    for term, value in glossary.items():
        term = str(term)
        where = f"{path.name} line {_line_of(text, term + ':')}"
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
    try:
        return parse_quiz(d.data, f"{path.name} line {line}")
    except QuizFormatError as exc:
        raise ContentError(str(exc)) from None


class Course:
    """Every chapter, sorted by order."""

    def __init__(self, chapters: list[Chapter]):
        from app.glossary import build, link_terms

        self.chapters = sorted(chapters, key=lambda c: (c.order, c.slug))
        self.by_slug = {c.slug: c for c in self.chapters}
        self.glossary = build(self.chapters)  # app.glossary.Entry, alphabetical
        self.glossary_by_slug = {e.slug: e for e in self.glossary}
        for chapter in self.chapters:
            chapter.linked_html = link_terms(chapter.html, self.glossary)
        self._search_index = None

    @property
    def search_index(self):
        if self._search_index is None:
            from app.search import SearchIndex

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


def check_course(content_dir: Path, run_predictions: bool = False) -> list[str]:
    """Problems with the course content, as sentences (empty when all is well).

    The fast checks of `check_content` (predict questions are not run unless asked)."""
    return check_content(content_dir, run_predictions=run_predictions).problems


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    chapters: int = 0
    questions: int = 0
    widgets: int = 0  # widget directives
    predictions: int = 0  # predict questions whose check ran on the real widget

    def summary(self) -> str:
        return (f"content check: {self.chapters} chapters, {self.questions} questions, "
                f"{self.widgets} widgets: OK")


def check_content(content_dir: Path, run_predictions: bool = True, log=None,
                  cache_dir: Path | None = None) -> CheckReport:
    """Everything `python -m app check` checks, for authors:

    - every chapter loads: front matter fields, glossary definitions, Markdown, math, quiz
      format (a correct option, feedback for every option), predict syntax;
    - widget directives and predict questions name a registered widget with known,
      in-bounds parameters;
    - internal links (href="/..." or "#...", Markdown links too) point at a chapter, anchor,
      glossary term, widget or page that exists;
    - with run_predictions, every predict question's check holds on the real run (runs
      are recorded in cache_dir, when given, and reused while nothing they depend on changes).
    """
    from widgets.registry import all_widgets

    report = CheckReport()
    chapters_dir = Path(content_dir) / "chapters"
    files = sorted(chapters_dir.glob("*.md"))
    if not files:
        report.problems.append(f"{chapters_dir}: no chapter files (NN-slug.md) found")
        return report
    chapters = []
    for path in files:
        try:
            chapters.append(parse_chapter(path))
        except ContentError as exc:
            report.problems.append(str(exc))
    slugs = [c.slug for c in chapters]
    for slug in sorted({s for s in slugs if slugs.count(s) > 1}):
        names = [c.path.name for c in chapters if c.slug == slug]
        report.problems.append(f"{', '.join(names)}: slug {slug!r} is used by more than one chapter; "
                               f"give each chapter its own slug")
    course = Course(chapters)
    registry = all_widgets()
    report.chapters = len(files)
    report.questions = sum(len(c.quizzes) for c in chapters)
    report.widgets = sum(len(c.widgets) for c in chapters)

    runs: dict[str, list] = {}  # one real run per distinct (widget, params)
    for chapter in course.chapters:
        text = chapter.path.read_text(encoding="utf-8")
        for use in chapter.widgets:
            where = f"{chapter.path.name} line {use.line}"
            report.problems += _widget_problems(registry, use.name, use.overrides, where, "widget directive")
        for quiz in chapter.quizzes.values():
            if quiz.predict is None:
                continue
            where = f"{chapter.path.name} line {_line_of(text, 'id: ' + quiz.id)}"
            found = _widget_problems(registry, quiz.predict.widget, quiz.predict.params, where,
                                     f"predict question {quiz.id}")
            report.problems += found
            if not found:
                widget = registry[quiz.predict.widget]
                values = widget.canonicalize(quiz.predict.params)
                key = json.dumps([widget.name, values], sort_keys=True)
                runs.setdefault(key, [widget, values, []])[2].append((where, quiz))
        report.problems += _link_problems(course, chapter, text, registry)

    if run_predictions:
        for widget, values, questions in runs.values():
            report.problems += _prediction_problems(widget, values, questions, log, cache_dir)
            report.predictions += len(questions)
    return report


def _widget_problems(registry, name: str, overrides: dict, where: str, what: str) -> list[str]:
    from widgets.base import ParamError

    widget = registry.get(name)
    if widget is None:
        return [f"{where}: {what}: no widget named {name!r}; registered widgets: "
                f"{', '.join(registry) or 'none'}. Fix the name, or register the widget first "
                f"(widgets/<name>.py; /widgets lists them)"]
    problems = []
    unknown = set(overrides) - {p.name for p in widget.params}
    if unknown:
        problems.append(f"{where}: {what}: widget {name} has no parameters {sorted(unknown)}; "
                        f"its parameters are {', '.join(p.name for p in widget.params)}")
    try:
        widget.canonicalize(overrides)
    except ParamError as exc:
        problems.append(f"{where}: {what}: widget {name}: {exc.message}")
    return problems


HREF_RE = re.compile(r'href="([^"]*)"')
STATIC_PAGES = {"/", "/glossary", "/search", "/widgets", "/api/chapters", "/api/glossary",
                "/api/search", "/api/widgets", "/api/progress"}


def _chapter_ids(chapter: Chapter) -> set[str]:
    from app.glossary import term_slug

    ids = set(chapter.heading_ids) | set(re.findall(r'\bid="([^"]+)"', chapter.html))
    ids |= {"main", "objectives-title", "toc-title", "glossary-title"}
    for quiz in chapter.quizzes.values():
        ids |= {f"quiz-{quiz.id}", f"quiz-{quiz.id}-feedback"}
    for use in chapter.widgets:
        ids |= {use.instance, f"{use.instance}-chart", f"{use.instance}-result"}
    ids |= {term_slug(t) for t in chapter.glossary}
    return ids


def _link_problems(course: Course, chapter: Chapter, text: str, registry) -> list[str]:
    from urllib.parse import unquote, urlsplit

    from app.settings import Settings

    pieces = [chapter.html, *map(str, chapter.objectives_html), *map(str, chapter.glossary_html.values())]
    for quiz in chapter.quizzes.values():
        pieces.append(str(quiz.question_html))
        for o in quiz.options:
            pieces += [str(o.text_html), str(o.feedback_html)]
    glossary_ids = {e.slug for e in course.glossary} | {f"letter-{e.letter.lower()}" for e in course.glossary}
    glossary_ids |= {"letter-other"}
    problems = []
    seen = set()
    for href in (h for piece in pieces for h in HREF_RE.findall(piece)):
        if href in seen or not (href.startswith("#") or (href.startswith("/") and not href.startswith("//"))):
            continue
        seen.add(href)
        parts = urlsplit(href)
        path, anchor = unquote(parts.path), unquote(parts.fragment)
        problem = None
        if href.startswith("#"):
            if anchor not in _chapter_ids(chapter):
                problem = f"no anchor #{anchor} in this chapter"
        elif path.startswith("/chapters/"):
            target = course.get(path[len("/chapters/"):].rstrip("/"))
            if target is None:
                problem = (f"no chapter with slug {path[len('/chapters/'):]!r}; "
                           f"chapters: {', '.join(c.slug for c in course.chapters)}")
            elif anchor and anchor not in _chapter_ids(target):
                problem = f"chapter {target.slug!r} has no anchor #{anchor} (its headings: {', '.join(sorted(target.heading_ids))})"
        elif path == "/glossary":
            if anchor and anchor not in glossary_ids:
                problem = f"no glossary term with anchor #{anchor}; glossary anchors are term-<slug of the term>"
        elif path.startswith("/widgets/") or path.startswith("/api/widgets/"):
            name = path.split("/")[3 if path.startswith("/api/") else 2]
            if name not in registry:
                problem = f"no widget named {name!r}; registered: {', '.join(registry)}"
        elif path.startswith("/static/"):
            if not (Settings().static_dir / path[len("/static/"):]).is_file():
                problem = f"no file static/{path[len('/static/'):]}"
        elif path.rstrip("/") not in STATIC_PAGES and path != "/" and not path.startswith("/vendor/"):
            problem = "no such page in the course"
        if problem:
            problems.append(f"{chapter.path.name} line {_line_of(text, href.split('#')[0] or href)}: "
                            f"broken link {href}: {problem}")
    return problems


def _run_cache_file(widget, values: dict, cache_dir: Path | None) -> Path | None:
    """Where a real run's data is recorded: keyed by widget, parameters, seed, the hash of
    every widget source file, torch version and device (runs are deterministic given these)."""
    if cache_dir is None:
        return None
    import hashlib

    import torch

    from app.cache import cache_key
    from widgets.lab.trainer import default_device

    key = f"{cache_key(widget.name, values, widget.seed)}|{torch.__version__}|{default_device()}"
    return Path(cache_dir) / f"{widget.name}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"


def _prediction_problems(widget, values: dict, questions: list, log=None,
                         cache_dir: Path | None = None) -> list[str]:
    from app.expr import ExprError, evaluate, explain, names_for

    import time

    started = time.monotonic()
    cache_file = _run_cache_file(widget, values, cache_dir)
    data = None
    if cache_file is not None and cache_file.is_file():
        try:
            data = json.loads(cache_file.read_text())
        except ValueError:
            data = None
    how = "reused the recorded run of" if data is not None else "ran"
    if data is None:
        try:
            data = widget.compute(values)
        except Exception as exc:  # a widget that fails is itself a problem to report
            return [f"{where}: predict question {quiz.id}: running widget {widget.name} failed: {exc!r}"
                    for where, quiz in questions]
        if cache_file is not None:
            try:
                cache_file.parent.mkdir(parents=True, exist_ok=True)
                cache_file.write_text(json.dumps(data))
            except (OSError, ValueError):
                pass
    if log:
        log(f"  {how} {widget.name} {values} for {', '.join(q.id for _, q in questions)} "
            f"({time.monotonic() - started:.1f} s)")
    names = names_for(data, values)
    problems = []
    for where, quiz in questions:
        for check in quiz.predict.checks:
            try:
                ok = evaluate(check, names)
            except ExprError as exc:
                problems.append(f"{where}: predict question {quiz.id}: the check {check!r} cannot be "
                                f"evaluated on the real run: {exc}")
                continue
            if not isinstance(ok, bool):
                problems.append(f"{where}: predict question {quiz.id}: the check {check!r} must be a "
                                f"comparison (true or false), it gives {ok!r}")
            elif not ok:
                problems.append(f"{where}: predict question {quiz.id}: the check is FALSE on the real run "
                                f"of {widget.name}: {explain(check, names)}. The correct option must be "
                                f"true of the real run: fix the option (and its check), or the parameters")
    return problems
