"""What a learner knows, from their review cards and answers (app/web/views/learning.py).

GET  /learning       per chapter the cards' retrievability and mastery, the calibration of
                     their confidence (a chart, its counts and Brier score), the predictions
                     they got wrong, and what is due
GET  /api/learning   the same as JSON
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from app.course.content import Course
from app.learning.progress import ProgressStore
from app.web.pages import course, render_page, sidebar_context, store
from app.web.views.learning import learning_context

router = APIRouter()


@router.get("/learning", response_class=HTMLResponse)
def learning_page(request: Request, loaded: Course = Depends(course), progress: ProgressStore = Depends(store)):
    """Your learning: retrievability and mastery per chapter, calibration, wrong predictions, what is due."""
    context = sidebar_context(request)
    context.update(learning_context(request, loaded, progress))
    return render_page(request, "learning.html", context)


@router.get("/api/learning")
def learning_api(request: Request, loaded: Course = Depends(course), progress: ProgressStore = Depends(store)):
    """The learning page as JSON: per chapter retrievability, mastery and due questions; the
    calibration (per confidence level: answers, share right) and its Brier score; the wrong
    predictions."""
    context = learning_context(request, loaded, progress)
    return JSONResponse({
        "now": context["now"].isoformat(), "cards": context["cards_total"], "due": context["due_total"],
        "chapters": [m.as_dict() for m in context["mastery"]],
        "calibration": context["calibration"].as_dict(),
        "wrong_predictions": [{"chapter": w.chapter.slug, "question_id": w.quiz_id, "url": w.url}
                              for w in context["wrong_predictions"]]})
