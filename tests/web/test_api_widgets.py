"""The widget routes: the list, JSON twins, fragments, streams and bad input (HTTP 422)."""
from __future__ import annotations

import json
import re
import time

import pytest

from app.serving.worker import figure_delta
from widgets.registry import all_widgets

NAMES = sorted(all_widgets())


def test_list_names_every_widget_with_bounds(client):
    listed = client.get("/api/widgets").json()["widgets"]
    assert sorted(w["name"] for w in listed) == NAMES
    warmup = next(w for w in listed if w["name"] == "warmup")
    peak = next(p for p in warmup["params"] if p["name"] == "peak_lr")
    assert peak == {**peak, "min": 1e-4, "max": 3e-2, "log": True, "default": 6e-3}


def test_json_twin_has_params_data_and_provenance_then_comes_from_cache(client):
    first = client.get("/api/widgets/lr-schedule", params={"family": "wsd", "total": 1000, "warmup": 100})
    assert first.status_code == 200
    body = first.json()
    assert body["params"]["family"] == "wsd" and body["params"]["total"] == 1000
    assert len(body["data"]["lr"]) == 1000
    provenance = body["provenance"]
    assert provenance["cached"] is False and provenance["seed"] and provenance["device"] == "cpu"
    assert provenance["torch"] and provenance["wall_time_s"] >= 0
    second = client.get("/api/widgets/lr-schedule", params={"family": "wsd", "total": 1000, "warmup": 100})
    assert second.json()["provenance"]["cached"] is True
    assert second.json()["data"] == body["data"]


@pytest.mark.parametrize("query,field", [
    ({"peak_lr": "abc"}, "peak_lr"),
    ({"peak_lr": "nan"}, "peak_lr"),
    ({"peak_lr": "inf"}, "peak_lr"),
    ({"peak_lr": "1"}, "peak_lr"),
    ({"warmup": "-5"}, "warmup"),
    ({"warmup": "2.5"}, "warmup"),
    ({"steps": "100000"}, "steps"),
    ({"warmup": "200", "steps": "100"}, "warmup"),
    ({"layout": "sideways"}, "layout"),
    ({"clip": "maybe"}, "clip"),
])
def test_bad_input_is_a_422_naming_field_value_and_range(client, query, field):
    for url in ("/api/widgets/warmup", "/widgets/warmup/stream"):
        response = client.get(url, params=query)
        assert response.status_code == 422, (url, query)
        detail = response.json()["detail"][0]
        assert detail["loc"] == ["query", field]
        assert field in detail["msg"] and detail["allowed"]
        assert str(detail["input"]) == query[field] and query[field] in detail["msg"]  # the value sent, echoed


def test_bad_input_in_a_fragment_is_a_readable_422(client):
    response = client.get("/widgets/warmup", params={"peak_lr": "5", "instance": "warmup"})
    assert response.status_code == 422
    assert "peak_lr" in response.text and "0.0001" in response.text and 'role="alert"' in response.text


