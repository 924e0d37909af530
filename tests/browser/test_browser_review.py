"""A real Chromium: three questions answered in chapter 1 come due when the server's review
clock moves on, are answered on /review (htmx, focus on what changed) and leave the queue;
the calibration chart on /learning is drawn from the answers stored."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from shared_course import shared_course

CHAPTER = shared_course().chapters[0]
# three single-answer questions that are not predictions (a prediction would train its run)
QUIZZES = [q for q in CHAPTER.quizzes.values() if q.predict is None and not q.multiple][:3]
CONFIDENCE_LABELS = {"sure": "Sure", "think": "I think so", "guess": "Guessing"}
MONTH_S = 30 * 86400


def wrong_index(quiz) -> int:
    return next(o.index for o in quiz.options if not o.correct)


@pytest.fixture
def moved_clock(live_clock):
    """Moves the live server's review clock; puts it back afterwards (the server is shared)."""
    def move(seconds: float) -> None:
        live_clock.write_text(str(seconds))
    yield move
    live_clock.write_text("0")


@pytest.mark.browser
def test_three_answers_come_due_are_reviewed_and_leave_the_queue(page, moved_clock):
    page.goto(CHAPTER.url)
    page.wait_for_function("() => window.htmx !== undefined")
    plan = [(QUIZZES[0], True, "sure"), (QUIZZES[1], False, "think"), (QUIZZES[2], True, "guess")]
    for quiz, right, confidence in plan:
        block = page.locator(f"#quiz-{quiz.id}")
        block.locator(f'input[name="choice"][value="{quiz.correct_indices[0] if right else wrong_index(quiz)}"]').check()
        block.get_by_label(CONFIDENCE_LABELS[confidence], exact=True).check()
        block.get_by_role("button", name="Check my answer").click()
        expect(page.locator(f"#quiz-{quiz.id} .quiz-feedback")).to_be_focused()

    page.goto("/review")
    expect(page.locator("#review-panel")).to_contain_text("Nothing is due now")

    moved_clock(MONTH_S)
    page.goto("/")
    expect(page.locator(".landing-review")).to_contain_text("3 due now")
    page.goto(CHAPTER.url)
    expect(page.locator(".chapter-due")).to_contain_text("Due for review here")
    page.goto("/review")
    page.wait_for_function("() => window.htmx !== undefined")
    expect(page.locator("#review-panel .review-status")).to_contain_text("3 questions due")
    seen = []
    for n in range(3):
        form = page.locator("#review-panel form.review-card")
        action = form.get_attribute("action")
        qid = action.rsplit("/", 1)[1]
        seen.append(qid)
        quiz = CHAPTER.quizzes[qid]
        form.locator(f'input[name="choice"][value="{quiz.correct_indices[0]}"]').check()
        form.get_by_label("Sure", exact=True).check()
        form.get_by_role("button", name="Check my answer").click()
        feedback = page.locator("#review-feedback.quiz-feedback")
        expect(feedback).to_be_focused()  # a keyboard or screen-reader user lands on the verdict
        expect(feedback).to_contain_text("Correct.")
        expect(feedback.locator(".quiz-option-why")).to_have_count(len(quiz.options))
        expect(feedback.get_by_role("link", name="Read its section again")).to_have_attribute(
            "href", re.compile("^" + re.escape(CHAPTER.url) + "#."))
        if n < 2:
            page.get_by_role("link", name="Next question").click()
            expect(page.locator("#review-panel form.review-card legend[data-quiz-focus]")).to_be_focused()
    assert sorted(seen) == sorted(q.id for q in QUIZZES)
    expect(page.locator("#review-panel")).to_contain_text("Nothing more is due now")

    page.reload()  # ?done... is not in the URL: htmx swapped in place; a reload shows the queue
    expect(page.locator("#review-panel")).to_contain_text("Nothing is due now")
    due = page.request.get("/api/review").json()
    assert due["due"] == 0 and due["session"] == [] and due["next_due"] is not None


@pytest.mark.browser
def test_the_calibration_chart_is_drawn_from_the_stored_answers(page):
    page.goto("/")
    answers = [(QUIZZES[0], True, "sure"), (QUIZZES[1], True, "sure"), (QUIZZES[2], False, "sure"),
               (next(q for q in CHAPTER.quizzes.values() if q.predict is None and q not in QUIZZES), False, "guess")]
    for quiz, right, confidence in answers:
        response = page.request.post(f"/api/quiz/{CHAPTER.slug}/{quiz.id}", data={
            "selected": quiz.correct_indices if right else [wrong_index(quiz)], "confidence": confidence})
        assert response.ok, response.text()

    page.goto("/learning")
    chart = page.locator("#calibration-chart")
    expect(chart).to_have_attribute("data-final", "1")
    expect(chart.locator(".barlayer .point")).to_have_count(3)  # a bar per level (empty without answers)
    drawn = page.evaluate("() => document.getElementById('calibration-chart').data[0]")
    assert drawn["x"] == ["Sure", "I think so", "Guessing"]
    assert drawn["y"][0] == pytest.approx(66.7) and drawn["y"][1] is None and drawn["y"][2] == 0
    assert drawn["text"] == ["2 of 3", "no answers", "0 of 1"]
    table = page.locator(".calibration-table tbody")
    expect(table.locator("tr").first).to_contain_text("Sure")
    expect(table.locator("tr").first).to_contain_text("67 %")
    brier = (2 * 0.1 ** 2 + 0.9 ** 2 + 0.3 ** 2) / 4
    expect(page.locator(".brier")).to_have_text(f"{brier:.3f}")
