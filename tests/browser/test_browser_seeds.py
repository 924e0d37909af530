"""Seeds in a real browser: at seeds=3 the warmup chart draws each curve's band (the shaded
spread between its best and worst seed, built into the server's Plotly figure) around the
mean, and the findings under the chart state the difference with its paired test."""
from __future__ import annotations

import pytest

from test_browser_widgets import RUN_TIMEOUT_MS, wait_final

pytestmark = pytest.mark.browser

BANDS = """id => {
  const chart = document.getElementById(id);
  const filled = (chart.data || []).filter(t => t.fill === "tonexty");
  const drawn = [...chart.querySelectorAll(".scatterlayer .trace .fills path")]
    .filter(p => (p.getAttribute("d") || "").length > 10);
  return {traces: filled.map(t => t.y.length), drawn: drawn.length,
          names: (chart.data || []).filter(t => t.showlegend !== false).map(t => t.name)};
}"""


def test_the_chart_at_three_seeds_shows_a_band_per_curve_and_the_paired_test(page):
    page.goto("/widgets/warmup/demo?warmup.seeds=3&warmup.steps=30&warmup.warmup=5")
    wait_final(page, "warmup")
    bands = page.evaluate(BANDS, "warmup-chart")
    assert bands["traces"] == [30, 30], bands  # one filled band per curve, every step of the run
    assert bands["drawn"] >= 2, "the bands are painted, not only listed"
    assert all("mean of 3 seeds" in name for name in bands["names"]), bands["names"]
    findings = page.locator("#warmup-findings").inner_text(timeout=RUN_TIMEOUT_MS)
    assert "paired t-test" in findings and "mean of 3 seeds" in findings
    assert page.locator("#warmup-seeds").input_value() == "3"
