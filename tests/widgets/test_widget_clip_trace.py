"""clip-trace: two lockstep runs, a corrupted batch, the share clipped and the 90th-percentile suggestion."""
from __future__ import annotations

import numpy as np
import pytest

from widgets.base import ParamError
from widgets.registry import get_widget
from shared_runs import widget_run, widget_data

WIDGET = get_widget("clip-trace")


@pytest.fixture(scope="module")
def default():
    return widget_run(WIDGET.name)


def test_caption_claim_spike_above_c_and_clipping_moves_weights_less(default):
    values, data = default
    free, clipped = data["runs"]
    t = data["bad_step"]
    assert t == 60 and values["threshold"] == 1.0
    assert free["grad_norm"][t] > 5 * values["threshold"]
    assert clipped["grad_norm"][t] > 5 * values["threshold"] and clipped["clipped"][t]
    assert free["clipped"][t] is False
    assert clipped["moved"][t] < 0.8 * free["moved"][t]
    assert free["grad_norm"][t] > 3 * max(free["grad_norm"][t - 10:t])  # a spike, not the usual level


def test_runs_share_weights_and_batches(default):
    _, data = default
    free, clipped = data["runs"]
    assert free["loss"][0] == clipped["loss"][0] and free["grad_norm"][0] == clipped["grad_norm"][0]


def test_share_clipped_matches_counting_norms_above_c(default):
    values, data = default
    _, clipped = data["runs"]
    above = sum(n > values["threshold"] for n in clipped["grad_norm"])
    assert sum(clipped["clipped"]) == above == data["norm_above_c"]
    assert data["share_clipped"] == pytest.approx(above / values["steps"])
    assert 0 < data["share_clipped"] < 1


def test_the_suggestion_is_the_90th_percentile_of_observed_norms(default):
    _, data = default
    free, _ = data["runs"]
    assert data["p90"] == pytest.approx(float(np.percentile(free["grad_norm"], 90)), rel=1e-9)
    assert np.mean(np.array(free["grad_norm"]) <= data["p90"]) >= 0.9


def test_moved_is_the_size_of_each_update(default):
    _, data = default
    for run in data["runs"]:
        assert len(run["moved"]) == len(run["loss"]) and all(m > 0 for m in run["moved"])


def test_without_the_bad_batch_there_is_no_spike():
    data = widget_data(WIDGET.name, {"bad_batch": "false", "steps": "70"})
    assert data["bad_step"] is None and max(data["runs"][0]["grad_norm"][50:]) < 5


def test_bad_step_must_fall_inside_the_run():
    with pytest.raises(ParamError) as caught:
        WIDGET.canonicalize({"bad_step": "100", "steps": "80"})
    assert caught.value.field == "bad_step"
