"""The model's stability switches (QK-norm, sandwich norms, soft caps, init and embedding
scaling) against the plain reference GPT built from torch's own modules (nn.RMSNorm,
nn.LayerNorm, flex_attention), and the defaults against today's model."""
from __future__ import annotations

import math
import warnings

import pytest
import torch

from widgets.lab.data import fixed_batch, load_corpus
from widgets.lab.model import GPTConfig, TinyGPT, softcap
from widgets.lab.reference import GPT, capped_causal_attention, from_run, load_run
from test_lab_model import perturbed

SMALL = GPTConfig(block_size=16, n_layer=2, n_head=2, n_embd=32)


@pytest.fixture(scope="module")
def batch():
    return fixed_batch(load_corpus().train, 4, SMALL.block_size, seed=0)


SWITCHES = [
    {"sandwich_norm": True},
    {"sandwich_norm": True, "bias": False, "qk_norm": True},
    {"attn_softcap": 0.2},  # tight enough to bind on the perturbed weights' logits
    {"logit_softcap": 1.0},
    {"attn_softcap": 2.0, "logit_softcap": 3.0, "qk_norm": True, "tie_weights": False},
    {"embed_scale": True},
    {"residual_init_scale": False, "sandwich_norm": True},
]


@pytest.mark.parametrize("changes", SWITCHES)
def test_each_switch_matches_the_plain_gpt(changes, batch):
    config = SMALL.with_(**changes)
    stacked = perturbed(TinyGPT(config, runs=2).init_weights(1), seed=2)
    x, y = batch
    logits, loss = stacked(x, y)
    for r in range(2):
        plain = from_run(stacked, r)
        ref_logits, ref_loss = plain(x, y)
        torch.testing.assert_close(logits[r], ref_logits, rtol=1e-5, atol=1e-5)
        assert loss[r].item() == pytest.approx(ref_loss.item(), abs=1e-5)
    assert sum(p[0].numel() for p in stacked.parameters()) == sum(p.numel() for p in plain.parameters())


