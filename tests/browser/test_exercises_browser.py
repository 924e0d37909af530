"""A real Chromium writes clip_grad_norm_ in the chapter's editor, runs the tests, sees
them fail and then pass, and trains the tiny GPT with it beside PyTorch's."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.course.exercises import load_exercises
from app.exercises.sandbox import bwrap_works
from app.settings import Settings

EXERCISE = load_exercises(Settings().content_dir)["clip-grad-norm"]
TOTAL = len(EXERCISE.visible_names) + len(EXERCISE.hidden_names)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not bwrap_works()[0], reason="bwrap cannot run here")
def test_write_run_pass_and_train_with_your_code(page):
    page.goto(f"/chapters/{EXERCISE.chapter}#exercise-{EXERCISE.id}")
    page.wait_for_function("() => window.htmx !== undefined")
    section = page.locator(f"#exercise-{EXERCISE.id}")
    field = section.locator("textarea.code-input")  # the form's field, kept in step by the editor
    expect(field).to_have_value(EXERCISE.starter)
    editor = section.locator(".cm-editor .cm-content")  # CodeMirror 6, bundled at set-up
    expect(editor).to_be_visible()
    expect(section.locator(".cm-editor")).to_contain_text("def clip_grad_norm_")
    expect(page.locator(f"#exercise-tally-{EXERCISE.chapter}")).to_contain_text("code 0/1")

    # the keyboard: Tab indents the line, Shift+Tab takes it back
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.press("Tab")
    expect(field).to_have_value(EXERCISE.starter + "    ")
    page.keyboard.press("Shift+Tab")
    expect(field).to_have_value(EXERCISE.starter)

    run = section.get_by_role("button", name="Run the tests")
    run.click()  # the starter: every test fails, saying what to do
    results = section.locator(".exercise-result")
    expect(results).to_have_attribute("data-passed", "false", timeout=90_000)
    expect(results).to_contain_text(f"0 of {TOTAL} tests pass")
    expect(results).to_contain_text("not implemented yet")

    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(EXERCISE.solution)  # as typed text, without the editor's auto-indent
    expect(field).to_have_value(EXERCISE.solution)
    run.click()
    expect(results).to_have_attribute("data-passed", "true", timeout=90_000)
    expect(results).to_contain_text(f"All {TOTAL} tests pass")
    expect(results.locator("li.is-passed")).to_have_count(TOTAL)
    expect(results.locator(".exercise-solution")).to_have_count(1)  # unlocked by the pass
    expect(page.locator(f"#exercise-tally-{EXERCISE.chapter}")).to_contain_text("code 1/1 · 2 runs")

    page.reload()  # the last code is kept with the progress
    expect(page.locator(f"#exercise-{EXERCISE.id} textarea.code-input")).to_have_value(EXERCISE.solution)
    expect(page.locator(f"#exercise-{EXERCISE.id} .cm-editor")).to_contain_text("total_norm")

    page.locator(f"#exercise-{EXERCISE.id}").get_by_role("link", name="Train the tiny GPT with your code").click()
    chart = page.locator("#train-chart")
    expect(chart).to_have_attribute("data-done", "true", timeout=120_000)
    expect(chart).to_have_attribute("data-parted-at", "none")
    expect(page.locator("#train-status")).to_contain_text("The curves coincide")
    expect(chart.locator(".scatterlayer .trace")).to_have_count(2)

    page.goto("/")
    card = page.locator(".chapter-card", has=page.locator(f'a[href="/chapters/{EXERCISE.chapter}"]'))
    expect(card.locator(".exercise-tally")).to_have_text(re.compile(r"code 1/1"))
