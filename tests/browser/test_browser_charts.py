"""Charts and streams in a real browser: one request per slider move, at most one chart update
per progress message, the previous run kept as a ghost with a before/after line, findings as
page text in a polite live region, and chart text that fits a phone. Every wait is on state."""
from __future__ import annotations

import pytest

from widgets.registry import all_widgets

from test_browser_widgets import RUN_TIMEOUT_MS, shortest_run, wait_final

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}

# counts every Plotly call, however late Plotly is loaded (static/charts.js fetches it on demand)
PLOTLY_COUNTER = """
(() => {
  window.__plotlyCalls = 0;
  let plotly;
  Object.defineProperty(window, "Plotly", { configurable: true, get: () => plotly, set: (lib) => {
    for (const name of ["newPlot", "react", "extendTraces", "relayout", "restyle", "redraw", "update"]) {
      const real = lib[name];
      if (typeof real === "function") lib[name] = function () { window.__plotlyCalls += 1; return real.apply(this, arguments); };
    }
    plotly = lib;
  }});
})();
"""


def wait_settled(page, instance: str) -> None:
    """The last move's result is drawn: no move waits for its result (static/course.js marks the
    form data-pending from the move to the drawn result) and the chart is final."""
    page.wait_for_function(
        "id => !document.querySelector('#' + id + ' .widget-form').dataset.pending"
        " && document.getElementById(id + '-chart').dataset.final === '1'", arg=instance, timeout=RUN_TIMEOUT_MS)


def counter(page, instance: str, name: str) -> int:
    return int(page.locator(f"#{instance}-chart").get_attribute(f"data-{name}") or 0)


def press_on(page, selector: str, key: str) -> None:
    page.locator(selector).focus()
    page.keyboard.press(key)


def test_an_uncached_slider_move_is_one_request_that_streams(page):
    page.goto("/widgets/warmup/demo?warmup.steps=60")
    wait_final(page, "warmup")
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "/widgets/warmup" in r.url or "/api/" in r.url else None)
    progress_before = counter(page, "warmup", "progress")
    press_on(page, "#warmup-warmup", "ArrowLeft")  # 40 -> 35 warmup steps: a setting no test asked for
    wait_settled(page, "warmup")
    assert len(requests) == 1, requests
    assert "/widgets/warmup/stream?" in requests[0] and "warmup=35" in requests[0]
    assert counter(page, "warmup", "progress") > progress_before, "the run trained and streamed"
    # the same setting again is on screen already: no request at all; back to 40 is cached: one
    press_on(page, "#warmup-warmup", "ArrowRight")
    wait_settled(page, "warmup")
    assert len(requests) == 2 and "warmup=40" in requests[1], requests


def test_a_stream_updates_the_chart_at_most_once_per_progress_message(browser, live_server):
    context = browser.new_context(base_url=live_server)
    context.add_init_script(PLOTLY_COUNTER)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto("/widgets/schedule-families/demo?schedule-families.steps=60&schedule-families.branch_at=30")
        wait_final(page, "schedule-families")
        calls, messages = page.evaluate("window.__plotlyCalls"), counter(page, "schedule-families", "progress")
        press_on(page, "#schedule-families-peak_lr", "ArrowLeft")
        wait_settled(page, "schedule-families")
        calls = page.evaluate("window.__plotlyCalls") - calls
        messages = counter(page, "schedule-families", "progress") - messages
        assert messages >= 5, f"the run streamed only {messages} progress messages"
        assert calls <= messages + 1, f"{calls} Plotly calls for {messages} progress messages and the result"
    finally:
        context.close()
    assert not errors


GHOSTS = "id => (document.getElementById(id).data || []).filter(t => / \\(previous\\)$/.test(t.name || '')).length"


