"""Pages: the chapter list, chapters, quizzes and progress, each with a JSON twin.

GET  /                          chapter list with progress
GET  /chapters/{slug}           a chapter (records a visit)
POST /quiz/{slug}/{qid}         grade a form answer: htmx gets the feedback fragment,
                                a plain form POST is redirected back to the question
POST /api/quiz/{slug}/{qid}     JSON {"selected": [indices]} -> grade
GET  /api/chapters              JSON list of chapters
GET  /api/chapters/{slug}       JSON front matter + rendered HTML
POST /progress/reset            forget this learner's progress
GET  /api/progress              JSON progress of this learner
GET  /glossary                  every glossary term, alphabetical, with where it is taught
GET  /api/glossary              the same as JSON
GET  /search?q=...              search chapters and glossary (htmx gets the results fragment)
GET  /api/search?q=...          the same as JSON
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from markupsafe import Markup
from pydantic import BaseModel

from app import widget_view
from app.content import Chapter, Course, WidgetUse, load_course
from app.progress import ChapterProgress, learner_id, set_learner_cookie, store_for
from app.quiz import AnswerError, Grade, Quiz, grade
from app.search import validate_query
from widgets.base import ParamError

router = APIRouter()


# --- helpers ---------------------------------------------------------------------------
def course_for(request: Request) -> Course:
    return load_course(request.app.state.settings.content_dir)


def chapter_or_404(request: Request, slug: str) -> Chapter:
    chapter = course_for(request).get(slug)
    if chapter is None:
        raise HTTPException(404, f"no chapter {slug!r}")
    return chapter


def quiz_or_404(chapter: Chapter, qid: str) -> Quiz:
    quiz = chapter.quizzes.get(qid)
    if quiz is None:
        raise HTTPException(404, f"chapter {chapter.slug!r} has no question {qid!r}; "
                                 f"it has {sorted(chapter.quizzes)}")
    return quiz


def progress_for(request: Request, course: Course) -> dict[str, ChapterProgress]:
    learner, is_new = learner_id(request)
    if is_new:
        return {}
    questions = {c.slug: set(c.quizzes) for c in course.chapters}
    return store_for(request).summary(learner, questions)


def sidebar_context(request: Request, current: str | None = None) -> dict:
    """What _sidebar.html needs; pass it to any page that extends base.html."""
    course = course_for(request)
    return {"chapters": course.chapters, "current_slug": current,
            "progress": progress_for(request, course)}


def render_page(request: Request, template: str, context: dict, status_code: int = 200) -> HTMLResponse:
    response = request.app.state.templates.TemplateResponse(request, template, context,
                                                             status_code=status_code)
    return set_learner_cookie(request, response)


def render_quiz(request: Request, chapter: Chapter, quiz: Quiz, graded: Grade | None) -> str:
    template = request.app.state.templates.get_template("_quiz.html")
    return template.render(chapter=chapter, quiz=quiz, graded=graded,
                           score=_score(request, chapter),
                           predict_html=predict_html(request, quiz) if graded else None)


def predict_html(request: Request, quiz: Quiz) -> Markup | None:
    """The real run of a predict question's widget, to show beside the learner's prediction."""
    if quiz.predict is None:
        return None
    p = quiz.predict
    try:
        return widget_view.render_widget(request, p.widget, p.params, f"predict-{quiz.id}")
    except (KeyError, ParamError) as exc:  # `python -m app check` reports these to authors
        message = exc.message if isinstance(exc, ParamError) else f"no widget named {p.widget!r}"
        return Markup('<p class="widget-error" role="alert">The run cannot be shown: {}</p>').format(message)


def _score(request: Request, chapter: Chapter) -> dict:
    learner, is_new = learner_id(request)
    answers = {} if is_new else store_for(request).answers(learner, chapter.slug)
    correct = sum(1 for q in chapter.quizzes if q in answers and answers[q][1])
    return {"correct": correct, "answered": sum(1 for q in chapter.quizzes if q in answers),
            "total": len(chapter.quizzes)}


def render_body(request: Request, chapter: Chapter) -> Markup:
    """The chapter's HTML with its widgets and quizzes filled in for this request."""
    learner, is_new = learner_id(request)
    saved = {} if is_new else store_for(request).answers(learner, chapter.slug)

    def fill(kind: str, index: int) -> str:
        slot = chapter.slots[index]
        if isinstance(slot, WidgetUse):
            return str(widget_html(request, slot))
        graded = None
        if slot.id in saved:
            try:
                graded = grade(slot, saved[slot.id][0])
            except AnswerError:  # the question changed since it was answered
                graded = None
        return render_quiz(request, chapter, slot, graded)

    from app.markdown import fill_slots

    return Markup(fill_slots(chapter.linked_html or chapter.html, fill))


