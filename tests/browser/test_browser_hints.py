"""In a real Chromium: a stuck learner asks for a hint, answers a question whose options are in
the learner's own order, and gets the feedback for the option they really clicked; the answer
is recorded as given with a hint."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from shared_course import shared_course
from app.course.quiz import display_order

CHAPTER = shared_course().get("training-loop")
QUIZ = CHAPTER.quizzes["initial-loss"]


@pytest.mark.browser
def test_open_a_hint_answer_a_shuffled_question_and_see_the_right_feedback(page):
    page.goto(CHAPTER.url)
    page.wait_for_function("() => window.htmx !== undefined")
    learner = next(c["value"] for c in page.context.cookies() if c["name"] == "learner")
    order = display_order(QUIZ, learner, CHAPTER.slug)
    quiz = page.locator(f"#quiz-{QUIZ.id}")

    expect(quiz.locator(".quiz-hint-box")).to_have_count(0)  # not in the page until asked for
    quiz.get_by_role("button", name="Stuck? Show a hint").click()
    quiz = page.locator(f"#quiz-{QUIZ.id}")
    hint = quiz.locator(".quiz-hint-box")
    expect(hint).to_contain_text("spread")
    expect(hint).to_be_focused()

    # the options appear in this learner's order, each carrying its authored index
    values = quiz.locator("input[name=choice]").evaluate_all("els => els.map(e => Number(e.value))")
    assert values == order
    right = QUIZ.correct_indices[0]
    shown_at = order.index(right)
    quiz.locator("label.quiz-option").nth(shown_at).click()  # click it where it is shown
    quiz.get_by_role("button", name="Check my answer").click()
    feedback = quiz.locator(".quiz-feedback")
    expect(feedback).to_have_class(re.compile("is-correct"))
    expect(feedback).to_contain_text("Right on the first answer, with a hint.")  # recorded as hinted
    items = feedback.locator(".quiz-option-feedback li")
    expect(items.nth(shown_at)).to_contain_text("You chose this, and it is right.")
    expect(items.nth(shown_at)).to_contain_text(QUIZ.options[right].text[:30])

    page.reload()  # the same order, the same saved answer
    quiz = page.locator(f"#quiz-{QUIZ.id}")
    again = quiz.locator("input[name=choice]").evaluate_all("els => els.map(e => Number(e.value))")
    assert again == order
    expect(quiz.locator("input[name=choice]").nth(shown_at)).to_be_checked()
