"""The course-wide reference pages: the glossary, and what the course leaves out.

GET /glossary        every term, alphabetical, with letter jump links and where it is taught
GET /api/glossary    the same as JSON
GET /not-covered     what the course does not cover, and where to read it (content/pages/not-covered.md)
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from app.course.content import Course
from app.course.markdown import render_markdown
from app.web.pages import course, render_page, sidebar_context

router = APIRouter()


@router.get("/glossary", response_class=HTMLResponse)
def glossary_page(request: Request, loaded: Course = Depends(course)):
    """Every term from every chapter's front matter, alphabetical, with letter jump links."""
    letters: dict[str, list] = {}
    for entry in loaded.glossary:
        letters.setdefault(entry.letter, []).append(entry)
    context = sidebar_context(request)
    context.update(entries=loaded.glossary, letters=letters)
    return render_page(request, "glossary.html", context)


@router.get("/api/glossary")
def glossary_api(loaded: Course = Depends(course)):
    """Every glossary term: definition, the chapter section that teaches it, other chapters."""
    return {"terms": [e.as_dict() for e in loaded.glossary]}


@router.get("/not-covered", response_class=HTMLResponse)
def not_covered_page(request: Request):
    """What the course does not cover, and where to read it."""
    path = request.app.state.settings.content_dir / "pages" / "not-covered.md"
    title, html = rendered_page(path, path.stat().st_mtime_ns)
    context = sidebar_context(request)
    context.update(title=title, html=html)
    return render_page(request, "page.html", context)


@lru_cache(maxsize=8)
def rendered_page(path: Path, mtime_ns: int) -> tuple[str, Markup]:
    """A Markdown page's title (its first heading) and HTML; re-rendered when the file changes."""
    text = path.read_text(encoding="utf-8")
    title = next((line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("# ")), path.stem)
    return title, Markup(render_markdown(text).html)
