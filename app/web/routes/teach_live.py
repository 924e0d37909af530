"""The teacher's live view of a class, its predict runs and its exports (issue 24).

GET /teach/{class_id}/live               Server-Sent Events: the parts of the view that changed
                                         (app/web/views/class_live.py: bounded per class and in time)
GET /teach/{class_id}/run/{slug}/{qid}   a predict question's real run, as a fragment (loaded
                                         when the teacher opens it, so the page starts no run)
GET /teach/{class_id}/export.csv         the class's answers counted: no learner id, no alias
GET /teach/{class_id}/export.json        the same as JSON

All need the class's teacher token (403 otherwise).
"""
from __future__ import annotations

import asyncio
import re

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse

from app.course.content import Course
from app.learning.progress import ProgressStore
from app.web.pages import course, store
from app.web.teacher_auth import TEACHER_RESPONSES as RESPONSES, teacher_token
from app.web.views.class_export import export_csv, export_json, export_rows
from app.web.views.class_live import live_events, live_views
from app.web.views.class_poll import find_question
from app.web.views.class_teacher import live_fragments
from app.web.views.quiz import predict_html

router = APIRouter()
STREAM = {200: {"description": "The event stream: update (element id -> HTML), reload, bye",
                "content": {"text/event-stream": {"schema": {"type": "string"}}}}}


@router.get("/teach/{class_id}/live", responses={**STREAM, **{k: RESPONSES[k] for k in (403, 429)}})
async def live(request: Request, class_id: str, loaded: Course = Depends(course),
               progress: ProgressStore = Depends(store)):
    """The live view's updates, as they happen (bounded: see app/web/views/class_live.py)."""
    await asyncio.to_thread(teacher_token, request, progress, class_id)
    progress.close()  # the stream keeps its own connection, for as long as it lasts
    views = live_views(request)
    views.check_room(class_id)  # 429 before the response starts

    async def body():
        own = ProgressStore(request.app.state.progress_db)
        try:
            with views.slot(class_id):
                async for chunk in live_events(request, lambda: own.class_version(class_id),
                                               lambda: live_fragments(request, loaded, own, class_id)):
                    yield chunk
        finally:
            own.close()

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/teach/{class_id}/run/{slug}/{qid}", response_class=HTMLResponse, responses=RESPONSES)
def predict_run(request: Request, class_id: str, slug: str, qid: str, loaded: Course = Depends(course),
                progress: ProgressStore = Depends(store)):
    """The real run of a predict question, to show beside the class's predictions."""
    teacher_token(request, progress, class_id)
    found = find_question(loaded, slug, qid)
    if found is None or found[1].predict is None:
        raise HTTPException(404, "no such predict question")
    return HTMLResponse(predict_html(request, found[1]) or "", headers={"Cache-Control": "no-store"})


def _export(request: Request, class_id: str, loaded: Course, progress: ProgressStore):
    info, _ = teacher_token(request, progress, class_id)
    return info, export_rows(loaded, progress, class_id)


def _download(name: str, info) -> dict:
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", info.name).strip("-")[:40] or "class"
    return {"Content-Disposition": f'attachment; filename="{safe}-answers.{name}"', "Cache-Control": "no-store"}


@router.get("/teach/{class_id}/export.csv", response_class=PlainTextResponse, responses={
    **RESPONSES, 200: {"description": "The counts, one per row (app/web/views/class_export.py)",
                       "content": {"text/csv": {"schema": {"type": "string"}}}}})
def export_class_csv(request: Request, class_id: str, loaded: Course = Depends(course),
                     progress: ProgressStore = Depends(store)):
    """The class's answers counted, as CSV: no learner id, no alias."""
    info, rows = _export(request, class_id, loaded, progress)
    return PlainTextResponse(export_csv(rows), media_type="text/csv; charset=utf-8", headers=_download("csv", info))


@router.get("/teach/{class_id}/export.json", responses=RESPONSES)
def export_class_json(request: Request, class_id: str, loaded: Course = Depends(course),
                      progress: ProgressStore = Depends(store)):
    """The class's answers counted, as JSON: no learner id, no alias."""
    info, rows = _export(request, class_id, loaded, progress)
    body = export_json(info, len(progress.members(class_id)), rows)
    return JSONResponse(body, headers=_download("json", info))
