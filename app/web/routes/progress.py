"""A learner's progress.

GET  /api/progress         JSON progress of this learner, per chapter: first answers, hints, every
                           question's record, checklist ticks
GET  /api/progress/export  everything kept about this learner, as a JSON download
POST /progress/checklist/{slug}/{checklist}
                           save which items of a chapter's checklist are ticked: htmx gets the
                           "n of N checked" fragment, a plain form POST is redirected back
GET  /progress/reset       asks first: a form with a box to tick
POST /progress/reset       forget this learner's progress (visits, answers, hints, exercises, ticks,
                           review cards),
                           once confirmed (confirm=yes; without it, the question again, 422)
GET  /progress/delete      asks first
POST /progress/delete      delete everything kept about this learner, and the cookie, once confirmed
"""
from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from app.web.views.checklist import parse_items
from app.course.content import Course
from app.web.limits import read_form
from app.web.pages import (checklist_or_404, chapter_or_404, course, is_htmx, progress_for, render_fragment,
                           render_page, sidebar_context, store)
from app.learning.progress import ChapterProgress, ProgressStore
from app.web.learner import COOKIE_NAME, forget_learner_cookie, learner_id, no_learner_cookie, store_for

router = APIRouter()


@router.get("/api/progress")
def progress_api(request: Request, loaded: Course = Depends(course)):
    """This learner's progress per chapter: questions scored on first answers ("first_correct"),
    how many first answers were given with a hint open ("hint_used"), each question's record
    ("quizzes"), and checklist ticks."""
    progress = progress_for(request, loaded)
    learner, is_new = learner_id(request)
    ticks = {} if is_new else store_for(request).ticks(learner)
    records = {} if is_new else store_for(request).quiz_records(learner)
    body = {}
    for c in loaded.chapters:
        p = progress.get(c.slug, ChapterProgress())
        mine = ticks.get(c.slug, {})
        answered = records.get(c.slug, {})
        body[c.slug] = {"visited": p.visited, "answered": p.answered, "first_correct": p.first_correct,
                        "hint_used": p.hint_used, "questions": len(c.quizzes),
                        "quizzes": {q.id: answered[q.id].as_dict(q.max_attempts)
                                    for q in c.quizzes.values() if q.id in answered},
                        "checklists": {k.id: {"ticked": sorted(k.known(mine.get(k.id, ()))), "items": len(k.items)}
                                       for k in c.checklists.values()}}
    return JSONResponse(body)


CHECKLIST_FORM = {"requestBody": {"required": False, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "properties": {"item": {
        "type": "array", "items": {"type": "string", "pattern": "^[0-9]{1,3}$"},
        "description": "a ticked item's number (1 to the number of items), repeated; "
                       "an item left out is unticked"}}}}}}}
CHECKLIST_SEE_OTHER = {303: {"description": "A plain form post: redirected to the checklist on its page"}}


@router.post("/progress/checklist/{slug}/{checklist}", response_class=HTMLResponse,
             openapi_extra=CHECKLIST_FORM, responses=CHECKLIST_SEE_OTHER)
async def checklist_form(request: Request, slug: str, checklist: str, loaded: Course = Depends(course),
                         progress: ProgressStore = Depends(store)):
    """Save the ticked items of a checklist (field `item`, repeated; the form sends them all).

    htmx requests get the "n of N checked" fragment; a plain form POST is redirected (303) to
    the checklist on the chapter page, which shows the saved ticks."""
    values = [value for key, value in await read_form(request) if key == "item"]
    # SQLite off the event loop, as for a quiz answer: no stream waits behind the write
    return await asyncio.to_thread(_save_ticks, request, slug, checklist, values, loaded, progress)


def _save_ticks(request: Request, slug: str, checklist_id: str, values: list[str], loaded: Course,
                progress: ProgressStore):
    chapter = chapter_or_404(loaded, slug)
    checklist = checklist_or_404(chapter, checklist_id)
    ticked = parse_items(checklist, values)
    learner, _ = learner_id(request)
    progress.set_ticks(learner, chapter.slug, checklist.id, ticked)
    if is_htmx(request):
        return render_fragment(request, "_checklist_status.html", {"checklist": checklist, "ticked": ticked,
                                                                   "saved": True})
    return RedirectResponse(f"{chapter.url}#{checklist.anchor}", status_code=303)


