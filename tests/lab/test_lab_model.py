"""The run-stacked TinyGPT against a plain nanoGPT-style model, its initial loss,
parameter counts (up to GPT-2 small on the meta device), and run independence."""
from __future__ import annotations

import math

import pytest
import torch

from widgets.lab.data import fixed_batch, load_corpus
from widgets.lab.model import GPTConfig, TinyGPT, count_parameters, is_decayed, run_slice
from widgets.lab.optim import AdamW
from widgets.lab.reference import GPT, from_run, plain_train_steps

SMALL = GPTConfig(block_size=16, n_layer=2, n_head=2, n_embd=32)


@pytest.fixture(scope="module")
def batch():
    return fixed_batch(load_corpus().train, 4, SMALL.block_size, seed=0)


def perturbed(model: TinyGPT, seed: int) -> TinyGPT:
    """Make every run's weights different (and biases/gains non-trivial) so that a
    wrong slice, transpose or missing bias would show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model


@pytest.mark.parametrize("changes", [
    {},  # Pre-LN, GPT-2 layout
    {"post_ln": True},
    {"bias": False, "tie_weights": False},
    {"post_ln": True, "tie_weights": False, "qk_norm": True},
])
def test_matches_plain_gpt(changes, batch):
    config = SMALL.with_(**changes)
    stacked = perturbed(TinyGPT(config, runs=3).init_weights(1), seed=2)
    x, y = batch
    logits, loss = stacked(x, y)
    assert logits.shape == (3, 4, config.block_size, config.vocab_size) and loss.shape == (3,)
    for r in range(3):
        plain = from_run(stacked, r)
        ref_logits, ref_loss = plain(x, y)
        torch.testing.assert_close(logits[r], ref_logits, rtol=1e-5, atol=1e-5)
        assert loss[r].item() == pytest.approx(ref_loss.item(), abs=1e-5)
    assert not torch.allclose(loss[0], loss[2])  # the runs really differ
    counts = count_parameters(stacked)
    assert counts["total"] == sum(p.numel() for p in plain.parameters())


def test_gradients_match_plain_gpt(batch):
    stacked = perturbed(TinyGPT(SMALL, runs=2).init_weights(3), seed=4)
    plain = from_run(stacked, 1)
    x, y = batch
    stacked(x, y)[1].sum().backward()
    plain(x, y)[1].backward()
    torch.testing.assert_close(stacked.wte.grad[1], plain.wte.weight.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(stacked.blocks[0].attn.qkv.weight.grad[1],
                               plain.h[0].attn.c_attn.weight.grad.T, rtol=1e-4, atol=1e-6)


def test_training_r1_matches_plain_training(batch):
    """A few AdamW steps: the course's optimizer on TinyGPT(R=1) and torch.optim.AdamW on
    the plain model follow the same trajectory."""
    stacked = TinyGPT(SMALL, runs=1).init_weights(5)
    plain = from_run(stacked, 0)
    batches = [fixed_batch(load_corpus().train, 4, SMALL.block_size, seed=s) for s in range(5)]
    opt = AdamW(stacked.parameters(), lr=3e-3)  # betas (0.9, 0.95), no decay: as plain_train_steps
    ours = []
    for x, y in batches:
        _, loss = stacked(x, y)
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
        ours.append(loss.item())
    theirs = plain_train_steps(plain, batches, lr=3e-3, steps=5)
    assert ours == pytest.approx(theirs, abs=1e-4)
    assert theirs[-1] < theirs[0]


def test_runs_do_not_interact(batch):
    """Run 0's logits do not depend on run 1's weights."""
    model = perturbed(TinyGPT(SMALL, runs=2).init_weights(6), seed=7)
    x, _ = batch
    before = model(x)[0][0].clone()
    with torch.no_grad():
        for p in model.parameters():
            p[1].mul_(-3.0)
    torch.testing.assert_close(model(x)[0][0], before, rtol=0, atol=0)


def test_init_is_identical_across_runs_and_seeded():
    a = TinyGPT(SMALL, runs=3).init_weights(11)
    b = TinyGPT(SMALL, runs=1).init_weights(11)
    for name, p in a.named_parameters():
        assert torch.equal(p[0], p[2]), name
        assert torch.equal(p[0], run_slice(b, 0)[name]), name
    c = TinyGPT(SMALL, runs=1).init_weights(12)
    assert not torch.equal(a.wte[0], c.wte[0])


@pytest.mark.parametrize("post_ln", [False, True])
def test_initial_loss_is_near_uniform(post_ln):
    config = GPTConfig(post_ln=post_ln)  # the lab's default size
    model = TinyGPT(config, runs=1).init_weights(0)
    x, y = fixed_batch(load_corpus().train, 8, config.block_size, seed=1)
    with torch.no_grad():
        _, loss = model(x, y)
    assert abs(loss.item() - math.log(65)) < 0.1


def test_count_parameters_splits():
    config = SMALL
    C, V, L, Tb = config.n_embd, config.vocab_size, config.n_layer, config.block_size
    counts = count_parameters(TinyGPT(config, runs=4))  # counts ONE run
    per_layer_matrices = C * 3 * C + C * C + C * 4 * C + 4 * C * C
    per_layer_vectors = 2 * 2 * C + 3 * C + C + 4 * C + C  # two norms, four biases
    assert counts["embedding"] == V * C + Tb * C
    assert counts["decayed"] == L * per_layer_matrices
    assert counts["not_decayed"] == V * C + Tb * C + L * per_layer_vectors + 2 * C  # + ln_f
    assert counts["non_embedding"] == counts["total"] - counts["embedding"]
    assert counts["total"] == counts["decayed"] + counts["not_decayed"]
    untied = count_parameters(TinyGPT(config.with_(tie_weights=False), runs=1))
    assert untied["total"] - counts["total"] == C * V
    assert untied["decayed"] - counts["decayed"] == C * V  # the untied head is a weight matrix


def test_decay_rules():
    model = TinyGPT(SMALL.with_(tie_weights=False), runs=2)
    decayed = {n for n, p in model.named_parameters() if is_decayed(n, p)}
    assert "wte" not in decayed and "wpe" not in decayed and "lm_head" in decayed
    assert "blocks.0.attn.qkv.weight" in decayed
    assert not any(n.endswith("bias") or "ln" in n for n in decayed)


def test_gpt2_small_on_meta_device():
    config = GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768,
                       bias=True, tie_weights=True)
    with torch.device("meta"):
        model = TinyGPT(config, runs=1)
        plain = GPT(config)
    assert all(p.is_meta for p in model.parameters())
    assert count_parameters(model)["total"] == 124_439_808
    assert sum(p.numel() for p in plain.parameters()) == 124_439_808  # tied: counted once
    with torch.device("meta"):  # shapes flow through a forward pass without any memory
        logits, loss = model(torch.zeros(2, 8, dtype=torch.long), torch.zeros(2, 8, dtype=torch.long))
    assert logits.shape == (1, 2, 8, 50257)


def test_sequence_longer_than_block_is_refused():
    model = TinyGPT(SMALL, runs=1).init_weights(0)
    with pytest.raises(AssertionError):
        model(torch.zeros(1, SMALL.block_size + 1, dtype=torch.long))


def test_attention_logit_recording(batch):
    model = TinyGPT(SMALL, runs=2).init_weights(0)
    assert model.max_attention_logit() is None
    model.set_record_logits(True)
    with torch.no_grad():
        model(batch[0])
    peak = model.max_attention_logit()
    assert peak.shape == (2,) and torch.isfinite(peak).all()
