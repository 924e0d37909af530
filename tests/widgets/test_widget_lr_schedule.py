"""The lr-schedule widget: the plotted LR is what a real torch optimizer was given."""
from __future__ import annotations

import pytest
import torch

from lr_oracle import expected_lr
from widgets.base import ParamError
from widgets.lab.schedules import FAMILIES, Schedule, torch_builtin_scheduler
from widgets.registry import get_widget

WIDGET = get_widget("lr-schedule")


def torch_lrs(schedule: Schedule) -> list[float] | None:
    """The LR at every step from torch's built-in scheduler for the family (None for WSD)."""
    weight = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    optimizer = torch.optim.SGD([weight], lr=schedule.peak_lr)
    scheduler = torch_builtin_scheduler(optimizer, schedule)
    if scheduler is None:
        return None
    lrs = []
    for _ in range(schedule.total):
        lrs.append(optimizer.param_groups[0]["lr"])
        weight.grad = torch.zeros_like(weight)
        optimizer.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize("family", FAMILIES)
def test_plotted_lr_equals_the_schedule_for_every_family(family):
    values = WIDGET.canonicalize({"family": family, "total": 600, "warmup": 50, "peak_lr": "0.003",
                                  "min_lr": "0.0002", "decay_fraction": "0.25"})
    data = WIDGET.compute(values)
    # the oracles: the closed forms written out in the tests, and torch's own schedulers where torch
    # ships the family (not lr_at, which the widget's LambdaLR calls)
    expected = [expected_lr(family, t, 50, 600, 0.0002, 0.25, PEAK=0.003) for t in range(600)]
    assert data["steps"] == list(range(600))
    assert data["lr"] == pytest.approx(expected, rel=1e-9, abs=1e-15)
    builtin = torch_lrs(Schedule(family, 0.003, 50, 600, 0.0002, 0.25))
    if builtin is not None:
        assert data["lr"] == pytest.approx(builtin, rel=1e-9, abs=1e-15)
    trace = WIDGET.figure(values, data)["data"][0]
    assert trace["x"] == data["steps"] and trace["y"] == data["lr"]
    # the curve really moves: the schedule is not constant except for "constant"
    assert (max(data["lr"][50:]) > min(data["lr"][50:])) == (family != "constant")


def test_warmup_and_wsd_marks():
    values = WIDGET.canonicalize({"family": "wsd", "total": 1000, "warmup": 100, "decay_fraction": "0.2"})
    data = WIDGET.compute(values)
    assert data["marks"] == {"warmup_end": 100, "decay_start": 800}
    assert data["lr"][799] == pytest.approx(values["peak_lr"]) and data["lr"][800] == pytest.approx(values["peak_lr"])
    assert data["lr"][801] < values["peak_lr"]


def test_y_axis_range_is_fixed_and_curve_max_is_the_peak():
    layouts, peaks = [], (1e-3, 2e-2)
    for peak in peaks:
        values = WIDGET.canonicalize({"peak_lr": str(peak), "min_lr": "1e-5", "total": 500, "warmup": 20})
        data = WIDGET.compute(values)
        fig = WIDGET.figure(values, data)
        assert max(fig["data"][0]["y"]) == pytest.approx(peak, rel=1e-12)
        layouts.append(fig["layout"])
    assert layouts[0]["yaxis"]["range"] == layouts[1]["yaxis"]["range"]
    assert layouts[0]["yaxis"]["type"] == "log"
    low, high = layouts[0]["yaxis"]["range"]
    assert low < -5 and high > -1.5  # both peaks (and the floors) fit inside the fixed range


def test_ghost_flag_is_set():
    values = WIDGET.canonicalize({})
    fig = WIDGET.figure(values, WIDGET.compute(values))
    assert fig["layout"]["meta"]["ghost"] is True


@pytest.mark.parametrize("query,field", [
    ({"warmup": "600", "total": "500"}, "warmup"),
    ({"min_lr": "0.01", "peak_lr": "0.001"}, "min_lr"),
])
def test_cross_field_rules(query, field, client):
    with pytest.raises(ParamError) as caught:
        WIDGET.canonicalize(query)
    assert caught.value.field == field
    response = client.get("/api/widgets/lr-schedule", params=query)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_edges_of_the_cross_field_rules_are_allowed():
    WIDGET.canonicalize({"warmup": "500", "total": "500"})
    WIDGET.canonicalize({"min_lr": "0.001", "peak_lr": "0.001"})
