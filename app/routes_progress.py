"""A learner's progress.

GET  /api/progress         JSON progress of this learner, per chapter
GET  /api/progress/export  everything kept about this learner, as a JSON download
POST /progress/reset       forget this learner's progress (visits and answers)
POST /progress/delete      delete everything kept about this learner, and the cookie
"""
from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from app.content import Course
from app.pages import course, is_htmx, progress_for, store
from app.progress import (COOKIE_NAME, ChapterProgress, ProgressStore, forget_learner_cookie, learner_id,
                          set_learner_cookie)

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


SEE_OTHER = {303: {"description": "Redirected to the chapter list"},
             200: {"description": "htmx: an empty body and HX-Redirect", "content": {"text/html": {}}}}


@router.post("/progress/reset", response_class=HTMLResponse, responses=SEE_OTHER)
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


@router.get("/api/progress/export")
def progress_export(request: Request, progress: ProgressStore = Depends(store)):
    """Everything kept about this learner, table by table, as stored: a download. A visitor
    without the cookie has nothing stored (and gets no cookie from asking)."""
    learner, is_new = learner_id(request)
    tables = {} if is_new else progress.export(learner)
    body = {"learner": None if is_new else learner, "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tables": tables}
    return JSONResponse(body, headers={"Content-Disposition": 'attachment; filename="my-course-data.json"',
                                       "Cache-Control": "no-store"})


@router.post("/progress/delete", response_class=HTMLResponse, responses=SEE_OTHER)
def progress_delete(request: Request, progress: ProgressStore = Depends(store)):
    """Delete every row kept under this learner's id, then expire the cookie."""
    learner, is_new = learner_id(request)
    if not is_new:
        progress.delete_learner(learner)
    if is_htmx(request):
        response = HTMLResponse("", headers={"HX-Redirect": "/?deleted=1"})
    else:
        response = RedirectResponse("/?deleted=1", status_code=303)
    return forget_learner_cookie(request, response) if COOKIE_NAME in request.cookies else response
