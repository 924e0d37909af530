"""PerRunOptimizers: a course optimizer per block of runs of one run-stacked model, checked
against torch.optim on separate ordinary copies of the model (same init, same batches)."""
from __future__ import annotations

import pytest
import torch

from widgets.lab.data import BatchStream, load_corpus
from widgets.lab.model import GPTConfig, TinyGPT, is_decayed
from widgets.lab.optim import SGD, AdamW
from widgets.lab.per_run import PerRunOptimizers, train_per_run

CONFIG = GPTConfig(block_size=16, n_layer=1, n_embd=32, n_head=2)
STEPS = 4
# The key bias's true gradient is 0 (softmax ignores a constant shift), so it is float noise that
# differs between the batched and the single model; Adam would blow that noise up to +-lr with
# eps=1e-8. A larger eps keeps the comparison about the optimizers, not about that noise.
EPS = 1e-6


def torch_groups(model, wd):
    named = list(model.named_parameters())
    return [{"params": [p for n, p in named if is_decayed(n, p)], "weight_decay": wd},
            {"params": [p for n, p in named if not is_decayed(n, p)], "weight_decay": 0.0}]


def with_decay(make, wd):
    def factory(groups, runs):
        groups[0]["weight_decay"] = wd
        return make(groups, runs)
    return factory


def test_each_block_matches_torch_optim_on_its_own_copy():
    blocks = [
        (2, lambda g, n: SGD(g, n, lr=0.1, momentum=[0.0, 0.9])),
        (1, with_decay(lambda g, n: AdamW(g, n, lr=1e-2, beta2=0.95, eps=EPS, decoupled=False), 0.1)),
        (1, with_decay(lambda g, n: AdamW(g, n, lr=1e-2, beta2=0.95, eps=EPS, decoupled=True), 0.1)),
    ]
    references = [
        lambda m: torch.optim.SGD(m.parameters(), lr=0.1),
        lambda m: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9),
        lambda m: torch.optim.Adam(torch_groups(m, 0.1), lr=1e-2, betas=(0.9, 0.95), eps=EPS),
        lambda m: torch.optim.AdamW(torch_groups(m, 0.1), lr=1e-2, betas=(0.9, 0.95), eps=EPS),
    ]
    stacked = TinyGPT(CONFIG, runs=4).init_weights(3)
    singles = [TinyGPT(CONFIG, runs=1).init_weights(3) for _ in references]
    ours = PerRunOptimizers(list(stacked.named_parameters()), blocks)
    theirs = [make(m) for make, m in zip(references, singles)]
    batches = BatchStream(load_corpus().train, 4, CONFIG.block_size, 0)
    for _ in range(STEPS):
        x, y = batches.next()
        ours.zero_grad()
        stacked(x, y)[1].sum().backward()
        ours.step()
        for model, opt in zip(singles, theirs):
            opt.zero_grad()
            model(x, y)[1].sum().backward()
            opt.step()
    for r, model in enumerate(singles):
        for (name, p), q in zip(stacked.named_parameters(), model.parameters()):
            torch.testing.assert_close(p[r].detach(), q[0].detach(), rtol=1e-4, atol=1e-5, msg=f"run {r} {name}")
    # the runs really moved apart: Adam + L2 and AdamW differ
    assert not torch.allclose(stacked.blocks[0].mlp.fc.weight[2], stacked.blocks[0].mlp.fc.weight[3])


def test_a_dead_run_is_left_unchanged_while_its_block_partner_moves():
    model = TinyGPT(CONFIG, runs=2).init_weights(0)
    opts = PerRunOptimizers(list(model.named_parameters()), [(2, lambda g, n: SGD(g, n, lr=0.1, momentum=0.9))])
    x, y = BatchStream(load_corpus().train, 4, CONFIG.block_size, 0).next()
    before = model.wte.detach().clone()
    model(x, y)[1].sum().backward()
    opts.step(alive=[False, True])
    assert torch.equal(model.wte[0], before[0]) and not torch.equal(model.wte[1], before[1])


def test_train_per_run_is_deterministic_and_runs_share_their_start():
    blocks = [(2, lambda g, n: SGD(g, n, lr=[0.05, 0.2]))]
    a = train_per_run(CONFIG, ["slow", "fast"], blocks, steps=3, batch_size=4, seed=5, eval_every=3)
    b = train_per_run(CONFIG, ["slow", "fast"], blocks, steps=3, batch_size=4, seed=5, eval_every=3)
    assert a == b
    slow, fast = a["runs"]
    assert slow["loss"][0] == fast["loss"][0]  # same weights, same first batch
    assert slow["loss"][-1] != fast["loss"][-1] and slow["lr"] == pytest.approx([0.05] * 3) and fast["val_steps"] == [3]
