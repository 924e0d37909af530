"""A real Chromium opens the course and finds the layout and its vendored scripts."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

VENDOR_SCRIPTS = ("/vendor/htmx.min.js", "/vendor/plotly.min.js")


@pytest.mark.browser
def test_home_page_loads_with_htmx_and_plotly(page):
    loaded = {}
    page.on("response", lambda response: loaded.__setitem__(urlsplit(response.url).path,
                                                            response.status))

    response = page.goto("/")
    assert response is not None and response.status == 200

    assert "Keeping LLM training stable" in page.title()
    # both scripts are deferred: they have run by the load event page.goto waits for
    page.wait_for_function("() => window.htmx !== undefined && window.Plotly !== undefined",
                           timeout=15_000)
    assert page.evaluate("typeof window.htmx.ajax") == "function"
    assert page.evaluate("typeof window.Plotly.newPlot") == "function"
    for path in VENDOR_SCRIPTS:
        assert loaded.get(path) == 200, f"{path} answered {loaded.get(path)}"
