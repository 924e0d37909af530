"""The landing page: the course at a glance, its live chart, and where this learner starts.

A new learner gets "Start with chapter 1". A returning one gets "Continue": the chapter they
were last active in (their latest visit or answer), at the section of the first question they
have not answered after the last one they did; a chapter whose questions are all answered
sends them to the next chapter.
"""
from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from markupsafe import Markup

from app.course.content import Chapter, Course
from app.course.landing import load_landing
from app.course.markdown import fill_slots
from app.course.quiz import Quiz
from app.learning.progress import ChapterProgress
from app.learning.quiz_record import QuestionRecord
from app.web.learner import learner_id, store_for
from app.web.views import widget as widget_view


@dataclass(frozen=True)
class Resume:
    chapter: Chapter
    section: str  # the heading to show ("" for the chapter's top)
    url: str


def total_time(minutes: int) -> str:
    """270 -> "4 h 30 min"."""
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" + (f" {rest} min" if rest else "")


def quiz_sections(chapter: Chapter) -> dict[str, tuple[str, str]]:
    """question id -> (heading id, heading text) of the section the question sits in."""
    out = {}
    for index, slot in enumerate(chapter.slots):
        if isinstance(slot, Quiz):
            marker = f"<!--slot:quiz:{index}-->"
            section = next((s for s in chapter.sections if marker in s.html), None)
            if section is not None:
                out[slot.id] = (section.id, section.heading)
    return out


def resume_point(course: Course, progress: dict[str, ChapterProgress],
                 records: dict[str, dict[str, QuestionRecord]]) -> Resume | None:
    """Where a returning learner picks up (None: nothing recorded yet)."""
    active = [(p.last_at, slug) for slug, p in progress.items() if p.last_at and course.get(slug)]
    if not active:
        return None
    chapter = course.get(max(active)[1])
    mine = records.get(chapter.slug, {})
    order = list(chapter.quizzes)
    answered = [q for q in order if q in mine and mine[q].attempts]
    if not answered:
        return Resume(chapter, "", chapter.url)
    latest = max(answered, key=lambda q: mine[q].latest.answered_at)
    after = order[order.index(latest) + 1:] + order[:order.index(latest)]
    todo = next((q for q in after if q not in answered), None)
    if todo is None:
        nxt = course.neighbours(chapter.slug)[1]
        return Resume(nxt, "", nxt.url) if nxt else Resume(chapter, "", f"{chapter.url}#recap-title")
    section_id, heading = quiz_sections(chapter).get(todo, ("", ""))
    return Resume(chapter, heading, f"{chapter.url}#{section_id or 'quiz-' + todo}")


def landing_context(request: Request, course: Course, progress: dict[str, ChapterProgress]) -> dict:
    """What index.html needs beyond the sidebar: the landing content, its live chart rendered
    (from the cache, or the stream that will draw it), the total time and the resume point."""
    landing = load_landing(request.app.state.settings.content_dir)
    learner, is_new = learner_id(request)
    records = {} if is_new else store_for(request).quiz_records(learner)
    lede = demo = Markup("")
    if landing is not None:
        lede = Markup(fill_slots(landing.html, lambda kind, index: ""))
        demo = Markup("").join(widget_view.render_widget(request, w.name, w.overrides, w.instance)
                               for w in landing.widgets)
    return {"landing": landing, "lede": lede, "demo": demo,
            "total_time": total_time(sum(c.minutes for c in course.chapters)),
            "questions": sum(len(c.quizzes) for c in course.chapters),
            "resume": resume_point(course, progress, records),
            "first": course.chapters[0] if course.chapters else None}
