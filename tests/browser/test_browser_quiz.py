"""A real Chromium answers chapter 3's questions, sees the feedback and the progress,
reloads, and uses the glossary and the search."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from shared_course import shared_course

CHAPTER = "learning-rate"
QUIZ = shared_course().get(CHAPTER).quizzes["lr-meaning"]
TOTAL = len(shared_course().get(CHAPTER).quizzes)


@pytest.mark.browser
def test_answering_wrong_then_right_scores_zero_for_that_question(page):
    page.goto(f"/chapters/{CHAPTER}")
    page.wait_for_function("() => window.htmx !== undefined")
    quiz = page.locator("#quiz-lr-meaning")
    badge = page.locator(f"#progress-{CHAPTER}")
    expect(badge).to_contain_text(f"0/{TOTAL}")

    wrong = next(o.index for o in QUIZ.options if not o.correct)
    right = QUIZ.correct_indices[0]
    quiz.locator(f'input[name="choice"][value="{wrong}"]').check()
    quiz.get_by_role("button", name="Check my answer").click()
    quiz = page.locator("#quiz-lr-meaning.quiz-retry")  # swapped in place
    feedback = quiz.locator(".quiz-feedback")
    expect(feedback).to_have_class(re.compile("is-wrong"))
    expect(feedback).to_be_focused()  # a keyboard or screen-reader user lands on what changed
    expect(feedback).to_contain_text("You chose this, but it is wrong.")
    expect(feedback.locator(".quiz-option-why")).to_have_count(1)  # the chosen option's feedback only
    expect(feedback).not_to_contain_text("You left this out")
    expect(quiz.get_by_role("button", name="Show me the answer")).to_be_visible()

    quiz.locator(f'input[name="choice"][value="{right}"]').check()
    quiz.get_by_role("button", name="Try once more").click()
    quiz = page.locator("#quiz-lr-meaning.quiz-done")
    feedback = quiz.locator(".quiz-feedback")
    expect(feedback).to_contain_text("Correct, on your second try.")
    expect(feedback.locator(".quiz-option-why")).to_have_count(len(QUIZ.options))  # every option, now
    expect(feedback).to_contain_text(f"0 of {TOTAL} questions right on the first answer")
    expect(badge).to_contain_text(f"0/{TOTAL}")  # the sidebar, updated out of band: still 0
    expect(page.locator("#recap-score")).to_contain_text(f"0 of {TOTAL}")
    expect(quiz.locator("input[name=choice]").first).to_be_disabled()  # finished: no third answer

    page.reload()
    quiz = page.locator("#quiz-lr-meaning")
    expect(quiz.locator(f'input[name="choice"][value="{right}"]')).to_be_checked()
    expect(quiz.locator(".quiz-feedback")).to_contain_text("Correct, on your second try.")
    expect(page.locator(f"#progress-{CHAPTER}")).to_contain_text(f"0/{TOTAL}")
    page.goto("/")
    card = page.locator(".chapter-card", has=page.locator(f'a[href="/chapters/{CHAPTER}"]'))
    expect(card.locator(".quiz-tally")).to_have_text(f"0/{TOTAL} questions right")


@pytest.mark.browser
def test_glossary_and_search(page):
    page.goto("/glossary")
    expect(page.locator("h1")).to_have_text("Glossary")
    expect(page.locator("#term-warmup")).to_contain_text("A first phase")
    page.locator('.letter-jump a[href="#letter-w"]').click()
    expect(page).to_have_url(re.compile("#letter-w$"))
    page.locator("#term-warmup .glossary-source").click()
    expect(page).to_have_url(re.compile(f"/chapters/{CHAPTER}#warmup"))

    page.goto("/search?q=warmup")
    results = page.locator(".search-results .search-hit")
    expect(results.first).to_be_visible()
    expect(page.locator(".search-results mark").first).to_have_text(re.compile("warmup", re.I))
    results.first.locator("a.search-hit-title").click()
    expect(page).to_have_url(re.compile(f"/chapters/{CHAPTER}#"))
    expect(page.locator("h1")).to_contain_text("learning rate")

    # the header box shows live results as you type
    page.locator("#header-q").fill("cosine")
    expect(page.locator("#header-search-results .search-hit").first).to_be_visible()
