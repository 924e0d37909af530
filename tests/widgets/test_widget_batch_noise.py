"""Batch size and noise: the caption's claims on the real default computation."""
from __future__ import annotations

import math

import numpy as np
import pytest

from widgets.batch_noise import NOISE_BATCHES, WIDGET, fit_slope
from shared_runs import widget_run, widget_data


@pytest.fixture(scope="module")
def default():
    return widget_run(WIDGET.name)


def test_noise_falls_roughly_as_one_over_b(default):
    _, data = default
    assert data["batch_sizes"] == list(NOISE_BATCHES)
    assert -1.3 < data["slope"] < -0.7
    # the widget's slope is the least-squares line in log-log, as numpy fits it
    expected = np.polyfit(np.log(data["batch_sizes"]), np.log(data["noise"]), 1)[0]
    assert data["slope"] == pytest.approx(expected, rel=1e-9)
    assert all(a > b for a, b in zip(data["noise"], data["noise"][1:]))  # every doubling lowers it
    assert all(a < b for a, b in zip(data["cosine"], data["cosine"][1:]))  # closer in direction too


def test_same_lr_same_tokens_batch_64_ends_highest_and_16_lowest(default):
    _, data = default
    final = {run["batch_size"]: run["val_loss"][-1] for run in data["runs"]}
    assert set(final) == {4, 16, 64}
    assert all(run["val_tokens"][-1] == data["budget_tokens"] == 16_384 for run in data["runs"])
    assert [len(run["loss"]) for run in data["runs"]] == [128, 32, 8]
    assert final[64] > max(final[4], final[16]) + 0.2
    assert final[16] < final[4]


def test_fit_slope_matches_numpy_polyfit():
    xs, ys = [1, 2, 4, 8, 16], [9.0, 4.1, 2.3, 1.0, 0.6]
    expected = np.polyfit(np.log(xs), np.log(ys), 1)[0]
    assert fit_slope(xs, ys) == pytest.approx(expected, rel=1e-12)
    assert fit_slope([1, 10, 100], [1, 0.1, 0.01]) == pytest.approx(-1.0)


def test_after_training_steps_noise_still_falls_with_batch_size():
    data = widget_data(WIDGET.name, {"at_step": 20, "batches": 8})
    assert data["slope"] < -0.6
    assert math.isfinite(data["big_grad_sq_norm"])
