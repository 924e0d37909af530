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
def test_answer_wrong_then_right_see_feedback_progress_and_persistence(page):
    page.goto(f"/chapters/{CHAPTER}")
    page.wait_for_function("() => window.htmx !== undefined")
    quiz = page.locator("#quiz-lr-meaning")
    badge = page.locator(f"#progress-{CHAPTER}")
    expect(badge).to_contain_text(f"0/{TOTAL}")

    wrong = next(o.index for o in QUIZ.options if not o.correct)
    right = QUIZ.correct_indices[0]
    quiz.locator(f'input[value="{wrong}"]').check()
    quiz.get_by_role("button", name="Check my answer").click()
    feedback = quiz.locator(".quiz-feedback")
    expect(feedback).to_have_class(re.compile("is-wrong"))
    expect(feedback).to_contain_text("You chose this, but it is wrong.")
    expect(feedback.locator(".quiz-option-why")).to_have_count(len(QUIZ.options))
    expect(feedback).to_contain_text(f"0/{TOTAL} questions answered correctly")
    expect(badge).to_contain_text(f"0/{TOTAL}")

    quiz.locator(f'input[value="{right}"]').check()
    quiz.get_by_role("button", name="Check my answer").click()
    expect(feedback).to_have_class(re.compile("is-correct"))
    expect(feedback).to_contain_text("You chose this, and it is right.")
    expect(feedback).to_contain_text(f"1/{TOTAL} questions answered correctly")
    expect(badge).to_contain_text(f"1/{TOTAL}")  # the sidebar, updated out of band

    page.reload()
    quiz = page.locator("#quiz-lr-meaning")
    expect(quiz.locator(f'input[value="{right}"]')).to_be_checked()
    expect(quiz.locator(".quiz-feedback")).to_have_class(re.compile("is-correct"))
    expect(page.locator(f"#progress-{CHAPTER}")).to_contain_text(f"1/{TOTAL}")
    page.goto("/")
    card = page.locator(".chapter-card", has=page.locator(f'a[href="/chapters/{CHAPTER}"]'))
    expect(card.locator(".quiz-tally")).to_have_text(f"1/{TOTAL}")


@pytest.mark.browser
def test_predict_question_shows_the_real_run_beside_the_prediction(page):
    page.goto(f"/chapters/{CHAPTER}")
    page.wait_for_function("() => window.htmx !== undefined")
    quiz = page.locator("#quiz-warmup-predict")
    right = shared_course().get(CHAPTER).quizzes["warmup-predict"].correct_indices[0]
    quiz.locator(f'input[value="{right}"]').check()
    quiz.get_by_role("button", name="Check my answer").click()
    # the server is also training the page's own warmup widget: give the answer time
    expect(quiz.locator(".quiz-feedback")).to_have_class(re.compile("is-correct"), timeout=90_000)
    run = page.locator("#quiz-warmup-predict-run")
    expect(run.locator(".predict-yours")).to_contain_text("Clearly higher")
    expect(run.locator('.widget[data-widget="warmup"]')).to_be_visible()
    # the run streams in (or is drawn at once when cached): a chart appears
    expect(run.locator("#predict-warmup-predict-chart.js-plotly-plot")).to_be_attached(timeout=60_000)


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
