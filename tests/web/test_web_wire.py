"""Bytes on the wire: gzip for pages, styles, scripts and JSON but never for an event stream,
a year's caching for versioned files only, Plotly only where a chart is drawn, and the one
stream protocol's encoding (app/web/assets.py, app/web/jobs_http.py)."""
from __future__ import annotations

import gzip
import re

import pytest

from app.serving.engine import JobCancelled, JobFailed, QueueFull, Superseded
from app.web import jobs_http

GZIP = {"Accept-Encoding": "gzip"}


def raw_get(client, url: str, **kwargs):
    """The response as sent: TestClient (httpx) would decode gzip silently, so read the raw bytes."""
    with client.stream("GET", url, headers=GZIP, **kwargs) as response:
        return response, b"".join(response.iter_raw())


@pytest.mark.parametrize("url, kind", [("/", "text/html"), ("/chapters/learning-rate", "text/html"),
                                       ("/static/course.css", "text/css"), ("/static/course.js", "javascript"),
                                       ("/vendor/plotly.min.js", "javascript"), ("/api/widgets", "application/json")])
def test_pages_styles_scripts_and_json_are_gzipped(client, url, kind):
    response, body = raw_get(client, url)
    assert response.status_code == 200 and kind in response.headers["content-type"]
    assert response.headers.get("content-encoding") == "gzip"
    plain = gzip.decompress(body)
    assert len(body) < len(plain) / 2, (len(body), len(plain))
    assert "accept-encoding" in response.headers.get("vary", "").lower()


def test_an_event_stream_is_never_compressed(client):
    response, body = raw_get(client, "/widgets/lr-schedule/stream", params={"instance": "lr-schedule"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert "content-encoding" not in response.headers
    text = body.decode()
    assert text.startswith("event: ") and "event: result\n" in text, text[:200]


def test_a_client_that_does_not_accept_gzip_gets_plain_bytes(client):
    response = client.get("/static/course.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in response.headers and "CourseCharts" in response.text


def test_versioned_files_are_cached_for_a_year_and_nothing_else(client):
    page = client.get("/").text
    urls = re.findall(r'(?:src|href|content)="(/(?:static|vendor)/[^"?]+\?v=[0-9a-f]{12})"', page)
    assert {u.split("?")[0] for u in urls} >= {"/static/course.css", "/static/course.js", "/static/charts.js",
                                                "/static/stream.js", "/vendor/htmx.min.js", "/vendor/plotly.min.js"}
    for url in urls:
        assert client.get(url).headers["cache-control"] == "public, max-age=31536000, immutable", url
    stale = client.get("/static/course.js?v=000000000000")
    assert stale.status_code == 200 and "immutable" not in stale.headers.get("cache-control", "")
    assert "immutable" not in client.get("/vendor/plotly.min.js").headers.get("cache-control", "")
    assert "immutable" not in client.get("/").headers.get("cache-control", "")


def test_plotly_loads_only_where_a_chart_is_drawn(client):
    """The landing page names Plotly's URL for static/charts.js but does not load it; a page
    whose own script draws at load (train with your code) gets the script tag."""
    landing = client.get("/").text
    assert 'name="course-plotly" content="/vendor/plotly.min.js?v=' in landing
    assert not re.search(r'<script src="/vendor/plotly', landing)
    chapter = client.get("/chapters/learning-rate").text
    assert 'class="widget-chart"' in chapter and not re.search(r'<script src="/vendor/plotly', chapter)


# --- the one stream protocol ----------------------------------------------------------------

def test_sse_is_strict_json_with_nan_and_inf_as_null():
    event = jobs_http.sse("progress", {"done": 5, "loss": [1.5, float("nan"), float("inf")], "x": (float("-inf"),)})
    assert event == 'event: progress\ndata: {"done":5,"loss":[1.5,null,null],"x":[null]}\n\n'


@pytest.mark.parametrize("error, status", [(QueueFull(7, "32 runs wait"), 503), (Superseded("k"), 409),
                                           (JobCancelled("k"), 409), (JobFailed("boom"), 500)])
def test_each_outcome_has_its_status_code(error, status):
    response = jobs_http.refusal(error, what="a test run", replaced="a newer request replaced it")
    assert response.status_code == status
    if status == 503:
        assert response.headers["retry-after"] == "7"
    if status == 500:  # the failure's text stays in the log: the client gets an id
        assert b"boom" not in response.body and b"error_id" in response.body


@pytest.mark.parametrize("error, kind", [(Superseded("k"), "cancelled"), (JobCancelled("k"), "cancelled"),
                                         (JobFailed("boom"), "failed"), (jobs_http.StreamFailed("no steps"), "failed")])
def test_a_stream_ends_with_cancelled_or_failed(error, kind):
    event = jobs_http.failed_event(error, what="a test run")
    assert event.startswith(f"event: {kind}\ndata: {{\"message\":")
    assert "boom" not in event


def stream_kinds_and_data(client, params: dict) -> list[tuple[str, dict]]:
    import json

    with client.stream("GET", "/widgets/lr-schedule/stream", params={"instance": "lr-schedule", **params}) as response:
        assert response.status_code == 200
        text = "".join(response.iter_text())
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_an_uncached_move_shows_the_nearest_ready_setting_while_it_trains(client, app):
    """A moved slider never leaves an empty chart: the stream of an uncached setting sends,
    right after `queued`, the finished figure of the nearest cached setting (one control a
    slider position or two away) and says which; a setting with nothing ready near sends none."""
    far = stream_kinds_and_data(client, {"warmup": 3000})
    assert [kind for kind, _ in far][:1] == ["queued"] and "nearest" not in [k for k, _ in far]
    ready = dict(far)["result"]
    moved = stream_kinds_and_data(client, {"warmup": 3010})
    kinds = [kind for kind, _ in moved]
    assert kinds[:2] == ["queued", "nearest"] and kinds[-1] == "result"
    nearest = dict(moved)["nearest"]
    assert nearest["values"]["warmup"] == 3000 and "Warmup steps 3000" in nearest["label"]
    cached = app.state.jobs.cached(app.state.widgets["lr-schedule"], app.state.widgets["lr-schedule"].canonicalize(
        {"warmup": "3000"}))
    assert nearest["figure"] == json_roundtrip(cached["figure"])
    assert ready["html"]


def test_a_slider_dragged_far_shows_the_defaults_run_while_it_trains(client, app):
    """Far beyond the two positions precompute fills around a placement, the chart still shows a
    ready run: the setting with the dragged control back at its default."""
    widget = app.state.widgets["lr-schedule"]
    defaults = stream_kinds_and_data(client, {})  # trained and cached: the placement's run
    assert dict(defaults)["result"]["html"]
    far = stream_kinds_and_data(client, {"warmup": 4000})  # 380 slider positions from the default
    kinds = [kind for kind, _ in far]
    assert kinds[:2] == ["queued", "nearest"] and kinds[-1] == "result", kinds
    nearest = dict(far)["nearest"]
    assert nearest["values"] == widget.canonicalize({}) and "Warmup steps 200" in nearest["label"]


def json_roundtrip(value):
    import json

    return json.loads(json.dumps(jobs_http.json_safe(value)))
