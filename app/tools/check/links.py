"""Internal links in chapters: every href="/..." or "#..." must lead somewhere real.

The pages a link may name come from the app's routers, and the fixed ids a chapter page
has come from its templates, so renaming a route or a template id cannot silently break
this check.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from app.course.content import Chapter, Course, line_of
from app.course.glossary import term_slug
from app.settings import Settings

HREF_RE = re.compile(r'href="([^"]*)"')
FIXED_ID_RE = re.compile(r'\bid="([A-Za-z][\w-]*)"')  # literal ids only, not id="{{ ... }}"
CHAPTER_PAGE_TEMPLATES = ("base.html", "chapter.html")


@lru_cache(maxsize=1)
def static_pages() -> frozenset[str]:
    """Every GET route without a path parameter: the pages a link may point at."""
    from app.main import routers

    return frozenset(route.path for router in routers() for route in router.routes
                     if "GET" in getattr(route, "methods", ()) and "{" not in route.path)


def page_ids(templates_dir: Path) -> set[str]:
    """The fixed ids of a chapter page (the layout's and the chapter template's)."""
    ids = set()
    for name in CHAPTER_PAGE_TEMPLATES:
        ids |= set(FIXED_ID_RE.findall((templates_dir / name).read_text(encoding="utf-8")))
    return ids


def chapter_ids(chapter: Chapter, fixed: set[str]) -> set[str]:
    """Every anchor a link into this chapter may name."""
    ids = set(chapter.heading_ids) | set(re.findall(r'\bid="([^"]+)"', chapter.html)) | fixed
    for quiz in chapter.quizzes.values():
        ids |= {f"quiz-{quiz.id}", f"quiz-{quiz.id}-feedback"}
    for use in chapter.widgets:
        ids |= {use.instance, f"{use.instance}-chart", f"{use.instance}-result"}
    for checklist in chapter.checklists.values():
        ids |= {checklist.anchor, f"{checklist.anchor}-status"}
    ids |= {term_slug(t) for t in chapter.glossary}
    return ids


def _hrefs(chapter: Chapter) -> list[str]:
    pieces = [chapter.html, *map(str, chapter.objectives_html), *map(str, chapter.glossary_html.values()),
              *map(str, chapter.background_html)]
    for quiz in chapter.quizzes.values():
        pieces += [str(quiz.question_html), str(quiz.hint_html), str(quiz.recipe_html)]
        for o in quiz.options:
            pieces += [str(o.text_html), str(o.feedback_html)]
    for checklist in chapter.checklists.values():  # filled in per request: not in chapter.html
        pieces += map(str, checklist.items)
    return [h for piece in pieces for h in HREF_RE.findall(piece)]


def link_problems(course: Course, chapter: Chapter, text: str, registry, settings: Settings) -> list[str]:
    """One sentence per broken internal link in the chapter (file and line included); the
    settings say where the static files and the templates are."""
    static_dir = settings.static_dir
    fixed = page_ids(settings.templates_dir)
    glossary_ids = {e.slug for e in course.glossary} | {f"letter-{e.letter.lower()}" for e in course.glossary}
    glossary_ids |= {"letter-other"}
    problems = []
    seen = set()
    for href in _hrefs(chapter):
        if href in seen or not (href.startswith("#") or (href.startswith("/") and not href.startswith("//"))):
            continue
        seen.add(href)
        problem = _link_problem(href, course, chapter, registry, static_dir, fixed, glossary_ids)
        if problem:
            problems.append(f"{chapter.path.name} line {line_of(text, href.split('#')[0] or href)}: "
                            f"broken link {href}: {problem}")
    return problems


def _link_problem(href: str, course: Course, chapter: Chapter, registry, static_dir: Path,
                  fixed: set[str], glossary_ids: set[str]) -> str | None:
    parts = urlsplit(href)
    path, anchor = unquote(parts.path), unquote(parts.fragment)
    if href.startswith("#"):
        return None if anchor in chapter_ids(chapter, fixed) else f"no anchor #{anchor} in this chapter"
    if path.startswith("/chapters/"):
        target = course.get(path[len("/chapters/"):].rstrip("/"))
        if target is None:
            return (f"no chapter with slug {path[len('/chapters/'):]!r}; "
                    f"chapters: {', '.join(c.slug for c in course.chapters)}")
        if anchor and anchor not in chapter_ids(target, fixed):
            return (f"chapter {target.slug!r} has no anchor #{anchor} "
                    f"(its headings: {', '.join(sorted(target.heading_ids))})")
        return None
    if path == "/glossary":
        if anchor and anchor not in glossary_ids:
            return f"no glossary term with anchor #{anchor}; glossary anchors are term-<slug of the term>"
        return None
    if path.startswith("/widgets/") or path.startswith("/api/widgets/"):
        name = path.split("/")[3 if path.startswith("/api/") else 2]
        return None if name in registry else f"no widget named {name!r}; registered: {', '.join(registry)}"
    if path.startswith("/static/"):
        relative = path[len("/static/"):]
        return None if (static_dir / relative).is_file() else f"no file static/{relative}"
    if path.startswith("/vendor/") or path == "/" or path.rstrip("/") in static_pages():
        return None
    return "no such page in the course"
