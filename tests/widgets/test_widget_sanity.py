"""Sanity checks: the caption's claims on the real default computation, and the bugs."""
from __future__ import annotations

import math

import pytest
import torch

from widgets.lab.bugs import label_shift_bug, remove_causal_mask
from widgets.lab.model import GPTConfig, TinyGPT
from widgets.sanity import CURVES, OVERFIT_TARGET, WIDGET, initial_loss
from shared_runs import widget_run


def by_key(data: dict) -> dict:
    """The one-seed result's runs by their part of the lab (healthy, buggy, overfit)."""
    return dict(zip(CURVES, data["runs"]))


@pytest.fixture(scope="module")
def default():
    return widget_run(WIDGET.name)


def test_initial_loss_is_ln_v(default):
    _, data = default
    first = data["vocab"][0]
    assert first["vocab_size"] == 65
    assert abs(first["initial_loss"] - math.log(65)) < 0.1
    for v in data["vocab"]:
        assert abs(v["initial_loss"] - math.log(v["vocab_size"])) < 0.1
    # the training runs start there too (their first recorded loss)
    assert abs(by_key(data)["healthy"]["loss"][0] - math.log(65)) < 0.1


def test_single_batch_overfit_goes_below_the_target(default):
    values, data = default
    run = by_key(data)["overfit"]
    assert len(run["loss"]) == values["steps"] == 100
    assert run["loss"][-1] < OVERFIT_TARGET == 0.5
    # memorising one batch is not learning the language: validation gets worse
    assert run["val_loss"][-1] > run["val_loss"][0]


def test_label_shift_bug_is_too_good_to_be_true(default):
    values, data = default
    assert values["bug"] == "label-shift"
    healthy, buggy = by_key(data)["healthy"], by_key(data)["buggy"]
    assert buggy["val_loss"][-1] < 0.5 * healthy["val_loss"][-1]
    assert buggy["val_loss"][-1] < 0.5  # far below anything a char model reaches in 100 steps


def test_no_mask_bug_beats_the_healthy_model_given_more_steps():
    values = WIDGET.canonicalize({"bug": "no-causal-mask", "steps": 150, "lr": 1e-2})
    data = WIDGET.compute(values)
    assert by_key(data)["buggy"]["val_loss"][-1] < by_key(data)["healthy"]["val_loss"][-1] - 0.05


def test_no_mask_attention_lets_the_past_depend_on_the_future():
    """Change only the last character: a causal model's earlier logits do not move, a buggy one's do."""
    config = GPTConfig(block_size=16)
    healthy = TinyGPT(config).init_weights(0).eval()
    buggy = remove_causal_mask(TinyGPT(config).init_weights(0)).eval()
    assert not any(b.attn.causal for b in buggy.blocks)
    x = torch.randint(65, (2, 16), generator=torch.Generator().manual_seed(0))
    x2 = x.clone()
    x2[:, -1] = (x2[:, -1] + 1) % 65
    with torch.no_grad():
        h1, h2 = healthy(x)[0][..., :-1, :], healthy(x2)[0][..., :-1, :]
        b1, b2 = buggy(x)[0][..., :-1, :], buggy(x2)[0][..., :-1, :]
    torch.testing.assert_close(h1, h2)
    assert (b1 - b2).abs().max() > 1e-4


def test_no_mask_attention_matches_torch_multihead_attention_without_mask():
    """Our unmasked attention against torch.nn.MultiheadAttention with the same weights."""
    config = GPTConfig(block_size=8, n_embd=16, n_head=4)
    model = remove_causal_mask(TinyGPT(config).init_weights(3))
    attn = model.blocks[0].attn
    mha = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(attn.qkv.weight[0].T)
        mha.in_proj_bias.copy_(attn.qkv.bias[0])
        mha.out_proj.weight.copy_(attn.proj.weight[0].T)
        mha.out_proj.bias.copy_(attn.proj.bias[0])
    x = torch.randn(2, 8, 16)
    attn.eval()
    with torch.no_grad():
        ours = attn(x.unsqueeze(0))[0]
        theirs = mha(x, x, x, need_weights=False)[0]
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_label_shift_hook_makes_targets_the_inputs():
    x = torch.arange(6).view(2, 3)
    xx, yy = label_shift_bug(0, x, x + 1)
    assert torch.equal(xx, x) and torch.equal(yy, x)


def test_initial_loss_helper_is_near_ln_v_for_any_seed():
    # an untrained model with small logits spreads its guesses evenly: loss ln V (plus a little)
    losses = [initial_loss(512, seed) for seed in (1, 2)]
    assert losses[0] != losses[1]  # the seed is used
    for loss in losses:
        assert math.log(512) - 0.05 < loss < math.log(512) + 0.3
