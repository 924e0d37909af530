"""bias-correction: the caption's numbers on the real default computation, and the steps
against torch.optim.Adam (which always corrects) and a hand-written uncorrected Adam."""
from __future__ import annotations

import math

import pytest
import torch

from widgets.bias_correction import LR, WIDGET
from shared_runs import widget_run


@pytest.fixture(scope="module")
def default():
    return widget_run(WIDGET.name)


def test_constant_gradient_step_one_raw_m_is_a_tenth_and_corrected_is_one(default):
    values, data = default
    assert values["beta1"] == 0.9 and values["beta2"] == 0.999 and values["gradient"] == "constant"
    assert data["m"][0] == pytest.approx(0.1, rel=1e-5)
    assert data["m_hat"][0] == pytest.approx(1.0, rel=1e-5)
    assert data["v"][0] == pytest.approx(0.001, rel=1e-4) and data["v_hat"][0] == pytest.approx(1.0, rel=1e-4)


def test_uncorrected_step_is_3_2_times_at_step_one_and_peaks_near_6_6_around_step_12(default):
    _, data = default
    ratio = [u / c for u, c in zip(data["step_uncorrected"], data["step_corrected"])]
    assert ratio[0] == pytest.approx(3.16, abs=0.01)
    peak = max(ratio)
    assert peak == pytest.approx(6.57, abs=0.05) and ratio.index(peak) + 1 == 12
    assert ratio[-1] < peak - 1  # ... then it slowly shrinks back
    assert all(c == pytest.approx(1.0, rel=1e-4) for c in data["step_corrected"])  # corrected: exactly lr
    assert data["raw_m_matches"]  # the raw moments are the same for both variants


def test_corrected_steps_match_torch_adam_and_uncorrected_match_the_formula():
    values = WIDGET.canonicalize({"gradient": "tiny-gpt", "steps": 10, "beta1": 0.8, "beta2": 0.99})
    data = WIDGET.compute(values)
    assert len(set(data["g"])) == 10  # a real, changing gradient sequence
    w = torch.zeros(1, requires_grad=True)
    ref = torch.optim.Adam([w], lr=LR, betas=(0.8, 0.99), eps=1e-8)
    m = v = 0.0
    for t, g in enumerate(data["g"], start=1):
        before = w.item()
        w.grad = torch.tensor([g])
        ref.step()
        assert (before - w.item()) / LR == pytest.approx(data["step_corrected"][t - 1], rel=1e-3, abs=1e-4)
        m, v = 0.8 * m + 0.2 * g, 0.99 * v + 0.01 * g * g
        assert data["step_uncorrected"][t - 1] == pytest.approx(m / (math.sqrt(v) + 1e-8), rel=1e-3)
