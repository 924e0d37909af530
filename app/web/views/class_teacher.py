"""The teacher's view of a class, as HTML: who is in, the poll and its votes, the class's
answers. `live_fragments` renders the parts that change as learners act, each under the id of
the element it replaces; the live view (app/web/views/class_live.py) sends those that changed.
"""
from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from app.course.content import Course
from app.learning.classes import ClassInfo, Member
from app.learning.polls import Poll
from app.learning.progress import ProgressStore
from app.web.pages import sidebar_context
from app.web.teacher_auth import class_path, csrf_value
from app.web.views.class_answers import chapter_views, misconception_map
from app.web.views.class_poll import find_question, letter, poll_distributions, poll_state
from app.web.views.quiz import predict_html


@dataclass(frozen=True)
class MembersSummary:
    total: int
    active: int
    aliases: list[tuple[str, bool]]  # (alias, active now), the active first


def members_summary(members: list[Member]) -> MembersSummary:
    ordered = sorted(members, key=lambda m: (not m.active(), m.alias.lower()))
    return MembersSummary(len(members), sum(m.active() for m in members), [(m.alias, m.active()) for m in ordered])


def question_choices(loaded: Course) -> list[tuple[str, list[tuple[str, str]]]]:
    """(chapter title, [(value "slug/qid", label)]) for the "open a question" menu."""
    out = []
    for chapter in loaded.chapters:
        items = [(f"{chapter.slug}/{q.id}", ("Predict: " if q.predict else "") + " ".join(q.question.split())[:110])
                 for q in chapter.quizzes.values()]
        if items:
            out.append((f"{chapter.order}. {chapter.title}", items))
    return out


def poll_context(loaded: Course, progress: ProgressStore, poll: Poll | None) -> dict:
    """What the poll panel shows: the question, its state and both rounds' votes."""
    found = find_question(loaded, poll.chapter, poll.question) if poll else None
    if not poll or not found:
        return {"poll": poll, "poll_missing": bool(poll)}
    chapter, quiz = found
    return {"poll": poll, "poll_chapter": chapter, "poll_quiz": quiz, "poll_state": poll_state(poll),
            "letter": letter, "distributions": poll_distributions(quiz, poll, progress.tally(poll.id), True)}


def teacher_context(request: Request, loaded: Course, progress: ProgressStore, info: ClassInfo, token: str) -> dict:
    """Everything class_teacher.html needs."""
    base = str(request.base_url).rstrip("/")
    poll = poll_context(loaded, progress, progress.current_poll(info.id))
    run_html = predict_html(request, poll["poll_quiz"]) if poll.get("poll_quiz") and poll["poll"].revealed else None
    return {**sidebar_context(request), "info": info, "class_page": True, "teach_url": class_path(info.id),
            "join_url": f"{base}/classes/{info.id}/join", "csrf": csrf_value(token, info.id),
            "members": members_summary(progress.members(info.id)), "choices": question_choices(loaded),
            "run_html": run_html, **poll, **answers_context(loaded, progress, info.id)}


def answers_context(loaded: Course, progress: ProgressStore, class_id: str) -> dict:
    """The class's first answers per question, and the misconception map."""
    stats = class_first_answers(progress, class_id)
    chapters = chapter_views(loaded, stats)
    rows, letters = misconception_map(chapters)
    return {"answer_chapters": chapters, "map_rows": rows, "map_letters": letters}


def class_first_answers(progress: ProgressStore, class_id: str) -> dict:
    """(chapter, question) -> FirstAnswers: the members' first answers (quiz_attempts, attempt 1)."""
    return progress.first_answers(class_id)


def render(request: Request, template: str, context: dict) -> str:
    return request.app.state.templates.get_template(template).render(**context)


def live_fragments(request: Request, loaded: Course, progress: ProgressStore, class_id: str) -> tuple[str, dict[str, str]]:
    """(the open poll's version, element id -> its HTML now) for every part of the view that
    learners change. When the poll's version changes the page reloads (a new poll, a reveal)."""
    poll = poll_context(loaded, progress, progress.current_poll(class_id))
    fragments = {"class-members": render(request, "_class_members.html",
                                         {"members": members_summary(progress.members(class_id))})}
    if poll.get("distributions"):
        fragments["poll-tally"] = render(request, "_class_poll_tally.html", poll)
    answers = answers_context(loaded, progress, class_id)
    fragments["class-map"] = render(request, "_class_map.html", answers)
    for _, views in answers["answer_chapters"]:
        for view in views:
            fragments[view.element_id] = render(request, "_class_question.html", {"v": view})
    return (poll["poll"].version_text if poll["poll"] else ""), fragments
