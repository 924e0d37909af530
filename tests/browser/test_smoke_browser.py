"""A real Chromium opens the course and finds the layout and its vendored scripts."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest


@pytest.mark.browser
def test_home_page_loads_with_htmx_and_plotly_on_demand(page):
    loaded = {}
    page.on("response", lambda response: loaded.__setitem__(urlsplit(response.url).path,
                                                            response.status))

    response = page.goto("/")
    assert response is not None and response.status == 200

    assert "Keeping LLM training stable" in page.title()
    # the scripts are deferred: they have run by the load event page.goto waits for
    page.wait_for_function("() => window.htmx !== undefined && window.CourseCharts !== undefined",
                           timeout=15_000)
    assert page.evaluate("typeof window.htmx.ajax") == "function"
    assert loaded.get("/vendor/htmx.min.js") == 200
    # the landing page draws a live chart: the charts module fetched Plotly for it
    assert page.evaluate("CourseCharts.ready().then(Plotly => typeof Plotly.newPlot)") == "function"
    assert loaded.get("/vendor/plotly.min.js") == 200
