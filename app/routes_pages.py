"""Pages: the chapter list, chapters, quizzes and progress. (Placeholder until the content pipeline lands.)"""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def index(request: Request):
    """The chapter list."""
    return request.app.state.templates.TemplateResponse(request, "base.html", {})
