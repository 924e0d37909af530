"""clip-norm: the course's clipping equals torch's on these very gradients; one factor for every tensor."""
from __future__ import annotations

import pytest
import torch

from widgets.clip_norm import gradient_at
from widgets.lab.clip import clip_grad_norm
from widgets.registry import get_widget
from shared_runs import widget_run, widget_data

WIDGET = get_widget("clip-norm")


@pytest.fixture(scope="module")
def default():
    return widget_run(WIDGET.name)


def test_caption_claim_bad_batch_far_above_threshold_and_one_factor_for_every_bar(default):
    values, data = default
    assert values == {"threshold": 1.0, "bad_batch": True, "step": 40}
    assert data["norm_before"] > 5 * values["threshold"]
    assert data["scale"] == pytest.approx(values["threshold"] / data["norm_before"], rel=1e-5)
    assert data["norm_after"] == pytest.approx(values["threshold"], rel=1e-4)
    for raw, clipped in zip(data["raw"], data["clipped"]):
        assert clipped == pytest.approx(data["scale"] * raw, rel=1e-4)


def test_bad_batch_gradient_is_much_larger_than_the_real_batch(default):
    _, bad = default
    good = widget_data(WIDGET.name, {"bad_batch": "false"})
    assert bad["norm_before"] > 5 * good["norm_before"]
    assert bad["loss"] > good["loss"]


@pytest.mark.parametrize("step,bad,c", [(40, True, 1.0), (0, False, 0.5), (120, False, 100.0)])
def test_course_clipping_equals_torch_on_these_gradients_and_keeps_direction(step, bad, c):
    trainer, _ = gradient_at(step, bad, WIDGET.seed)
    params = list(trainer.model.parameters())
    raw = [p.grad.clone() for p in params]
    copies = [p.detach().clone().requires_grad_() for p in params]
    for q, g in zip(copies, raw):
        q.grad = g.clone()
    ours = clip_grad_norm(params, c)
    theirs = torch.nn.utils.clip_grad_norm_(copies, c)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
    flat_raw = torch.cat([g.flatten() for g in raw])
    flat_ours = torch.cat([p.grad.flatten() for p in params])
    assert torch.allclose(flat_ours, torch.cat([q.grad.flatten() for q in copies]), rtol=1e-5, atol=1e-9)
    factor = flat_ours.norm() / flat_raw.norm()
    assert factor > 0 and torch.allclose(flat_ours, factor * flat_raw, rtol=1e-4, atol=1e-9)  # same direction
    if c >= ours.item():
        assert torch.equal(flat_ours, flat_raw)  # below the threshold nothing changes


def test_the_step_slider_trains_the_same_run_further():
    early = widget_data(WIDGET.name, {"bad_batch": "false", "step": "0"})
    later = widget_data(WIDGET.name, {"bad_batch": "false", "step": "100"})
    assert later["loss"] < early["loss"] - 0.8  # trained: log(65) = 4.17 at step 0