def test_moving_a_slider_keeps_the_previous_run_as_a_ghost_with_a_delta_line(page):
    page.goto("/widgets/warmup/demo?warmup.steps=60")
    wait_final(page, "warmup")
    assert page.evaluate(GHOSTS, "warmup-chart") == 0
    shown = page.evaluate("() => document.getElementById('warmup-chart').data.filter(t => t.x.length).length")
    press_on(page, "#warmup-peak_lr", "ArrowLeft")
    # while the new run streams, the old curves are there, faint, under its first points
    page.wait_for_function(f"() => {{ const c = document.getElementById('warmup-chart');"
                           f" return c.dataset.final !== '1' && Number(c.dataset.partial || 0) > 0 && ({GHOSTS})('warmup-chart') > 0; }}",
                           timeout=RUN_TIMEOUT_MS)
    wait_settled(page, "warmup")
    assert page.evaluate(GHOSTS, "warmup-chart") == shown, "every drawn curve of the previous run stays as a ghost"
    faint = page.evaluate("() => document.getElementById('warmup-chart').data.filter(t => / \\(previous\\)$/.test(t.name))"
                          ".every(t => t.opacity <= 0.5 && t.showlegend === false)")
    assert faint
    line = page.locator("#warmup-findings .run-delta").inner_text()
    assert line.startswith("Previous setting → this one:") and "final loss" in line and "→" in line, line
    # the caption says it describes the defaults while the chart shows another setting
    assert page.locator("#warmup-caption-defaults").is_visible()


def test_a_verdict_is_page_text_in_a_live_region_that_speaks_once_per_result(page):
    page.goto("/widgets/diagnosis/demo")
    wait_final(page, "diagnosis")
    findings = page.locator("#diagnosis-findings")
    assert findings.get_attribute("aria-live") == "polite"
    assert page.locator("#diagnosis-result .run-progress-text").get_attribute("aria-live") is None
    page.evaluate("() => { window.__changes = 0; new MutationObserver(() => { window.__changes += 1; })"
                  ".observe(document.getElementById('diagnosis-findings'), {childList: true, subtree: true, characterData: true}); }")
    page.locator("#diagnosis-guess").select_option("no warmup")
    wait_settled(page, "diagnosis")
    text = findings.inner_text()
    assert "Correct" in text and "warmup" in text.lower() and len(text) > 80, text
    assert page.evaluate("window.__changes") == 1, "the live region changed once for one result"
    # the explanation is not only inside the chart's SVG any more
    svg_text = page.evaluate("() => document.querySelector('#diagnosis-chart .main-svg').textContent")
    assert text.splitlines()[-1][:60] not in svg_text


# Every text element of a chart (titles, annotations, tick labels, legend) lies inside the
# chart's SVG; the hover layer is left out (it shows only under the pointer).
TEXT_OUTSIDE = """id => {
  const chart = document.getElementById(id);
  const svg = chart.querySelector('svg.main-svg');
  if (!svg) return ['no svg'];
  const box = svg.getBoundingClientRect();
  const out = [];
  for (const text of chart.querySelectorAll('svg text')) {
    if (text.closest('.hoverlayer')) continue;
    const r = text.getBoundingClientRect();
    if (!r.width || !text.textContent.trim()) continue;
    if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)
      out.push(`${text.textContent.slice(0, 40)} [${Math.round(r.left)}..${Math.round(r.right)} of ${Math.round(box.left)}..${Math.round(box.right)}]`);
  }
  return out;
}"""

NO_TOOLBAR = """id => {
  const chart = document.getElementById(id);
  const focusable = chart.querySelectorAll('a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])');
  return { modebar: chart.querySelectorAll('.modebar-btn').length, focusable: focusable.length };
}"""


@pytest.mark.parametrize("name", sorted(all_widgets()))
def test_chart_text_fits_a_phone_and_a_desktop(page, name):
    page.set_viewport_size(PHONE)
    page.goto(f"/widgets/{name}/demo{shortest_run(name)}")
    wait_final(page, name)
    chart = f"{name}-chart"
    assert page.evaluate(TEXT_OUTSIDE, chart) == [], "chart text outside the chart at 390 px"
    assert page.evaluate(NO_TOOLBAR, chart) == {"modebar": 0, "focusable": 0}
    drawn = counter(page, name, "drawn")
    page.set_viewport_size(DESKTOP)  # redrawn for the new width
    page.wait_for_function(f"() => Number(document.getElementById('{chart}').dataset.drawn) > {drawn}")
    assert page.evaluate(TEXT_OUTSIDE, chart) == [], "chart text outside the chart at 1440 px"


def test_switching_light_and_dark_keeps_the_chart_height(page):
    page.set_viewport_size(PHONE)
    page.emulate_media(color_scheme="light")
    page.goto("/widgets/warmup/demo?warmup.steps=60")
    wait_final(page, "warmup")
    height = page.locator("#warmup-chart").bounding_box()["height"]
    for scheme in ("dark", "light", "dark", "light"):
        drawn = counter(page, "warmup", "drawn")
        page.emulate_media(color_scheme=scheme)
        page.wait_for_function(f"() => Number(document.getElementById('warmup-chart').dataset.drawn) > {drawn}")
    assert page.locator("#warmup-chart").bounding_box()["height"] == pytest.approx(height, abs=1)


