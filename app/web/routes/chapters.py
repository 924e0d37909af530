"""Chapters, each with a JSON twin.

GET  /                      the course at a glance: a live chart, start or continue, the chapters
GET  /chapters/{slug}       a chapter (records a visit)
GET  /api/chapters          JSON list of chapters
GET  /api/chapters/{slug}   JSON front matter, contents, questions (no answers) and rendered HTML
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse
from markupsafe import Markup

from app.web.views import widget as widget_view
from app.course.checklist import Checklist
from app.web.views.checklist import chapter_ticks, render_checklist
from app.web.views.exercise import chapter_exercises
from app.course.content import Chapter, Course, WidgetUse
from app.course.exercises import for_chapter
from app.course.markdown import fill_slots
from app.web.pages import chapter_or_404, course, exercises, render_page, sidebar_context, store
from app.learning.progress import ProgressStore
from app.web.learner import learner_id, store_for
from app.course.quiz import display_order
from app.course.recap import key_takeaways
from app.web.views.landing import landing_context
from app.web.views.learning import review_summary
from app.learning.quiz_record import QuestionRecord
from app.web.views.quiz import chapter_records, chapter_score, quiz_state, render_quiz

router = APIRouter()


def render_body(request: Request, chapter: Chapter, records: dict | None = None) -> Markup:
    """The chapter's HTML with its widgets, quizzes and checklists filled in for this request
    (`records`: this learner's quiz records of the chapter, when the caller has read them)."""
    if records is None:
        records = chapter_records(request, chapter)  # once per page, for every question
    score = chapter_score(request, chapter, records)
    ticks = chapter_ticks(request, chapter.slug) if chapter.checklists else {}

    def fill(kind: str, index: int) -> str:
        slot = chapter.slots[index]
        if isinstance(slot, WidgetUse):
            return str(widget_view.render_widget(request, slot.name, slot.overrides, slot.instance))
        if isinstance(slot, Checklist):
            return render_checklist(request, chapter, slot, ticks.get(slot.id, set()))
        return render_quiz(request, chapter, quiz_state(request, chapter, slot, records.get(slot.id, QuestionRecord())), score)

    return Markup(fill_slots(chapter.linked_html or chapter.html, fill))


@router.get("/", response_class=HTMLResponse)
def index(request: Request, loaded: Course = Depends(course)):
    """The course at a glance: a live chart, where to start (or continue), the chapters."""
    context = sidebar_context(request)
    context.update(landing_context(request, loaded, context["progress"]))
    context.update(review_summary(request, loaded, store_for(request)))  # due cards, mastery per chapter
    context["deleted"] = request.query_params.get("deleted") == "1"
    context["reset"] = request.query_params.get("reset") == "1"
    return render_page(request, "index.html", context)


@router.get("/chapters/{slug}", response_class=HTMLResponse)
def chapter_page(request: Request, slug: str, loaded: Course = Depends(course),
                 progress: ProgressStore = Depends(store)):
    """One chapter: header, glossary, contents, body with live widgets and quizzes."""
    chapter = loaded.get(slug)
    if chapter is None and slug in loaded.broken:
        chapter_or_404(loaded, slug)  # raises BrokenChapter: the error page for this chapter only
    if chapter is None:
        context = sidebar_context(request)
        context["slug"] = slug
        return render_page(request, "_not_found.html", context, status_code=404)
    learner, is_new = learner_id(request)
    if not is_new:  # only a learner who kept the cookie: a crawler's hits write nothing
        progress.record_visit(learner, chapter.slug)
    prev, nxt = loaded.neighbours(slug)
    context = sidebar_context(request, chapter.slug)
    prerequisites = [c for c in map(loaded.get, chapter.prerequisite_chapters) if c is not None]
    records = chapter_records(request, chapter)
    context.update(chapter=chapter, body=render_body(request, chapter, records), prev=prev, next=nxt,
                   prerequisites=prerequisites, score=chapter_score(request, chapter, records),
                   takeaways=key_takeaways(chapter),
                   exercises=chapter_exercises(request, chapter.slug, progress),
                   due_here=review_summary(request, loaded, progress)["mastery"][chapter.slug].due)
    return render_page(request, "chapter.html", context)


def chapter_exercise_list(request: Request, slug: str):
    return for_chapter(exercises(request), slug)


@router.get("/api/chapters")
def chapters_api(loaded: Course = Depends(course)):
    """Every chapter's front matter, URL, number of questions and widgets, in order."""
    return [c.summary() for c in loaded.chapters]


@router.get("/api/chapters/{slug}")
def chapter_api(request: Request, slug: str, loaded: Course = Depends(course)):
    """One chapter: front matter, contents, questions (without answers, options in this learner's
    order, each with its authored `index` to answer with) and rendered HTML."""
    chapter = chapter_or_404(loaded, slug)
    body = {**chapter.summary(), "toc": chapter.toc,
            "quizzes": [q.public(display_order(q, learner_id(request)[0], chapter.slug))
                        for q in chapter.quizzes.values()],
            "html": str(render_body(request, chapter)),
            # the learner's ticks are in /api/progress, beside the rest of their progress
            "checklists": [{"id": c.id, "items": [str(i) for i in c.items], "action": c.action(chapter.slug)}
                           for c in chapter.checklists.values()],
            "exercises": [{"id": e.id, "title": e.title, "api": f"/api/exercises/{e.id}"}
                          for e in chapter_exercise_list(request, chapter.slug)]}
    return JSONResponse(body)
