"""Every widget in a real browser: it draws, a control moved with the keyboard redraws it,
and nothing errors or reaches beyond the local server (the `page` fixture checks both)."""
from __future__ import annotations

import json

import pytest

from widgets.registry import all_widgets
from widgets.base import ParamError

pytestmark = pytest.mark.browser
NAMES = sorted(all_widgets())
RUN_TIMEOUT_MS = 180_000  # a training widget on a loaded 2-core CI machine


def chart_data(page, instance: str) -> str:
    return page.evaluate(
        "id => JSON.stringify((document.getElementById(id).data || []).map(t => [t.x, t.y, t.z, t.text]))",
        f"{instance}-chart")


def wait_final(page, instance: str) -> None:
    page.wait_for_selector(f"#{instance}-chart[data-final='1']", state="attached", timeout=RUN_TIMEOUT_MS)


def move_first_control(page, instance: str) -> str:
    """Change the first visible control like a keyboard user would; returns what was done."""
    control = page.locator(f"#{instance} .widget-form .controls").first.locator("input[type=range], input[type=number], select, textarea").first
    tag = control.evaluate("el => el.tagName.toLowerCase()")
    if tag == "select":
        options = control.locator("option").all_inner_texts()
        current = control.input_value()
        control.select_option(next(o for o in options if o != current))
        return "select"
    if tag == "textarea":  # replace the text with a different config: the result must change
        control.focus()
        page.keyboard.press("Control+A")
        page.keyboard.type("lr: 0.01\nwarmup_steps: 0\n")
        control.dispatch_event("change")
        return "text"
    if control.get_attribute("type") == "number":  # a typed value
        control.fill("2.5")
        return "number"
    control.focus()
    at_max = control.evaluate("el => Number(el.value) >= Number(el.max)")
    for _ in range(3):
        page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
    return "range"


def shortest_run(name: str) -> str:
    """The demo page's query for the widget's fewest training steps, where it has a steps
    control: drawing and redrawing do not depend on the run's length, and the whole suite
    trains every widget twice here on a 2-core machine."""
    widget = all_widgets()[name]
    steps = next((p for p in widget.params if p.name == "steps"), None)
    if steps is None:
        return ""
    for count in range(int(steps.min), int(steps.default), int(steps.step or 1)):
        try:
            widget.canonicalize({"steps": count})
        except ParamError:  # another control's default needs more steps than this
            continue
        return f"?{name}.steps={count}"
    return ""


@pytest.mark.parametrize("name", NAMES)
def test_widget_draws_and_redraws_after_a_keyboard_move(page, name):
    page.goto(f"/widgets/{name}/demo{shortest_run(name)}")
    wait_final(page, name)
    before = chart_data(page, name)
    assert json.loads(before), "the chart has data"
    kind = move_first_control(page, name)
    page.wait_for_function(
        "([id, before]) => { const el = document.getElementById(id + '-chart');"
        " return el.dataset.final === '1' && JSON.stringify((el.data || []).map(t => [t.x, t.y, t.z, t.text])) !== before; }",
        arg=[name, before], timeout=RUN_TIMEOUT_MS)
    assert name + "." in page.url, f"the {kind} change is kept in the page URL"
    assert page.locator(f"#{name}-result .provenance").count() == 1


def test_chapter_warmup_slider_changes_the_chart_while_streaming(page):
    page.goto("/chapters/learning-rate")
    wait_final(page, "warmup")
    before = chart_data(page, "warmup")
    slider = page.locator("#warmup-warmup")
    slider.focus()
    for _ in range(2):
        page.keyboard.press("ArrowRight")  # 40 -> 50 warmup steps
    assert page.locator("#warmup-warmup-out").inner_text() == "50"
    partial_before = int(page.locator("#warmup-chart").get_attribute("data-partial") or 0)
    page.wait_for_function(
        "before => { const el = document.getElementById('warmup-chart');"
        " return el.dataset.final === '1' && JSON.stringify((el.data || []).map(t => [t.x, t.y, t.z, t.text])) !== before; }",
        arg=before, timeout=RUN_TIMEOUT_MS)
    # the run streamed: partial curves were drawn before the final one
    assert int(page.locator("#warmup-chart").get_attribute("data-partial") or 0) > partial_before
    assert "warmup.warmup=50" in page.url
    # a link with the state reopens the page with those values and that chart
    page.goto(page.url)
    assert page.locator("#warmup-warmup-out").inner_text() == "50"
    wait_final(page, "warmup")
    assert page.locator("#warmup-result .badge-cached").count() == 1


@pytest.mark.browser
def test_quick_keyboard_steps_end_on_the_last_setting_and_log_no_error(page):
    """Six quick steps of a slider whose every setting is a new run (clip-norm's step,
    uncached): each step opens the widget's stream for its setting and aborts the older one
    (an abort logs no error; the `page` fixture fails on any), no setting is asked for twice,
    and the chart ends on the last setting."""
    page.goto("/widgets/clip-norm/demo")
    wait_final(page, "clip-norm")
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "/widgets/clip-norm" in r.url else None)
    slider = page.locator("#clip-norm-step")
    slider.focus()
    for _ in range(6):  # 40 -> 100 in steps of 10, each once the previous one's request went out
        with page.expect_request(lambda r: "/widgets/clip-norm/stream?" in r.url):
            page.keyboard.press("ArrowRight")
    assert slider.input_value() == "100"
    page.wait_for_function(
        "() => { const link = document.querySelector('#clip-norm-result .provenance a');"
        " return link && link.href.includes('step=100')"
        " && document.getElementById('clip-norm-chart').dataset.final === '1'; }",
        timeout=RUN_TIMEOUT_MS)
    assert all("/widgets/clip-norm/stream?" in url for url in requests), requests
    assert len(requests) == len(set(requests)) == 6, f"a setting was requested twice: {requests}"
    assert "step=100" in requests[-1]
