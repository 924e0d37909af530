"""Pinned runs in a real browser (static/pins.js): a pinned warmup run stays on the chart, dashed
and named in the legend, beside the run of a moved slider; a table names the setting that
differs; the pin lives in the page's URL, so it survives a reload and opens from a shared link
in another browser; Unpin removes it. Bad pins in a link are dropped with a visible note."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from test_browser_charts import press_on, wait_settled
from test_browser_widgets import RUN_TIMEOUT_MS, wait_final

pytestmark = pytest.mark.browser
START = "/widgets/warmup/demo?warmup.steps=20&warmup.warmup=5"

# the chart's traces as drawn: pinned ones (dashed, "Pin N: ..." in the legend) and the run's own
TRACES = """id => {
  const data = document.getElementById(id).data || [];
  const drawn = (t) => t.x && t.x.length && !/ \\(previous\\)$/.test(t.name || '');
  const pinned = data.filter(t => drawn(t) && /^Pin \\d: /.test(t.name || ''));
  return {
    pinned: pinned.map(t => t.name), dashed: pinned.every(t => !/lines/.test(t.mode || 'lines') || ['dash', 'dashdot', 'longdash'].includes(t.line.dash)),
    legend: pinned.filter(t => t.showlegend !== false).map(t => t.name),
    current: data.filter(t => drawn(t) && !/^Pin \\d: /.test(t.name || '') && t.showlegend !== false).map(t => t.name),
  };
}"""


def pins_in(url: str) -> list[str]:
    return parse_qs(urlsplit(url).query).get("warmup.pins", [])


def wait_pinned(page, count: int) -> dict:
    """The chart has the curves of `count` pins (0: none) and is final; returns its traces."""
    page.wait_for_function(
        f"id => new Set(({TRACES})(id).pinned.map(n => n.split(':')[0])).size === {count}"
        " && document.getElementById(id).dataset.final === '1'", arg="warmup-chart", timeout=RUN_TIMEOUT_MS)
    return page.evaluate(TRACES, "warmup-chart")


def diff_rows(page) -> list[list[str]]:
    rows = page.locator("#warmup-pins .pins-diff tbody tr")
    return [rows.nth(i).locator("th, td").all_inner_texts() for i in range(rows.count())]


def check_clean(page) -> None:
    """What the `page` fixture checks, for a page of a context of the test's own."""
    assert not page.page_errors and not page.console_errors, (page.page_errors, page.console_errors)


def test_a_pinned_run_stays_beside_later_runs_survives_a_reload_and_a_shared_link(page, browser, live_server):
    page.goto(START)
    wait_final(page, "warmup")
    pin = page.get_by_role("button", name="Pin this run")
    assert pin.is_visible()
    pin.focus()  # a real button: reachable and pressed from the keyboard
    page.keyboard.press("Enter")
    assert pins_in(page.url) == ["warmup:5,steps:20"], page.url
    traces = wait_pinned(page, 1)
    assert traces["legend"] == ["Pin 1: warmup 5", "Pin 1: no warmup"], traces

    press_on(page, "#warmup-warmup", "ArrowRight")  # 5 -> 10 warmup steps
    wait_settled(page, "warmup")
    traces = wait_pinned(page, 1)
    assert traces["legend"] == ["Pin 1: warmup 5", "Pin 1: no warmup"] and traces["dashed"], traces
    assert "warmup 10" in traces["current"], traces
    assert diff_rows(page) == [["Pin 1\nUnpin", "Warmup steps", "5 steps", "10 steps"]]
    assert "warmup.warmup=10" in page.url and pins_in(page.url)

    page.reload()
    wait_final(page, "warmup")
    traces = wait_pinned(page, 1)
    assert "warmup 10" in traces["current"] and traces["legend"][0] == "Pin 1: warmup 5", traces
    page.wait_for_function("() => !document.querySelector('#warmup-pins .pins-diff').textContent.includes('…')")
    assert diff_rows(page) == [["Pin 1\nUnpin", "Warmup steps", "5 steps", "10 steps"]]

    # a shared link: another browser (no cookie, no memory of this page) opens the same pins
    shared = page.url
    assert page.locator("#warmup [data-permalink]").get_attribute("href").split("#")[0] == shared.split(live_server)[1].split("#")[0]
    context = browser.new_context(base_url=live_server)
    try:
        other = context.new_page()
        other.page_errors, other.console_errors = [], []
        other.on("pageerror", lambda error: other.page_errors.append(str(error)))
        other.on("console", lambda m: other.console_errors.append(m.text) if m.type == "error" else None)
        other.goto(shared)
        wait_final(other, "warmup")
        traces = wait_pinned(other, 1)
        assert traces["legend"] == ["Pin 1: warmup 5", "Pin 1: no warmup"] and "warmup 10" in traces["current"], traces
        other.wait_for_function("() => !document.querySelector('#warmup-pins .pins-diff').textContent.includes('…')")
        assert diff_rows(other) == [["Pin 1\nUnpin", "Warmup steps", "5 steps", "10 steps"]]
        check_clean(other)
    finally:
        context.close()

    page.get_by_role("button", name="Unpin Pin 1").click()
    wait_pinned(page, 0)
    assert pins_in(page.url) == [] and "warmup.warmup=10" in page.url
    assert page.locator("#warmup-pins .pins-diff").is_hidden()
    assert page.evaluate("() => document.activeElement.dataset.pin") == "", "focus is back on the Pin button"


def test_bad_pins_in_a_link_are_dropped_with_a_visible_note(page):
    page.goto(START + "&warmup.pins=" + "peak_lr:5;nonsense:1;warmup:4.5;defaults")
    wait_final(page, "warmup")
    note = page.locator("#warmup-pins .pins-note")
    note.wait_for(state="visible")
    text = note.inner_text()
    assert "Peak learning rate" in text and "outside" in text and "nonsense" in text and "whole number" in text, text
    traces = wait_pinned(page, 1)  # the good one, at the widget's defaults, is kept
    assert traces["legend"][0] == "Pin 1: warmup 40", traces
    assert pins_in(page.url) == ["defaults"], page.url
    assert diff_rows(page) == [["Pin 1\nUnpin", "Warmup steps", "40 steps", "5 steps"],
                               ["Training steps", "150 steps", "20 steps"]]  # the rest of Pin 1's rows


def test_a_pin_the_server_refuses_is_dropped_with_its_message(page):
    # warmup 200 is inside the slider's range but not shorter than the pin's 150-step run
    page.goto(START + "&warmup.pins=" + "warmup:200")
    wait_final(page, "warmup")
    note = page.locator("#warmup-pins .pins-note")
    note.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
    assert "warmup" in note.inner_text() and "steps" in note.inner_text()
    page.wait_for_function("() => !new URL(location.href).searchParams.has('warmup.pins')")
    # the browser reports the refused request itself; that is the one console error allowed here
    page.console_errors[:] = [e for e in page.console_errors
                              if not ("status of 422" in e and "/widgets/warmup/stream?" in e)]
