"""Every question of every chapter grades correctly: through the API for all of them, and in a
real browser for every question that is not a predict question (those also start a real run,
which tests/browser/test_browser_quiz.py and tests/claims/test_predict.py cover)."""
from __future__ import annotations

import pytest

from shared_course import shared_course

COURSE = shared_course()
QUESTIONS = [(chapter.slug, quiz) for chapter in COURSE.chapters for quiz in chapter.quizzes.values()]


def test_the_course_has_forty_or_more_questions_and_three_per_chapter():
    assert len(QUESTIONS) >= 40
    for chapter in COURSE.chapters:
        assert len(chapter.quizzes) >= 3, chapter.slug


@pytest.mark.parametrize("slug,quiz", QUESTIONS, ids=[f"{s}/{q.id}" for s, q in QUESTIONS])
def test_api_grades_the_right_answer_right_and_a_wrong_one_wrong(client, slug, quiz):
    right = quiz.correct_indices
    graded = client.post(f"/api/quiz/{slug}/{quiz.id}", json={"selected": right}).json()
    assert graded["correct"] is True
    assert all(option["feedback"] for option in graded["options"])
    wrong = [next(o.index for o in quiz.options if not o.correct)]
    graded = client.post(f"/api/quiz/{slug}/{quiz.id}", json={"selected": wrong}).json()
    assert graded["correct"] is False
    assert len(graded["options"]) == len(quiz.options)


@pytest.mark.browser
@pytest.mark.parametrize("slug", [c.slug for c in COURSE.chapters])
def test_every_question_of_a_chapter_in_the_browser(page, slug):
    page.goto(f"/chapters/{slug}")
    quizzes = [q for s, q in QUESTIONS if s == slug and not q.predict]
    for quiz in quizzes:
        form = page.locator(f"#quiz-{quiz.id} form.quiz-question")
        for index in quiz.correct_indices:
            form.locator(f"input[name=choice][value='{index}']").check()
        form.locator("button[type=submit]").click()
        feedback = page.locator(f"#quiz-{quiz.id}-feedback .quiz-feedback")
        feedback.wait_for()
        assert "is-correct" in feedback.get_attribute("class"), quiz.id
        assert feedback.locator(".quiz-option-why").count() == len(quiz.options)
    score = page.locator(f"#quiz-{quizzes[-1].id}-feedback .quiz-score").inner_text()
    assert f"{len(quizzes)}/" in score