SEE_OTHER = {303: {"description": "Redirected to the chapter list"},
             200: {"description": "htmx: an empty body and HX-Redirect", "content": {"text/html": {}}},
             422: {"description": "Not confirmed: the confirmation page again, saying what is missing"}}
CONFIRM_FORM = {"requestBody": {"required": False, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "properties": {"confirm": {"type": "string", "enum": ["yes"],
                                                 "description": "the ticked confirmation box"}}}}}}}
# what each action asks before it acts: (title, what it does, the box's label, the button)
CONFIRM = {
    "reset": ("Reset your progress?", "This forgets the chapters you opened, every answer and hint, your "
              "exercise attempts, your checklist ticks and your review schedule. Your anonymous id stays.",
              "Yes, forget my progress", "Reset my progress"),
    "delete": ("Delete everything stored about you?", "This deletes every row kept under your anonymous id, "
               "in every table, and the cookie that holds the id. It cannot be undone.",
               "Yes, delete everything stored about me", "Delete everything"),
}


def confirm_page(request: Request, action: str, missing: bool = False) -> HTMLResponse:
    """The page that asks before a reset or a delete: a form with a box to tick (no JavaScript
    needed)."""
    title, text, box, button = CONFIRM[action]
    context = sidebar_context(request)
    context.update(action=action, title=title, text=text, box=box, button=button, missing=missing)
    return render_page(request, "confirm.html", context, status_code=422 if missing else 200)


async def confirmed(request: Request) -> bool:
    return ("confirm", "yes") in await read_form(request)


def _back_home(request: Request, url: str):
    if is_htmx(request):
        return HTMLResponse("", headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


@router.get("/progress/reset", response_class=HTMLResponse)
def progress_reset_page(request: Request):
    """Asks before forgetting this learner's progress."""
    return confirm_page(request, "reset")


@router.post("/progress/reset", response_class=HTMLResponse, responses=SEE_OTHER, openapi_extra=CONFIRM_FORM)
async def progress_reset(request: Request, progress: ProgressStore = Depends(store)):
    """Forget this learner's visits, answers and hints, exercise attempts and checklist ticks,
    once confirmed (field `confirm=yes`)."""
    if not await confirmed(request):
        return confirm_page(request, "reset", missing=True)
    learner, is_new = learner_id(request)
    if not is_new:
        await asyncio.to_thread(progress.reset, learner)
    return _back_home(request, "/?reset=1")


@router.get("/progress/delete", response_class=HTMLResponse)
def progress_delete_page(request: Request):
    """Asks before deleting everything kept about this learner."""
    return confirm_page(request, "delete")


@router.get("/api/progress/export")
def progress_export(request: Request, progress: ProgressStore = Depends(store)):
    """Everything kept about this learner, table by table, as stored: a download. A visitor
    without the cookie has nothing stored (and gets no cookie from asking)."""
    no_learner_cookie(request)
    learner, is_new = learner_id(request)
    tables = {} if is_new else progress.export(learner)
    body = {"learner": None if is_new else learner, "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tables": tables}
    return JSONResponse(body, headers={"Content-Disposition": 'attachment; filename="my-course-data.json"',
                                       "Cache-Control": "no-store"})


@router.post("/progress/delete", response_class=HTMLResponse, responses=SEE_OTHER, openapi_extra=CONFIRM_FORM)
async def progress_delete(request: Request, progress: ProgressStore = Depends(store)):
    """Delete every row kept under this learner's id, then expire the cookie, once confirmed
    (field `confirm=yes`)."""
    if not await confirmed(request):
        return confirm_page(request, "delete", missing=True)
    learner, is_new = learner_id(request)
    if not is_new:
        await asyncio.to_thread(progress.delete_learner, learner)
    response = _back_home(request, "/?deleted=1")
    return forget_learner_cookie(request, response) if COOKIE_NAME in request.cookies else response
