"""What every widget owes the learner, checked for every registered widget.

Declared bounds and bad input, determinism, JSON-ready data, tables, view parameters. "Show
the code" is checked number by number in test_show_the_code.py. Each widget's own claims live
in tests/widgets/test_widget_*.py.
"""
from __future__ import annotations

import json
import math
import re

import pytest

from app.serving.worker import figure_delta
from shared_runs import widget_run
from widgets import kit
from widgets.base import ParamError
from widgets.lab.trainer import default_device, device_name
from widgets.registry import all_widgets

WIDGETS = all_widgets()
NAMES = sorted(WIDGETS)


def default_result(name: str) -> tuple[dict, dict]:
    """(values, data) of a widget's default computation, shared by the session (shared_runs.py)."""
    return widget_run(name)


def numeric_params():
    for name in NAMES:
        for p in WIDGETS[name].params:
            if p.kind in ("float", "int"):
                yield pytest.param(name, p, id=f"{name}.{p.name}")


def test_every_widget_a_chapter_shows_is_registered():
    from shared_course import shared_course

    shown = {w.name for c in shared_course().chapters for w in c.widgets}
    assert len(shown) >= 15 and shown <= set(NAMES), shown - set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_is_described_with_its_bounds(name):
    described = WIDGETS[name].describe()
    assert described["name"] == name and described["title"] and described["params"]
    for p in described["params"]:
        assert p["label"] and p["kind"] in ("float", "int", "bool", "choice", "text")
        if p["kind"] in ("float", "int"):
            assert p["min"] <= p["default"] <= p["max"], p
            assert p["step"] > 0
            if p["log"]:
                assert p["min"] > 0
        if p["kind"] == "choice":
            assert p["default"] in p["choices"]


@pytest.mark.parametrize("name,param", list(numeric_params()))
@pytest.mark.parametrize("bad", ["below", "above", "abc", "nan", "inf", "-inf"])
def test_bad_numbers_name_the_field_value_and_range(name, param, bad):
    widget = WIDGETS[name]
    raw = {"below": param.min - (1 if param.kind == "int" else abs(param.min) * 0.5 + 1e-9),
           "above": param.max + (1 if param.kind == "int" else abs(param.max) * 0.5 + 1e-9)}.get(bad, bad)
    with pytest.raises(ParamError) as caught:
        widget.canonicalize({param.name: str(raw)})
    error = caught.value
    assert error.field == param.name
    assert f"{param.min:g}" in error.allowed and f"{param.max:g}" in error.allowed
    assert param.name in error.message


@pytest.mark.parametrize("name", NAMES)
def test_choices_and_switches_reject_unknown_values(name):
    for p in WIDGETS[name].params:
        if p.kind in ("choice", "bool"):
            with pytest.raises(ParamError) as caught:
                WIDGETS[name].canonicalize({p.name: "definitely-not-valid"})
            assert caught.value.field == p.name


@pytest.mark.parametrize("name", NAMES)
def test_default_computation_is_deterministic_and_json_ready(name):
    widget = WIDGETS[name]
    values, data = default_result(name)
    # trained again, this time reporting progress as the engine has it: the same numbers
    again = widget.compute(values, (lambda partial, done, total: None) if widget.streams else None)
    assert json.dumps(data, sort_keys=True) == json.dumps(again, sort_keys=True)
    # the provenance names the device that ran it: every training widget says which
    if widget.streams:
        assert data["device"] in {"cpu", device_name(default_device())}, data["device"]
    figure = widget.figure(values, data)
    assert figure["data"], "the figure has traces"
    json.dumps(figure)  # plain JSON, no tensors


def plotly_bundle_traces() -> set[str]:
    """The trace types the Plotly bundle the pages load registers (app/web/assets.py)."""
    from app.settings import Settings
    from app.web.assets import vendor_path

    bundle = vendor_path("plotly.min.js", Settings().static_dir).read_text(encoding="utf-8")
    return set(re.findall(r'moduleType:"trace",name:"([a-z0-9]+)"', bundle))


@pytest.mark.parametrize("name", NAMES)
def test_every_trace_is_one_the_served_plotly_bundle_draws(name):
    # the pages load Plotly's cartesian bundle, not the full one: a widget that starts drawing
    # another trace type (a 3-D surface, a map) needs a bigger bundle, and this says so
    values, data = default_result(name)
    drawn = {trace.get("type", "scatter") for trace in WIDGETS[name].figure(values, data)["data"]}
    available = plotly_bundle_traces()
    assert {"scatter", "bar", "contour"} <= available, sorted(available)
    assert drawn <= available, f"{name} draws {sorted(drawn - available)}, not in the bundle"


