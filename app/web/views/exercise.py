"""What a chapter page shows of its coding exercises, and what this learner may see of each."""
from __future__ import annotations

from fastapi import Request
from markupsafe import Markup

from app.course.exercises import MAX_FAILS_BEFORE_SOLUTION
from app.course.markdown import highlight_code
from app.learning.progress import ExerciseProgress, ProgressStore
from app.web.learner import learner_id
from app.web.pages import exercises


def learner_progress(request: Request, progress: ProgressStore) -> dict[str, ExerciseProgress]:
    learner, is_new = learner_id(request)
    return {} if is_new else progress.exercises(learner)


def solution_unlocked(p: ExerciseProgress | None) -> bool:
    return p is not None and (p.solved or p.attempts - p.passes >= MAX_FAILS_BEFORE_SOLUTION)


def chapter_exercises(request: Request, slug: str, progress: ProgressStore) -> list[dict]:
    """What the chapter page shows of each of its exercises, with this learner's last code."""
    mine = learner_progress(request, progress)
    items = []
    for exercise in exercises(request).values():
        if exercise.chapter != slug:
            continue
        p = mine.get(exercise.id)
        unlocked = solution_unlocked(p)
        items.append({"exercise": exercise, "progress": p,
                      "code": p.last_code if p and p.last_code else exercise.starter,
                      "statement_html": Markup(exercise.statement_html),
                      "visible_tests_html": Markup(highlight_code(exercise.visible_tests, "python")),
                      "solution": exercise.solution if unlocked else None,
                      "solution_html": Markup(highlight_code(exercise.solution, "python")) if unlocked else None})
    return items
