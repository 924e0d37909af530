"""Progress deltas: only new points travel, applying them rebuilds the figure exactly, and a
real stream's bytes grow linearly with the run's steps."""
from __future__ import annotations

import json
import math

from app.serving.worker import figure_delta


def fig(xs, ys, layout=None, **trace):
    return {"data": [{"type": "scatter", "x": list(xs), "y": list(ys), **trace}], "layout": layout or {"title": "t"}}


def test_the_first_report_is_the_whole_figure_and_then_only_tails():
    first = fig([0, 1], [4.0, 3.9])
    assert figure_delta.diff(None, first) == {"figure": first}
    second = fig([0, 1, 2, 3], [4.0, 3.9, 3.7, 3.6])
    delta = figure_delta.diff(first, second)
    assert delta == {"extend": [{"trace": 0, "data": {"x": [2, 3], "y": [3.7, 3.6]}}]}
    assert figure_delta.apply(first, delta) == second
    assert figure_delta.diff(second, second) is None


def test_nested_arrays_and_nan_values_extend_too():
    first = fig([0], [math.nan], marker={"color": ["red"]})
    second = fig([0, 1], [math.nan, 2.0], marker={"color": ["red", "blue"]})
    delta = figure_delta.diff(first, second)
    assert delta == {"extend": [{"trace": 0, "data": {"x": [1], "y": [2.0], "marker.color": ["blue"]}}]}
    rebuilt = figure_delta.apply(first, delta)
    assert rebuilt["data"][0]["marker"] == second["data"][0]["marker"]


def test_a_rewritten_trace_is_sent_whole_and_a_new_trace_sends_the_figure():
    first = {"data": [fig([0], [1.0])["data"][0], fig([1, 2], [5.0, 6.0])["data"][0]], "layout": {}}
    moved = {"data": [fig([0, 1], [1.0, 0.9])["data"][0], fig([1, 2], [5.0, 4.0])["data"][0]], "layout": {"x": 1}}
    delta = figure_delta.diff(first, moved)
    assert delta["extend"] == [{"trace": 0, "data": {"x": [1], "y": [0.9]}}]
    assert delta["replace"] == [{"trace": 1, "data": moved["data"][1]}]
    assert delta["layout"] == {"x": 1}
    assert figure_delta.apply(first, delta) == moved
    grown = {"data": moved["data"] + [fig([0], [0])["data"][0]], "layout": {}}
    assert figure_delta.diff(moved, grown) == {"figure": grown}


def stream_bytes(client, steps: int) -> int:
    total = 0
    with client.stream("GET", "/widgets/warmup/stream", params={"steps": steps, "warmup": 5}) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and '"seq"' in line:
                total += len(line)
    return total


def test_stream_bytes_grow_linearly_with_steps(client):
    """Sending whole figures made a run's bytes grow with the square of its steps: doubling
    a run then quadrupled the extra bytes. Linear: each doubling adds twice the last step's."""
    b40, b80, b160 = (stream_bytes(client, steps) for steps in (40, 80, 160))
    assert 1.5 < (b160 - b80) / (b80 - b40) < 2.8, (b40, b80, b160)


def test_a_training_widget_rebuilds_every_partial_from_deltas():
    from widgets.registry import all_widgets

    widget = all_widgets()["spikes"]
    values = widget.canonicalize({"steps": 60, "bad_step": 30})
    sent, rebuilt, fulls = None, None, 0

    def progress(partial, done, total):
        nonlocal sent, rebuilt, fulls
        figure = json.loads(json.dumps(widget.figure(values, partial)))
        delta = figure_delta.diff(sent, figure)
        if delta:
            fulls += "figure" in delta
            rebuilt = figure_delta.apply(rebuilt, json.loads(json.dumps(delta)))
        sent = figure
        assert json.dumps(rebuilt, sort_keys=True) == json.dumps(figure, sort_keys=True)

    widget.compute(values, progress)
    assert fulls <= 3, "whole figures only when traces are added"