def test_cross_field_rule_on_lr_schedule(client):
    response = client.get("/api/widgets/lr-schedule", params={"min_lr": "0.01", "peak_lr": "0.001"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "min_lr"]


def test_unknown_widget_is_404(client):
    assert client.get("/api/widgets/nope").status_code == 404
    assert client.get("/widgets/nope/stream").status_code == 404


def test_a_fragment_never_computes_it_points_to_the_stream_until_cached(client):
    """Even a quick widget's miss is a stream address: rendering never trains or waits."""
    params = {"instance": "lr-schedule", "family": "linear"}
    fragment = client.get("/widgets/lr-schedule", params=params)
    assert fragment.status_code == 200
    assert "data-stream-url" in fragment.text and "figure-json" not in fragment.text
    events = read_events(client, "/widgets/lr-schedule/stream", params)
    assert [kind for kind, _ in events][-1] == "result"
    cached = client.get("/widgets/lr-schedule", params=params)
    assert 'class="figure-json"' in cached.text and "Show the code" in cached.text
    assert "Data table" in cached.text and "badge-cached" in cached.text


def test_a_widget_waiting_for_its_run_is_rendered_once_and_kept_until_the_run_is_done(app, client):
    """A page's widget whose result is not cached yet is the same for every learner (its stream's
    address): rendered once, until the run is done; then the finished result is shown."""
    from app.web.views.widget import view_key

    jobs, widget = app.state.jobs, app.state.widgets["lr-schedule"]
    values = widget.canonicalize({})
    app.state.cache.clear()
    jobs.memo.clear()
    linked = client.get("/widgets/lr-schedule/demo?lr-schedule.family=cosine&lr-schedule.total=900").text
    assert "data-stream-url" in linked and len(jobs.memo) == 0, "a link's own values are not kept"
    page = "/widgets/lr-schedule/demo"
    first = client.get(page).text
    assert "data-stream-url" in first and "figure-json" not in first
    view = view_key("widget", "lr-schedule")
    kept = jobs.remembered_pending(widget, values, view)
    assert kept is not None and kept in first, "the waiting widget is kept"
    jobs.remember_pending(widget, values, view, kept + "<!-- from the memo -->")
    assert "<!-- from the memo -->" in client.get(page).text, "the next page is served from it"
    read_events(client, "/widgets/lr-schedule/stream", {"instance": "lr-schedule"})
    assert jobs.remembered_pending(widget, values, view) is None, "not once the run is done"
    done = client.get(page).text
    assert 'class="figure-json"' in done and "<!-- from the memo -->" not in done


def test_a_rendered_fragment_is_kept_only_while_its_result_is_cached(app, client):
    """The web process keeps the HTML of a cached result (pages and moves render it once), and
    stops serving it as soon as the shared cache no longer holds the result."""
    params = {"instance": "lr-schedule", "family": "cosine", "total": "700"}
    read_events(client, "/widgets/lr-schedule/stream", params)
    first = client.get("/widgets/lr-schedule", params=params).text
    assert 'class="figure-json"' in first
    kept = len(app.state.jobs.memo)
    assert kept >= 1
    assert client.get("/widgets/lr-schedule", params=params).text == first
    assert len(app.state.jobs.memo) == kept, "the second request was served from the memo"
    app.state.cache.clear()
    again = client.get("/widgets/lr-schedule", params=params).text
    assert "data-stream-url" in again and "figure-json" not in again


def test_start_up_pre_renders_the_cached_precomputed_settings_and_computes_nothing(app, client):
    """app/web/views/prerender.py: what is cached gets its fragment rendered before anyone asks; what is
    not cached is left alone (no run starts)."""
    from app.serving.cache import BoundedLRU
    from app.serving.jobs import MEMO_BYTES
    from app.web.views.prerender import Prerender
    from app.web.views.widget import view_key

    read_events(client, "/widgets/lr-schedule/stream", {"instance": "lr-schedule"})  # the defaults
    jobs = app.state.jobs
    jobs.memo = BoundedLRU(MEMO_BYTES)  # as a fresh server's
    runs_before = client.get("/api/engine").json()["engine"]["counts"]
    warm = Prerender(app, radius=1)
    warm._run()
    assert warm.rendered == 1, "only the one cached setting is rendered"
    widget = app.state.widgets["lr-schedule"]
    view = view_key("result", "lr-schedule")
    assert jobs.remembered(widget, widget.canonicalize({}), view) is not None
    assert client.get("/api/engine").json()["engine"]["counts"] == runs_before, "nothing was computed"
    html = client.get("/widgets/lr-schedule", params={"instance": "lr-schedule"}).text
    assert html == jobs.remembered(widget, widget.canonicalize({}), view) and len(jobs.memo) == 2, \
        "served from the memo (which holds the fragment and the stream's result event)"
    event = jobs.remembered(widget, widget.canonicalize({}), view_key("result-event", "lr-schedule"))
    assert event.startswith("event: result\n") and json.loads(event.split("data: ", 1)[1])["html"] == html
    streamed = client.get("/widgets/lr-schedule/stream", params={"instance": "lr-schedule"}).text
    assert streamed == event and len(jobs.memo) == 2, "a moved slider is answered with the kept event"
    for _ in range(100):  # the server's own pre-render, at start-up, when nothing was cached
        started_with = client.get("/api/engine").json()["prerendered"]
        if started_with["finished"]:
            break
        time.sleep(0.1)
    assert started_with["finished"] and started_with["rendered"] == 0


def test_a_stream_sends_new_points_then_the_finished_fragment(client):
    params = {"instance": "warmup", "steps": "20", "warmup": "5"}
    fragment = client.get("/widgets/warmup", params=params)
    assert "data-stream-url" in fragment.text and "figure-json" not in fragment.text
    events = read_events(client, "/widgets/warmup/stream", params)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "queued" and kinds[1] == "progress" and kinds[-1] == "result"
    progress = [body for kind, body in events if kind == "progress"]
    assert "figure" in progress[0], "the first report carries a whole figure"
    assert any("extend" in body for body in progress[1:]), "later reports only the new points"
    figure = None
    for body in progress:  # what the browser does with them
        figure = figure_delta.apply(figure, body)
    assert len(figure["data"][0]["x"]) == 20, "the deltas add up to the whole run"
    final = events[-1][1]
    assert 'class="figure-json"' in final["html"] and "Data table" in final["html"]
    assert final["provenance"]["cached"] is False and final["provenance"]["host"]
    shown = json.loads(re.search(r'class="figure-json">(.*?)</script>', final["html"], re.S).group(1))
    assert shown["data"][0]["x"] == figure["data"][0]["x"]
    cached = client.get("/widgets/warmup", params=params)
    assert "figure-json" in cached.text and "cached" in cached.text
    again = read_events(client, "/widgets/warmup/stream", params)
    assert [kind for kind, _ in again] == ["result"], "a cached result streams as its fragment at once"


def test_a_bad_instance_is_a_422(client):
    response = client.get("/widgets/warmup/stream", params={"instance": "<script>"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "instance"]


def read_events(client, url, params):
    events = []
    with client.stream("GET", url, params=params) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    return events


def test_demo_pages_and_gallery(client):
    assert client.get("/widgets").status_code == 200
    for name in NAMES:
        page = client.get(f"/widgets/{name}/demo")
        assert page.status_code == 200 and f'data-widget="{name}"' in page.text


def test_page_url_state_sets_the_controls(client):
    page = client.get("/widgets/warmup/demo", params={"warmup.peak_lr": "0.002", "warmup.warmup": "25"})
    assert 'name="peak_lr" value="0.002"' in page.text
    assert 'id="warmup-warmup-out" for="warmup-warmup" class="control-value">25<' in page.text
    bad = client.get("/widgets/warmup/demo", params={"warmup.peak_lr": "7"})
    assert bad.status_code == 200 and "ignored" in bad.text


def test_vendor_files_are_served_locally(client):
    for name in ("htmx.min.js", "plotly.min.js"):
        response = client.get(f"/vendor/{name}")
        assert response.status_code == 200 and len(response.content) > 10_000


def test_the_start_up_pre_render_starts_no_engine_when_nothing_is_cached(app, client):
    """A server that is only asked for pages never starts Dask for its pre-render (in-process
    and embedded engines compute with this machine's profile, known without workers)."""
    for _ in range(100):
        if client.get("/api/engine").json()["prerendered"]["finished"]:
            break
        time.sleep(0.1)
    status = client.get("/api/engine").json()["prerendered"]
    assert status["finished"] and status["rendered"] == 0
    assert app.state.engine.client is None
    assert status["frozen_objects"] == 0  # the in-process engine (tests, scripts) freezes nothing
