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
    url = f"/api/quiz/{slug}/{quiz.id}"
    graded = client.post(url, json={"selected": quiz.correct_indices}).json()
    assert graded["correct"] is True and graded["first_correct"] is True and graded["finished"]
    assert len(graded["options"]) == len(quiz.options) and all(o["feedback"] for o in graded["options"])

    client.cookies.clear()  # another learner, who first answers wrong
    wrong = [next(o.index for o in quiz.options if not o.correct)]
    graded = client.post(url, json={"selected": wrong}).json()
    assert graded["correct"] is False
    if quiz.predict is None:  # the chosen option's feedback, and one more try, which no longer counts
        assert [o["index"] for o in graded["options"]] == wrong
        graded = client.post(url, json={"selected": quiz.correct_indices}).json()
        assert graded["correct"] is True and graded["first_correct"] is False
    else:  # a prediction is locked: every option is explained at once, beside the run
        assert graded["finished"] and graded["correct_options"] == quiz.correct_indices
    assert len(graded["options"]) == len(quiz.options)


@pytest.mark.browser
@pytest.mark.parametrize("slug", [c.slug for c in COURSE.chapters])
def test_every_question_of_a_chapter_in_the_browser(page, slug):
    page.goto(f"/chapters/{slug}")
    page.wait_for_function("() => window.htmx !== undefined")
    quizzes = [q for s, q in QUESTIONS if s == slug and not q.predict]
    for quiz in quizzes:
        form = page.locator(f"#quiz-{quiz.id} form.quiz-question")
        for index in quiz.correct_indices:
            form.locator(f"input[name=choice][value='{index}']").check()
        form.get_by_role("button", name="Check my answer").click()
        feedback = page.locator(f"#quiz-{quiz.id}.quiz-done .quiz-feedback")
        feedback.wait_for()
        assert "is-correct" in feedback.get_attribute("class"), quiz.id
        assert feedback.locator(".quiz-option-why").count() == len(quiz.options)
    score = page.locator(f"#quiz-{quizzes[-1].id}-feedback .quiz-score").inner_text()
    assert f"{len(quizzes)} of " in score
