"""The lr-sweep widget: zones taken from real runs, and the default sweep shows all three."""
from __future__ import annotations

import math

import pytest

from widgets.base import ParamError
from widgets.lr_sweep import FINAL_WINDOW, final_loss, sweep_lrs, zones
from widgets.registry import get_widget
from claim_helpers import claim, directive_params
from shared_runs import widget_run

WIDGET = get_widget("lr-sweep")
_cache: dict = {}


def default_run():
    if "d" not in _cache:
        _cache["d"] = widget_run(WIDGET.name)
    return _cache["d"]


def test_default_sweep_has_every_zone_and_the_best_run_learns():
    values, data = default_run()
    assert data["lrs"] == sweep_lrs(values["lowest_lr"], values["factor"], values["count"])
    assert set(data["zones"]) == {"crawl", "learn", "diverge"}, data["zones"]
    assert data["zones"][data["best"]] == "learn"
    # the caption's wording: the lowest crawls, the highest diverges (ends above its step-0 loss)
    assert data["zones"][0] == "crawl" and data["zones"][-1] == "diverge"
    top = data["runs"][-1]
    assert top["diverged_at"] is not None or data["final"][-1] > data["initial"][-1]
    # the zones are what the definition says, recomputed from the raw curves
    best_gain = data["initial"][data["best"]] - data["final"][data["best"]]
    assert data["initial"][0] - data["final"][0] < 0.5 * best_gain


def test_chapter_3_claim_the_sweep_shows_all_three_regimes():
    text = claim("03-learning-rate.md", "sweep-zones")
    assert "lowest rate crawls" in text and "highest ends above the loss it started from" in text
    assert directive_params("03-learning-rate.md", "lr-sweep") == {}, "the chapter shows the defaults"
    _, data = default_run()  # the zones are checked against the raw curves in the test above
    assert data["zones"][0] == "crawl" and data["zones"][-1] == "diverge"
    assert all(zone == "learn" for zone in data["zones"][1:-1])


def test_final_loss_is_the_mean_of_the_last_losses_of_the_real_runs():
    values, data = default_run()
    for run, final in zip(data["runs"], data["final"]):
        if run["diverged_at"] is None:
            assert final == pytest.approx(sum(run["loss"][-FINAL_WINDOW:]) / FINAL_WINDOW)
            assert len(run["loss"]) == values["steps"]


def test_runs_share_weights_and_batches():
    _, data = default_run()
    first = [run["loss"][0] for run in data["runs"]]
    assert max(first) == min(first), "same initial weights and first batch: same step-0 loss"
    assert abs(first[0] - math.log(65)) < 0.2


def test_zone_rules_on_hand_made_numbers():
    lrs = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    initial = [4.0] * 5
    labels, best = zones(lrs, initial, [3.6, 2.9, 2.5, 3.9, None])
    assert best == 2 and labels == ["crawl", "learn", "learn", "learn", "diverge"]
    labels, best = zones(lrs, initial, [3.6, 2.9, 2.5, 4.2, 2.4])
    assert best == 4 and labels == ["crawl", "learn", "learn", "diverge", "learn"]
    assert zones(lrs[:2], [4.0, 4.0], [None, 5.0]) == (["diverge", "diverge"], None)
    assert final_loss([5.0, 4.0, 3.0], None) == pytest.approx(4.0) and final_loss([5.0], 0) is None


def test_highest_lr_is_capped():
    with pytest.raises(ParamError) as caught:
        WIDGET.canonicalize({"lowest_lr": "0.01", "factor": "10", "count": "8"})
    assert caught.value.field == "factor"
    WIDGET.canonicalize({"lowest_lr": "0.001", "factor": "10", "count": "5"})  # top LR 10: allowed


def test_warmup_must_be_shorter_than_the_run(client):
    response = client.get("/api/widgets/lr-sweep", params={"warmup": "60", "steps": "50"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "warmup"]


def test_figure_has_log_lr_axis_fixed_ranges_and_zone_bands():
    values, data = default_run()
    fig = WIDGET.figure(values, data)
    layout = fig["layout"]
    assert layout["xaxis"]["type"] == "log"
    # the curves' axis starts from the sweep's fixed range and grows only to hold every curve
    low, high = layout["yaxis"]["range"]
    curves_low, curves_high = layout["yaxis2"]["range"]
    assert curves_low == low and curves_high >= high
    finite = [v for run in data["runs"] for v in run["loss"] if v is not None and math.isfinite(v)]
    assert max(finite) <= curves_high or "clipped at" in layout["yaxis2"]["title"]["text"]
    bands = [s for s in layout["shapes"] if s["type"] == "rect"]
    assert len(bands) >= 3
    texts = {a["text"] for a in layout["annotations"]}
    assert {"<b>crawl</b>", "<b>learn</b>", "<b>diverge</b>"} <= texts