def widget_html(request: Request, use: WidgetUse) -> Markup:
    try:
        return widget_view.render_widget(request, use.name, use.overrides, use.instance)
    except NotImplementedError:  # the widget views are not written yet
        return Markup('<div class="widget-placeholder" data-widget="{}" id="widget-{}">'
                      'Widget <code>{}</code> is coming soon.</div>').format(use.name, use.instance, use.name)


# --- pages -----------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def index(request: Request):
    """The chapter list, with this learner's progress."""
    return render_page(request, "index.html", sidebar_context(request))


@router.get("/chapters/{slug}", response_class=HTMLResponse)
def chapter_page(request: Request, slug: str):
    """One chapter: header, glossary, contents, body with live widgets and quizzes."""
    course = course_for(request)
    chapter = course.get(slug)
    if chapter is None:
        context = sidebar_context(request)
        context["slug"] = slug
        return render_page(request, "_not_found.html", context, status_code=404)
    learner, _ = learner_id(request)
    store_for(request).record_visit(learner, chapter.slug)
    prev, nxt = course.neighbours(slug)
    context = sidebar_context(request, chapter.slug)
    context.update(chapter=chapter, body=render_body(request, chapter), prev=prev, next=nxt)
    return render_page(request, "chapter.html", context)


@router.post("/quiz/{slug}/{qid}", response_class=HTMLResponse)
async def quiz_form(request: Request, slug: str, qid: str):
    """Grade a form answer (field `choice`, repeated for checkboxes).

    htmx requests get the feedback fragment; a plain form POST is redirected (303) to the
    question on the chapter page, which shows the saved answer and its feedback."""
    chapter = chapter_or_404(request, slug)
    quiz = quiz_or_404(chapter, qid)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    choices = form.get("choice", [])
    htmx = request.headers.get("HX-Request") == "true"
    try:
        result = grade(quiz, choices)
    except AnswerError as exc:
        if htmx:
            html = Markup('<p class="quiz-error" role="alert">{}</p>').format(str(exc))
            return set_learner_cookie(request, HTMLResponse(html, status_code=422))
        raise HTTPException(422, str(exc)) from None
    learner, _ = learner_id(request)
    store_for(request).record_answer(learner, chapter.slug, quiz.id, list(result.selected), result.correct)
    if htmx:
        template = request.app.state.templates.get_template("_quiz_feedback.html")
        html = template.render(chapter=chapter, quiz=quiz, graded=result, score=_score(request, chapter),
                               oob=True, progress=progress_for(request, course_for(request)),
                               predict_html=predict_html(request, quiz))
        return set_learner_cookie(request, HTMLResponse(html))
    return set_learner_cookie(request, RedirectResponse(f"{chapter.url}#quiz-{quiz.id}", status_code=303))


class Answer(BaseModel):
    selected: list[Any]


