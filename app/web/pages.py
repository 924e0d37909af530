"""What every page route shares: the course, the widgets, the learner's store, the sidebar,
rendering, and noticing a client that left.

Routes get what the app owns (app/main.py builds it on app.state) through FastAPI
dependencies: `Depends(course)`, `Depends(exercises)`, `Depends(widget_registry)`,
`Depends(store)`, so a test can swap any of them.
"""
from __future__ import annotations

from typing import AsyncIterator

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse

from app.course.checklist import Checklist
from app.course.content import BrokenChapter, Chapter, Course
from app.course.exercises import Exercise
from app.course.quiz import Quiz
from app.learning.progress import ChapterProgress, ProgressStore
from app.web.errors import is_htmx  # noqa: F401  (routes import it from here: htmx wants a fragment)
from app.web.learner import learner_id, store_for
from widgets.base import Widget


def course(request: Request) -> Course:
    """The course as it is on disk now (reloaded when a chapter file changes)."""
    return request.app.state.course.course()


def exercises(request: Request) -> dict[str, Exercise]:
    """The coding exercises as they are on disk now, by id."""
    return request.app.state.course.exercises()


def widget_registry(request: Request) -> dict[str, Widget]:
    """The app's widgets by name (every widget module found, or a test's own set)."""
    return request.app.state.widgets


async def store(request: Request) -> AsyncIterator[ProgressStore]:
    """This request's progress store: one connection, taken from the pool on first use and
    handed back when the request ends (create_app makes this a dependency of every route).
    Asynchronous because it does no I/O: a plain generator is run in the thread pool, a hop
    there and back around every request (a fifth of a small request's time in the web process)."""
    progress = store_for(request)
    try:
        yield progress
    finally:
        progress.close()  # back to the pool: no I/O


def chapter_or_404(course: Course, slug: str) -> Chapter:
    """The chapter; HTTPException 404, or BrokenChapter (a 500) for a file that does not load."""
    chapter = course.get(slug)
    if chapter is None and slug in course.broken:
        raise BrokenChapter(slug, course.broken[slug])
    if chapter is None:
        raise HTTPException(404, f"no chapter {slug[:64]!r}")
    return chapter


def _part_or_404(chapter: Chapter, parts: dict, kind: str, key: str):
    """chapter's part `key` of this kind, or a 404 that lists the ones it has."""
    part = parts.get(key)
    if part is None:
        raise HTTPException(404, f"chapter {chapter.slug!r} has no {kind} {key[:64]!r}; it has {sorted(parts)}")
    return part


def quiz_or_404(chapter: Chapter, qid: str) -> Quiz:
    return _part_or_404(chapter, chapter.quizzes, "question", qid)


def checklist_or_404(chapter: Chapter, checklist_id: str) -> Checklist:
    return _part_or_404(chapter, chapter.checklists, "checklist", checklist_id)


def progress_for(request: Request, course: Course) -> dict[str, ChapterProgress]:
    """This learner's progress per chapter slug (empty for a learner seen for the first time)."""
    learner, is_new = learner_id(request)
    if is_new:
        return {}
    questions = {c.slug: set(c.quizzes) for c in course.chapters}
    return store_for(request).summary(learner, questions)


def exercise_tally(request: Request) -> dict[str, dict]:
    """chapter slug -> {"solved", "attempts", "total"} of its coding exercises, for this learner."""
    learner, is_new = learner_id(request)
    mine = {} if is_new else store_for(request).exercises(learner)
    tally: dict[str, dict] = {}
    for exercise in exercises(request).values():
        t = tally.setdefault(exercise.chapter, {"solved": 0, "attempts": 0, "total": 0})
        p = mine.get(exercise.id)
        t["total"] += 1
        t["solved"] += int(bool(p and p.solved))
        t["attempts"] += p.attempts if p else 0
    return tally


def sidebar_context(request: Request, current: str | None = None) -> dict:
    """What _sidebar.html needs; pass it to any page that extends base.html."""
    loaded = course(request)
    from app.web.views.class_poll import class_banner

    return {"chapters": loaded.chapters, "current_slug": current,
            "progress": progress_for(request, loaded), "exercise_tally": exercise_tally(request),
            "class_banner": class_banner(request, loaded)}


# Pages whose own script draws with Plotly as soon as the page has loaded (static/exercises.js
# on "train with your code"); every other chart waits for static/charts.js to fetch Plotly.
PLOTLY_AT_LOAD = {"exercise_train.html"}


def render_page(request: Request, template: str, context: dict, status_code: int = 200) -> HTMLResponse:
    """A whole page from `template`, with the learner cookie set when this request made one."""
    context = {"plotly_at_load": template in PLOTLY_AT_LOAD, **context}
    response = request.app.state.templates.TemplateResponse(request, template, context,
                                                             status_code=status_code)
    return response


def render_fragment(request: Request, template: str, context: dict, status_code: int = 200) -> HTMLResponse:
    """A partial template (for htmx), with the learner cookie set when this request made one."""
    html = request.app.state.templates.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code)