@pytest.mark.parametrize("changes", [{"attn_softcap": 0.2, "logit_softcap": 1.0}, {"sandwich_norm": True}])
def test_gradients_through_the_switches_match_the_plain_gpt(changes, batch):
    stacked = perturbed(TinyGPT(SMALL.with_(**changes), runs=2).init_weights(3), seed=4)
    plain = from_run(stacked, 1)
    x, y = batch
    stacked(x, y)[1].sum().backward()
    plain(x, y)[1].backward()
    torch.testing.assert_close(stacked.blocks[0].attn.qkv.weight.grad[1],
                               plain.h[0].attn.c_attn.weight.grad.T, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(stacked.wte.grad[1], plain.wte.weight.grad, rtol=1e-4, atol=1e-6)


def test_written_out_capped_attention_matches_flex_attention():
    """The reference's soft-capped attention against torch's flex_attention with Gemma 2's score_mod."""
    from torch.nn.attention.flex_attention import flex_attention

    g = torch.Generator().manual_seed(0)
    q, k, v = (3 * torch.randn(2, 4, 16, 8, generator=g) for _ in range(3))

    def score_mod(score, batch, head, q_idx, kv_idx):
        return torch.where(q_idx >= kv_idx, 2.0 * torch.tanh(score / 2.0), -math.inf)

    with warnings.catch_warnings():  # eager flex_attention warns that it is unfused: fine for an oracle
        warnings.filterwarnings("ignore", message="flex_attention called without torch.compile")
        theirs = flex_attention(q, k, v, score_mod=score_mod)
    torch.testing.assert_close(capped_causal_attention(q, k, v, 2.0), theirs, rtol=1e-5, atol=1e-5)
    uncapped = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert not torch.allclose(theirs, uncapped, atol=1e-2)  # the cap binds on these logits


def test_the_caps_bound_what_they_cap(batch):
    config = SMALL.with_(attn_softcap=0.2, logit_softcap=1.0)
    model = perturbed(TinyGPT(config, runs=1).init_weights(0), seed=5)
    model.set_record_logits(True)
    free = perturbed(TinyGPT(SMALL, runs=1).init_weights(0), seed=5)
    free.set_record_logits(True)
    with torch.no_grad():
        logits, _ = model(batch[0])
        uncapped, _ = free(batch[0])
    assert logits.abs().max() < 1.0 < uncapped.abs().max()  # the caps really bind
    assert model.max_attention_logit().item() < 0.2 < free.max_attention_logit().item()
    x = torch.tensor([-1e6, -3.0, 0.0, 0.1, 3.0, 1e6])
    torch.testing.assert_close(softcap(x, 2.0), 2.0 * torch.tanh(x / 2.0))
    assert softcap(torch.tensor(0.1), 50.0).item() == pytest.approx(0.1, rel=1e-5)  # near x far below the cap
    assert torch.equal(softcap(x, 0.0), x)  # 0: off


def test_qk_norm_per_run_matches_one_plain_gpt_with_and_one_without(batch):
    stacked = perturbed(TinyGPT(SMALL, runs=2).init_weights(7), seed=8)
    stacked.set_qk_norm_runs([True, False])
    x, y = batch
    logits, _ = stacked(x, y)
    for r, on in enumerate((True, False)):
        plain = load_run(GPT(SMALL.with_(qk_norm=on)), stacked, r)
        torch.testing.assert_close(logits[r], plain(x)[0], rtol=1e-5, atol=1e-5)
    stacked.set_qk_norm_runs(None)  # back to the config (no QK-norm): run 0 changes
    assert not torch.allclose(stacked(x)[0][0], logits[0])


def test_qk_norm_caps_the_recorded_logit_at_sqrt_head_dim(batch):
    model = perturbed(TinyGPT(SMALL, runs=2).init_weights(9), seed=10)
    with torch.no_grad():
        for block in model.blocks:
            block.attn.qkv.weight.mul_(30.0)  # huge queries and keys
    model.set_qk_norm_runs([True, False])
    model.set_record_logits(True)
    with torch.no_grad():
        model(batch[0])
    head = SMALL.n_embd // SMALL.n_head
    peak = model.max_attention_logit()
    assert peak[0] <= math.sqrt(head) + 1e-4 < peak[1]


def test_defaults_are_todays_model():
    config = GPTConfig()
    assert not (config.sandwich_norm or config.attn_softcap or config.logit_softcap or config.embed_scale)
    assert config.residual_init_scale
    model = TinyGPT(SMALL, runs=1).init_weights(0)
    plain_std = TinyGPT(SMALL.with_(residual_init_scale=False), runs=1).init_weights(0)
    proj = model.blocks[0].mlp.proj.weight[0]
    assert proj.std().item() == pytest.approx(0.02 / math.sqrt(2 * SMALL.n_layer), rel=0.05)
    assert plain_std.blocks[0].mlp.proj.weight[0].std().item() == pytest.approx(0.02, rel=0.05)
    torch.testing.assert_close(model.blocks[0].attn.qkv.weight, plain_std.blocks[0].attn.qkv.weight)
    sandwich = TinyGPT(SMALL.with_(sandwich_norm=True), runs=1).init_weights(0)
    assert torch.equal(sandwich.blocks[1].ln2_out.weight, torch.ones(1, SMALL.n_embd))
    assert torch.equal(sandwich.blocks[1].ln2_out.bias, torch.zeros(1, SMALL.n_embd))
    # the extra norms draw no random numbers: every other tensor starts as in today's model
    torch.testing.assert_close(sandwich.blocks[1].mlp.fc.weight, model.blocks[1].mlp.fc.weight)


def test_sandwich_norm_refuses_post_ln():
    with pytest.raises(ValueError, match="post_ln"):
        TinyGPT(SMALL.with_(post_ln=True, sandwich_norm=True))


def test_initial_loss_stays_near_uniform_with_every_switch(batch):
    for changes in SWITCHES:
        config = GPTConfig().with_(**changes)
        model = TinyGPT(config, runs=1).init_weights(0)
        x, y = fixed_batch(load_corpus().train, 8, config.block_size, seed=1)
        with torch.no_grad():
            _, loss = model(x, y)
        assert abs(loss.item() - math.log(65)) < 0.15, changes
