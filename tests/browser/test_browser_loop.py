"""The teaching loop in a real Chromium: a committed prediction is locked, its real run is
drawn before any explanation; with JavaScript off, hints and "show me" work as plain forms;
the chapter ends with a recap; reset and delete ask first."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.course.content import load_course
from app.settings import Settings

COURSE = load_course(Settings().content_dir)
CHAPTER = COURSE.get("learning-rate")
PREDICT = CHAPTER.quizzes["warmup-predict"]
PLAIN = CHAPTER.quizzes["lr-meaning"]
RUN_TIMEOUT_MS = 240_000  # the warmup run may train now, on a server the other tests keep busy

# Records, in order, when the prediction's run is drawn and when its explanation is shown.
ORDER_PROBE = """(qid) => {
  window.__order = [];
  const seen = (what) => { if (!window.__order.includes(what)) window.__order.push(what); };
  new MutationObserver(() => {
    const chart = document.getElementById("predict-" + qid + "-chart");
    const explanation = document.querySelector("#quiz-" + qid + "-run details.predict-explanation");
    if (chart && chart.dataset.final === "1") seen("run drawn");
    if (explanation && explanation.getClientRects().length) seen("explanation shown");
  }).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


@pytest.mark.browser
def test_a_committed_prediction_is_locked_and_its_run_comes_before_the_explanation(page):
    page.goto(CHAPTER.url)
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate(ORDER_PROBE, PREDICT.id)
    quiz = page.locator(f"#quiz-{PREDICT.id}")
    wrong = next(o for o in PREDICT.options if not o.correct)
    quiz.locator(f'input[name="choice"][value="{wrong.index}"]').check()
    quiz.get_by_role("button", name="Commit my prediction").click()

    quiz = page.locator(f"#quiz-{PREDICT.id}.quiz-done")
    expect(quiz.locator(".quiz-feedback")).to_contain_text("Prediction locked.")
    run = page.locator(f"#quiz-{PREDICT.id}-run")
    expect(run.locator(".predict-yours")).to_contain_text("You predicted")
    expect(run.locator(".predict-yours")).to_contain_text(wrong.text[:20])
    explanation = run.locator("details.predict-explanation")
    expect(explanation).to_be_visible(timeout=RUN_TIMEOUT_MS)
    assert page.evaluate("window.__order") == ["run drawn", "explanation shown"]
    expect(explanation).not_to_have_attribute("open", "")  # folded: read after comparing
    explanation.locator("summary").click()
    expect(explanation).to_contain_text("The real run does not match your prediction.")

    # locked: no control to change it, and the server refuses a changed answer
    expect(quiz.locator("input[name=choice]").first).to_be_disabled()
    expect(quiz.locator("form.quiz-question").get_by_role("button")).to_have_count(0)
    status = page.evaluate("""async ([url, choice]) => (await fetch(url, {method: "POST",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify({selected: [choice]})})).status""",
                           [f"/api/quiz/{CHAPTER.slug}/{PREDICT.id}", PREDICT.correct_indices[0]])
    assert status == 409
    page.reload()
    expect(page.locator(f"#quiz-{PREDICT.id}-run .predict-yours")).to_contain_text(wrong.text[:20])
    expect(page.locator(f'#quiz-{PREDICT.id} input[name="choice"][value="{wrong.index}"]')).to_be_checked()
    page.console_errors[:] = [e for e in page.console_errors if "409" not in e]  # the refusal, asked for


@pytest.mark.browser
def test_without_javascript_hints_retries_and_show_me_are_plain_forms(browser, live_server):
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(CHAPTER.url)
        quiz = page.locator(f"#quiz-{PLAIN.id}")
        quiz.get_by_role("button", name="Stuck? Show a hint").click()  # no option chosen: still allowed
        expect(page).to_have_url(re.compile(f"#quiz-{PLAIN.id}$"))
        expect(quiz.locator(".quiz-hint-box")).to_contain_text(PLAIN.hint[:20])
        wrong = next(o.index for o in PLAIN.options if not o.correct)
        quiz.locator(f'input[name="choice"][value="{wrong}"]').check()
        quiz.get_by_role("button", name="Check my answer").click()
        expect(quiz.locator(".quiz-option-why")).to_have_count(1)
        quiz.get_by_role("button", name="Show me the answer").click()
        expect(quiz.locator(".quiz-feedback")).to_contain_text("Here is the answer.")
        expect(quiz.locator(".quiz-option-why")).to_have_count(len(PLAIN.options))
        expect(quiz.locator("input[name=choice]").first).to_be_disabled()  # inside <fieldset disabled>
    finally:
        context.close()


@pytest.mark.browser
def test_the_chapter_ends_with_a_recap_and_the_way_on(page):
    first, second = COURSE.chapters[0], COURSE.chapters[1]
    page.goto(first.url)
    recap = page.locator(".chapter-recap")
    expect(recap.locator("#recap-score")).to_contain_text(f"0 of {len(first.quizzes)}")
    expect(recap.locator(".recap-takeaways li")).to_have_count(3)
    expect(recap.get_by_role("link", name=re.compile(f"Next: chapter 2, {re.escape(second.title)}"))).to_be_visible()
    page.goto(second.url)
    expect(page.locator(".chapter-recap").get_by_role("link", name=re.compile("Previous: chapter 1"))).to_be_visible()


@pytest.mark.browser
def test_reset_and_delete_ask_before_they_act(page):
    page.goto(CHAPTER.url)  # a visit, now that the cookie is set
    page.goto("/")
    page.get_by_role("link", name="Reset my progress…").click()
    expect(page.locator("h1")).to_have_text("Reset your progress?")
    button = page.get_by_role("button", name="Reset my progress")
    button.click()  # the box is not ticked: the browser keeps the form
    expect(page).to_have_url(re.compile("/progress/reset$"))
    page.get_by_label("Yes, forget my progress").check()
    button.click()
    expect(page.locator('.your-data [role="status"]')).to_have_text("Your progress was reset.")
    page.get_by_role("link", name="Delete everything stored about me…").click()
    page.get_by_label("Yes, delete everything stored about me").check()
    page.get_by_role("button", name="Delete everything").click()
    expect(page.locator('.your-data [role="status"]')).to_have_text("Everything stored under your id was deleted.")
