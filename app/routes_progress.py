"""A learner's progress.

GET  /api/progress      JSON progress of this learner, per chapter
POST /progress/reset    forget this learner's progress
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from app.content import Course
from app.pages import course, is_htmx, progress_for, store
from app.progress import ChapterProgress, ProgressStore, learner_id, set_learner_cookie

router = APIRouter()


@router.get("/api/progress")
def progress_api(request: Request, loaded: Course = Depends(course)):
    """This learner's progress per chapter."""
    progress = progress_for(request, loaded)
    body = {}
    for c in loaded.chapters:
        p = progress.get(c.slug, ChapterProgress())
        body[c.slug] = {"visited": p.visited, "answered": p.answered, "correct": p.correct,
                        "questions": len(c.quizzes)}
    return set_learner_cookie(request, JSONResponse(body))


@router.post("/progress/reset")
def progress_reset(request: Request, progress: ProgressStore = Depends(store)):
    """Forget this learner's visits and answers."""
    learner, is_new = learner_id(request)
    if not is_new:
        progress.reset(learner)
    if is_htmx(request):
        response = HTMLResponse("", headers={"HX-Redirect": "/"})
    else:
        response = RedirectResponse("/", status_code=303)
    return set_learner_cookie(request, response)
