"""The glossary: every term from every chapter's front matter.

GET /glossary        every term, alphabetical, with letter jump links and where it is taught
GET /api/glossary    the same as JSON
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from app.course.content import Course
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