def test_the_lr_sweep_and_sanity_axes_contain_their_curves(page):
    """Fixed axes keep a streaming chart still, but the finished chart shows every point it
    plots, or says on the axis where it is clipped."""
    for name in ("lr-sweep", "sanity"):
        page.goto(f"/widgets/{name}/demo{shortest_run(name)}")
        wait_final(page, name)
        found = page.evaluate("""id => {
          const chart = document.getElementById(id);
          const out = [];
          for (const trace of chart._fullData) {
            const axis = chart._fullLayout[trace.yaxis.replace('y', 'yaxis')];
            const [lo, hi] = axis.range;
            const ys = (trace.y || []).filter(v => typeof v === 'number');
            const title = (axis.title && axis.title.text) || '';
            if (ys.some(v => v > hi + 1e-9 || v < lo - 1e-9) && !title.includes('clipped'))
              out.push(`${trace.name}: ${Math.min(...ys)}..${Math.max(...ys)} on [${lo}, ${hi}]`);
          }
          return out;
        }""", f"{name}-chart")
        assert found == [], f"{name}: curves beyond their axes: {found}"


def test_plotly_is_fetched_only_on_a_page_with_a_chart(page):
    fetched = []
    page.on("request", lambda r: fetched.append(r.url) if "plotly" in r.url else None)
    page.goto("/glossary")  # no chart on it (the landing page has one)
    page.wait_for_function("() => window.htmx !== undefined && window.CourseCharts !== undefined")
    assert page.evaluate("typeof window.Plotly") == "undefined" and not fetched
    page.goto("/widgets/lr-schedule/demo")
    wait_final(page, "lr-schedule")
    assert len(fetched) == 1 and "/vendor/plotly.min.js?v=" in fetched[0]


def test_a_page_opened_at_a_setting_nobody_ran_shows_the_nearest_ready_one_meanwhile(page):
    """The chart is never empty while a run trains: a page opened at an uncached setting draws
    the nearest cached setting's curves, faint and named, until the run's own figure arrives."""
    page.goto("/widgets/lr-schedule/demo?lr-schedule.warmup=4000")
    wait_final(page, "lr-schedule")  # now cached: the neighbour of the setting below
    page.goto("/widgets/lr-schedule/demo?lr-schedule.warmup=4010")
    wait_final(page, "lr-schedule")
    chart = page.locator("#lr-schedule-chart")
    assert chart.get_attribute("data-nearest") == "1", "the nearest ready setting was drawn first"
    named = page.evaluate("() => document.getElementById('lr-schedule-chart').data"
                          ".filter(t => / \\(nearest ready\\)$/.test(t.name)).length")
    assert named == 0, "the run's own figure replaced the nearest one"


def test_points_of_a_run_joined_under_way_wait_while_the_nearest_setting_is_drawn(page):
    """A page that joins a run another page started gets its new points before any figure of
    it. With the nearest ready setting on the chart those points wait for the run's figure or
    result: extending the nearest figure's traces was an uncaught Plotly error (the `page`
    fixture fails the test on it)."""
    page.goto("/widgets/lr-schedule/demo?lr-schedule.warmup=4000")
    wait_final(page, "lr-schedule")
    page.evaluate("""() => {
      const chart = document.createElement('div');
      chart.id = 'joined-chart'; chart.className = 'widget-chart'; chart.style.width = '400px';
      chart.style.height = '300px';
      document.body.appendChild(chart);
      const nearest = document.getElementById('lr-schedule-chart').data
        .map(t => ({type: t.type, x: Array.from(t.x), y: Array.from(t.y), name: t.name, mode: t.mode}));
      CourseCharts.nearest(chart, {data: nearest, layout: {}});
      CourseCharts.progress(chart, {extend: [{trace: 0, data: {x: [1, 2], y: [0.1, 0.2]}}]});
    }""")
    # both calls asked for the same frame: once it is drawn, the points were drawn or held back
    page.wait_for_function("() => Number(document.getElementById('joined-chart').dataset.drawn || 0) >= 1")
    names = page.evaluate("() => document.getElementById('joined-chart').data.map(t => t.name || '')")
    assert names and all(name.endswith(" (nearest ready)") for name in names), names
