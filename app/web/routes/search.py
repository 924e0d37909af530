"""Search over chapters and the glossary.

GET /search?q=...       results page with highlighted snippets (htmx gets only the list)
GET /api/search?q=...   the same as JSON
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from app.course.content import Course
from app.web.pages import course, is_htmx, render_fragment, render_page, sidebar_context

from app.course.search import MAX_QUERY, validate_query
from widgets.base import ParamError

router = APIRouter()


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, q: str | None = None, loaded: Course = Depends(course)):
    """Search results with highlighted snippets. htmx (the header box) gets only the list."""
    if is_htmx(request):
        if q is None or not q.strip():
            return HTMLResponse("")
        error = validate_query(q)
        hits = [] if error else loaded.search_index.search(q, limit=8)
        return render_fragment(request, "_search_results.html",
                               {"q": q, "hits": hits, "error": error, "compact": True},
                               status_code=422 if error else 200)
    context = sidebar_context(request)
    if q is None:  # the bare search page
        context.update(q="", hits=[], error=None, searched=False)
        return render_page(request, "search.html", context)
    error = validate_query(q)
    hits = [] if error else loaded.search_index.search(q)
    context.update(q=q[:200], hits=hits, error=error, searched=True)
    return render_page(request, "search.html", context, status_code=422 if error else 200)


@router.get("/api/search")
def search_api(q: str | None = None, loaded: Course = Depends(course)):
    """{"query", "results": [{kind, title, context, url, chapter, score, snippet}]}."""
    error = validate_query(q)
    if error:
        raise ParamError("q", "" if q is None else q[:64], f"1 to {MAX_QUERY} characters", error)
    hits = loaded.search_index.search(q)
    return {"query": q, "count": len(hits), "results": [h.as_dict() for h in hits]}