class _EnoughReports(Exception):
    pass


@pytest.mark.parametrize("name", [n for n in NAMES if WIDGETS[n].streams])
def test_the_first_progress_reports_draw_a_figure(name):
    """The engine draws a figure and its delta from every partial result (app/serving/worker/widget_task.py).
    The first reports come before any step or after one, when the histories are (nearly) empty:
    each must draw, and its delta must rebuild it."""
    widget = WIDGETS[name]
    values = widget.canonicalize({})
    sent: list = [None]

    def draw(partial: dict) -> None:
        figure = json.loads(json.dumps(widget.figure(values, partial)))  # plain JSON
        delta = figure_delta.diff(sent[-1], figure)
        if delta is not None:
            assert figure_delta.apply(sent[-1], delta) == figure
        sent.append(figure)

    def progress(partial: dict, done: int, total: int) -> None:
        assert 0 <= done <= total
        draw(partial)
        if len(sent) > 2:
            raise _EnoughReports

    try:
        data = widget.compute(values, progress)
    except _EnoughReports:
        return
    # it finished before two reports: the final figure must still draw from the last one sent
    draw(data)


def view_params():
    for name in NAMES:
        for p in WIDGETS[name].params:
            if p.view:
                yield pytest.param(name, p, id=f"{name}.{p.name}")


@pytest.mark.parametrize("name,param", list(view_params()))
def test_a_view_parameter_is_not_part_of_the_run(name, param):
    """A view parameter changes what is shown of a run, never the run: compute at another view value
    gives the same run seen differently, and Widget.present turns one into the other (the web
    process does that for a cached run, app/serving/jobs.py)."""
    widget = WIDGETS[name]
    values, data = default_result(name)
    other = next(v for v in (param.choices if param.kind == "choice" else (not values[param.name],))
                 if v != values[param.name])
    assert param.name not in widget.compute_values(values)
    other_values, other_data = widget_run(name, {param.name: other})
    assert widget.compute_values(other_values) == widget.compute_values(values)
    item = {"widget": name, "params": values, "data": data, "figure": widget.figure(values, data)}
    shown = widget.present(other_values, item)
    assert json.dumps(shown["data"], sort_keys=True) == json.dumps(other_data, sort_keys=True)
    assert shown["figure"] == widget.figure(other_values, other_data)


@pytest.mark.parametrize("name", NAMES)
def test_tables_match_their_columns(name):
    widget = WIDGETS[name]
    values, data = default_result(name)
    tables = widget.tables(values, data)
    assert tables, "every widget offers a data table"
    for table in tables:
        assert table["caption"] and table["columns"]
        assert all(len(row) == len(table["columns"]) for row in table["rows"])


@pytest.mark.parametrize("name", NAMES)
def test_findings_and_the_numbers_that_matter_come_from_the_run(name):
    """What the page shows under the chart (Widget.findings) is text; a training widget names
    each run's final numbers (Widget.summary), which the page compares after a move, and they
    are the run's own."""
    widget = WIDGETS[name]
    values, data = default_result(name)
    findings = widget.findings(values, data)
    assert isinstance(findings, list) and all(isinstance(f, str) and f.strip() for f in findings)
    summary = widget.summary(values, data)
    runs = data.get("runs") if isinstance(data, dict) else None
    runs = list(runs.values()) if isinstance(runs, dict) else runs
    trained = [r for r in runs or [] if isinstance(r, dict) and r.get("loss")]
    assert len(summary) == len(trained)
    for numbers, run in zip(summary, trained):
        assert numbers["run"] == str(run["label"])
        last = run["loss"][-1]
        assert numbers["final loss"] == ("-" if last is None else kit.fmt(last) if not math.isfinite(last)
                                         else f"{last:#.3g}")


def test_fit_range_holds_the_curves_or_says_where_it_clips():
    assert kit.fit_range([0, 6.0], [1.0, 5.5, None, float("nan")], "loss") == ([0, 6.0], "loss")
    grown, title = kit.fit_range([0, 6.0], [1.0, 6.81], "loss")
    assert grown[0] == 0 and 6.81 < grown[1] < 7.1 and title == "loss"
    clipped, title = kit.fit_range([1.8, 5.0], [4.0, 30.0], "training loss")
    assert clipped == [1.8, 8.2] and title == "training loss (clipped at 8.2)"


