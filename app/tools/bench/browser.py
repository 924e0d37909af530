"""What a learner's browser sees: bytes and load time of a first visit, and whether a page
stays responsive while a long run streams. Prints its figures, asserts nothing.

    python -m app.tools.bench.browser              # a fresh server of this checkout
    python -m app.tools.bench.browser --url URL    # a server already running (another checkout)

1. The landing page's first view, with a cold browser cache, on loopback: bytes on the wire
   (every response's transfer size, headers included, as Chromium's Resource Timing reports
   it), requests, and the time to the load event. Target: under 1 s.
2. schedule-families, the widget with the most traces: its defaults are drawn, then the peak
   LR slider is moved with the keyboard (an uncached run of 300 steps) and, while that run
   streams, a 50 ms timer in the page records the longest gap between its ticks: the longest
   time the main thread was busy and the page could not answer a click. Also: how many
   Plotly calls the stream made against how many progress messages arrived. Target: the
   longest gap under 200 ms.

Chromium is Debian's /usr/bin/chromium (COURSE_CHROMIUM), driven by Playwright, as in the tests.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics

CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
RUN_TIMEOUT_MS = 300_000
WIDGET = "schedule-families"

# Installed before any page script: a timer probe, and a counter on every Plotly call (Plotly
# may be loaded late, so the counter wraps it when it is assigned to window.Plotly).
PROBE = """
(() => {
  const probe = window.__probe = { max: 0, last: performance.now(), calls: 0, byName: {}, longest: {} };
  setInterval(() => {
    const now = performance.now();
    probe.max = Math.max(probe.max, now - probe.last);
    probe.last = now;
  }, 50);
  let plotly;
  const wrap = (lib) => {
    for (const name of ["newPlot", "react", "extendTraces", "relayout", "restyle", "redraw", "update"]) {
      const real = lib[name];
      if (typeof real !== "function") continue;
      lib[name] = function () {
        probe.calls += 1;
        probe.byName[name] = (probe.byName[name] || 0) + 1;
        const started = performance.now();
        const out = real.apply(this, arguments);
        probe.longest[name] = Math.max(probe.longest[name] || 0, performance.now() - started);
        return out;
      };
    }
    return lib;
  };
  Object.defineProperty(window, "Plotly", {
    configurable: true,
    get: () => plotly,
    set: (lib) => { plotly = lib && !lib.__probed ? wrap(lib) : lib; if (plotly) plotly.__probed = true; },
  });
})();
"""

FIRST_VIEW = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  const bytes = nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0);
  const decoded = nav.decodedBodySize + resources.reduce((sum, r) => sum + r.decodedBodySize, 0);
  return { bytes, decoded, requests: 1 + resources.length, load_ms: nav.loadEventEnd,
           dom_ms: nav.domContentLoadedEventEnd,
           largest: resources.map(r => [r.name.replace(location.origin, ""), r.transferSize])
                             .sort((a, b) => b[1] - a[1]).slice(0, 3) };
}"""


def first_view(browser, base: str, repeats: int) -> None:
    views = []
    for _ in range(repeats):
        context = browser.new_context()  # a new profile in memory: an empty cache
        page = context.new_page()
        page.goto(base + "/", wait_until="load")
        views.append(page.evaluate(FIRST_VIEW))
        context.close()
    median = lambda key: statistics.median(v[key] for v in views)  # noqa: E731
    print(f"landing page, first view (cold cache, {repeats} visits, median): "
          f"{median('bytes') / 1024:,.0f} KiB on the wire ({median('decoded') / 1024:,.0f} KiB decoded), "
          f"{median('requests'):.0f} requests, DOMContentLoaded {median('dom_ms'):.0f} ms, "
          f"load {median('load_ms'):.0f} ms (target < 1000 ms)")
    print("  largest: " + ", ".join(f"{name} {size / 1024:,.0f} KiB" for name, size in views[-1]["largest"]))


def stream_gaps(browser, base: str) -> None:
    context = browser.new_context(base_url=base)
    context.add_init_script(PROBE)
    page = context.new_page()
    chart = f"#{WIDGET}-chart"
    page.goto(f"/widgets/{WIDGET}/demo")
    page.wait_for_selector(f"{chart}[data-final='1']", state="attached", timeout=RUN_TIMEOUT_MS)
    # the same probe on the finished page, idle, for 10 s: what this machine's load alone causes
    page.evaluate("() => { const p = window.__probe; p.max = 0; p.last = performance.now(); }")
    page.wait_for_timeout(10_000)
    idle = page.evaluate("() => window.__probe.max")
    partial = int(page.locator(chart).get_attribute("data-partial") or 0)
    messages = int(page.locator(chart).get_attribute("data-progress") or 0)
    slider = page.locator(f"#{WIDGET}-peak_lr")
    slider.focus()
    page.keyboard.press("ArrowLeft")  # a peak LR no one asked for yet: a new 300-step run
    page.wait_for_function(f"() => Number(document.querySelector('{chart}').dataset.partial || 0) > {partial}",
                           timeout=RUN_TIMEOUT_MS)
    # the run is streaming: measure from here to the finished chart
    page.evaluate("() => { const p = window.__probe; p.max = 0; p.last = performance.now(); p.calls = 0;"
                  " p.byName = {}; p.longest = {}; p.started = performance.now(); }")
    page.wait_for_selector(f"{chart}[data-final='1']", state="attached", timeout=RUN_TIMEOUT_MS)
    found = page.evaluate(f"""() => {{ const p = window.__probe, c = document.querySelector('{chart}');
        return {{ max: p.max, calls: p.calls, byName: p.byName, seconds: (performance.now() - p.started) / 1000,
                 longest: p.longest,
                 partial: Number(c.dataset.partial || 0), messages: Number(c.dataset.progress || 0) }}; }}""")
    context.close()
    # this checkout counts progress messages on the chart (data-progress); an older one drew
    # once per message, so its partial draws are its messages
    messages = (f"{found['messages'] - messages} progress messages" if found["messages"]
                else f"{found['partial'] - partial} progress messages (one partial draw each)")
    print(f"{WIDGET}, a peak-LR move streaming for {found['seconds']:.1f} s: longest main-thread gap "
          f"{found['max']:.0f} ms (target < 200 ms); {found['calls']} Plotly calls "
          f"({', '.join(f'{k} {v}' for k, v in sorted(found['byName'].items()))}) for {messages}; "
          f"the longest single call: " + ", ".join(f"{k} {v:.0f} ms" for k, v in sorted(found["longest"].items()))
          + f"; the idle page's longest gap {idle:.0f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="measure this running server instead of starting one")
    parser.add_argument("--repeats", type=int, default=5, help="cold first views of the landing page")
    parser.add_argument("--skip-stream", action="store_true", help="only the landing page")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from app.tools.bench.speed import server

    with contextlib.ExitStack() as stack:
        base = args.url.rstrip("/") if args.url else stack.enter_context(server(cache=True))
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        stack.callback(browser.close)
        first_view(browser, base, args.repeats)
        if not args.skip_stream:
            stream_gaps(browser, base)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
