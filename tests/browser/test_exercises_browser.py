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


def run_the_tests_with(page, code: str, passed: bool, exercise=EXERCISE):
    """In the chapter's editor: replace the code, run the tests, wait for the verdict."""
    page.goto(f"/chapters/{exercise.chapter}#exercise-{exercise.id}")
    page.wait_for_function("() => window.htmx !== undefined")
    section = page.locator(f"#exercise-{exercise.id}")
    editor = section.locator(".cm-editor .cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(code)
    expect(section.locator("textarea.code-input")).to_have_value(code)
    section.get_by_role("button", name="Run the tests").click()
    results = section.locator(".exercise-result")
    expect(results).to_have_attribute("data-passed", "true" if passed else "false", timeout=90_000)
    return section


PER_TENSOR = EXERCISE.solution.replace(
    "    for g in grads:\n        g.mul_(factor)",
    "    for g in grads:\n        g.mul_(torch.clamp(max_norm / (g.norm() + 1e-6), max=1.0))")
ADAMW = load_exercises(Settings().content_dir)["adamw"]
NAN_ADAMW = ADAMW.solution.replace('p.sub_(lr * m_hat / (v_hat.sqrt() + group["eps"]))',
                                   'p.sub_(lr * m_hat / (v_hat.sqrt() * 0.0))')  # divides by zero


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not bwrap_works()[0], reason="bwrap cannot run here")
def test_a_failing_implementation_trains_beside_pytorch(page):
    """Issue 20's "train with failing code": the page says which tests fail, and the learner's
    curve is drawn beside PyTorch's, parting where the bug bites. The hints open in two tiers,
    each recorded."""
    section = run_the_tests_with(page, PER_TENSOR, passed=False)
    hint = section.locator("details.exercise-hint")
    hint.locator("> summary").click()
    expect(hint).to_have_attribute("data-hint-recorded", "1")
    expect(section.locator("details.exercise-recipe")).not_to_have_attribute("open", "")
    section.locator("details.exercise-recipe > summary").click()
    expect(section.locator("details.exercise-recipe")).to_have_attribute("data-hint-recorded", "2")

    train = section.locator(".exercise-result").get_by_role("link", name="Train the tiny GPT with your code")
    expect(section.locator(".exercise-result .exercise-train-note")).to_contain_text("see what that does to training")
    train.click()
    expect(page.locator("#train-failing")).to_contain_text("fails")
    expect(page.locator("#train-failing")).to_contain_text("test_large_gradients_are_scaled_down_together")
    chart = page.locator("#train-chart")
    expect(chart).to_have_attribute("data-done", "true", timeout=180_000)
    expect(chart.locator(".scatterlayer .trace")).to_have_count(2)
    expect(chart.locator(".legendtext")).to_have_count(2)
    expect(chart.locator(".legend")).to_contain_text("PyTorch's")
    parted = chart.get_attribute("data-parted-at")
    assert parted not in (None, "none"), "per-tensor clipping trains differently from PyTorch's"
    expect(page.locator("#train-status")).to_contain_text(f"The curves part at step {parted}")
    expect(chart).to_have_attribute("data-diverged-at", "none")


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not bwrap_works()[0], reason="bwrap cannot run here")
def test_a_nan_from_the_learners_optimizer_is_a_diverged_point_not_a_script_error(page):
    """An AdamW that divides by zero makes the loss NaN: the stream carries it as null, and the
    chart marks where the run diverged (the page fixture fails the test on any console error
    or uncaught exception)."""
    assert NAN_ADAMW != ADAMW.solution
    run_the_tests_with(page, NAN_ADAMW, passed=False, exercise=ADAMW)
    page.goto(f"/exercises/{ADAMW.id}/train")
    chart = page.locator("#train-chart")
    expect(chart).to_have_attribute("data-done", "true", timeout=300_000)
    diverged = chart.get_attribute("data-diverged-at")
    assert diverged not in (None, "none")
    expect(page.locator("#train-status")).to_contain_text(f"Your run diverged at step {diverged}")
    expect(chart.locator(".scatterlayer .trace")).to_have_count(3)  # PyTorch's, yours, the diverged marker
    expect(chart.locator(".legend")).to_contain_text("diverged")