@router.post("/api/quiz/{slug}/{qid}")
def quiz_api(request: Request, slug: str, qid: str, answer: Answer = Body(...)):
    """Grade {"selected": [indices]}: whether it is right, and feedback for every option."""
    chapter = chapter_or_404(request, slug)
    quiz = quiz_or_404(chapter, qid)
    try:
        result = grade(quiz, answer.selected)
    except AnswerError as exc:
        raise HTTPException(422, str(exc)) from None
    learner, _ = learner_id(request)
    store_for(request).record_answer(learner, chapter.slug, quiz.id, list(result.selected), result.correct)
    return set_learner_cookie(request, JSONResponse(result.as_dict()))


@router.get("/api/chapters")
def chapters_api(request: Request):
    """Every chapter's front matter, URL, number of questions and widgets, in order."""
    return [c.summary() for c in course_for(request).chapters]


@router.get("/api/chapters/{slug}")
def chapter_api(request: Request, slug: str):
    """One chapter: front matter, contents, questions (without answers) and rendered HTML."""
    chapter = chapter_or_404(request, slug)
    return {**chapter.summary(), "toc": chapter.toc,
            "quizzes": [q.public() for q in chapter.quizzes.values()],
            "html": str(render_body(request, chapter))}


@router.get("/api/progress")
def progress_api(request: Request):
    """This learner's progress per chapter."""
    course = course_for(request)
    progress = progress_for(request, course)
    body = {c.slug: {"visited": progress.get(c.slug, ChapterProgress()).visited,
                     "answered": progress.get(c.slug, ChapterProgress()).answered,
                     "correct": progress.get(c.slug, ChapterProgress()).correct,
                     "questions": len(c.quizzes)} for c in course.chapters}
    return set_learner_cookie(request, JSONResponse(body))


@router.post("/progress/reset")
def progress_reset(request: Request):
    """Forget this learner's visits and answers."""
    learner, is_new = learner_id(request)
    if not is_new:
        store_for(request).reset(learner)
    if request.headers.get("HX-Request") == "true":
        response = HTMLResponse("", headers={"HX-Redirect": "/"})
    else:
        response = RedirectResponse("/", status_code=303)
    return set_learner_cookie(request, response)


# --- glossary and search ---------------------------------------------------------------
@router.get("/glossary", response_class=HTMLResponse)
def glossary_page(request: Request):
    """Every term from every chapter's front matter, alphabetical, with letter jump links."""
    entries = course_for(request).glossary
    letters: dict[str, list] = {}
    for entry in entries:
        letters.setdefault(entry.letter, []).append(entry)
    context = sidebar_context(request)
    context.update(entries=entries, letters=letters)
    return render_page(request, "glossary.html", context)


@router.get("/api/glossary")
def glossary_api(request: Request):
    """Every glossary term: definition, the chapter section that teaches it, other chapters."""
    return {"terms": [e.as_dict() for e in course_for(request).glossary]}


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, q: str | None = None):
    """Search results with highlighted snippets. htmx (the header box) gets only the list."""
    htmx = request.headers.get("HX-Request") == "true"
    if htmx:
        if q is None or not q.strip():
            return set_learner_cookie(request, HTMLResponse(""))
        error = validate_query(q)
        template = request.app.state.templates.get_template("_search_results.html")
        hits = [] if error else course_for(request).search_index.search(q, limit=8)
        html = template.render(q=q, hits=hits, error=error, compact=True)
        return set_learner_cookie(request, HTMLResponse(html, status_code=422 if error else 200))
    context = sidebar_context(request)
    if q is None:  # the bare search page
        context.update(q="", hits=[], error=None, searched=False)
        return render_page(request, "search.html", context)
    error = validate_query(q)
    hits = [] if error else course_for(request).search_index.search(q)
    context.update(q=q[:200], hits=hits, error=error, searched=True)
    return render_page(request, "search.html", context, status_code=422 if error else 200)


@router.get("/api/search")
def search_api(request: Request, q: str | None = None):
    """{"query", "results": [{kind, title, context, url, chapter, score, snippet}]}."""
    error = validate_query(q)
    if error:
        raise HTTPException(422, error)
    hits = course_for(request).search_index.search(q)
    return {"query": q, "count": len(hits), "results": [h.as_dict() for h in hits]}
