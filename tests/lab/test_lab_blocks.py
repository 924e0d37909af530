"""Per-run optimizer blocks: each block of runs of one trainer has its own course optimizer,
checked against torch.optim on separate ordinary copies of the model (same init, same batches)."""
from __future__ import annotations

import pytest
import torch

from widgets.lab.data import BatchStream, load_corpus
from widgets.lab.model import GPTConfig, TinyGPT, is_decayed
from widgets.lab.optim import SGD, AdamW
from widgets.lab.schedules import Schedule
from widgets.lab.optim import per_run_blocks
from widgets.lab.trainer import LockstepTrainer, RunConfig, TrainSpec

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


def spec_of(lrs, steps=STEPS, seed=3) -> TrainSpec:
    return TrainSpec(model=CONFIG, runs=tuple(RunConfig(f"r{k}", Schedule("constant", lr, 0, steps))
                                              for k, lr in enumerate(lrs)),
                     steps=steps, batch_size=4, seed=seed, eval_every=0)


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
    trainer = LockstepTrainer(spec_of([0.1, 0.1, 1e-2, 1e-2]), device="cpu", optimizer=per_run_blocks(blocks))
    singles = [TinyGPT(CONFIG, runs=1).init_weights(3) for _ in references]
    theirs = [make(m) for make, m in zip(references, singles)]
    batches = BatchStream(load_corpus().train, 4, CONFIG.block_size, 3)  # the trainer's own stream
    for _ in range(STEPS):
        trainer.train_step()
        x, y = batches.next()
        for model, opt in zip(singles, theirs):
            opt.zero_grad()
            model(x, y)[1].sum().backward()
            opt.step()
    for r, model in enumerate(singles):
        for (name, p), q in zip(trainer.model.named_parameters(), model.parameters()):
            torch.testing.assert_close(p[r].detach(), q[0].detach(), rtol=1e-4, atol=1e-5, msg=f"run {r} {name}")
    fc = trainer.model.blocks[0].mlp.fc.weight
    assert not torch.allclose(fc[2], fc[3])  # the runs really moved apart: Adam + L2 and AdamW differ
    assert trainer.result()["runs"][0]["lr"] == pytest.approx([0.1] * STEPS)


def test_blocks_must_cover_every_run():
    with pytest.raises(ValueError, match="blocks hold 1 runs"):
        LockstepTrainer(spec_of([0.1, 0.2]), device="cpu",
                        optimizer=per_run_blocks([(1, lambda g, n: SGD(g, n, lr=0.1))]))


def test_block_runs_are_deterministic_and_share_their_start():
    def race():
        trainer = LockstepTrainer(spec_of([0.05, 0.2], steps=3, seed=5), device="cpu",
                                  optimizer=per_run_blocks([(2, lambda g, n: SGD(g, n, lr=[0.05, 0.2]))]))
        return trainer.run()
    a, b = race(), race()
    assert a == b
    slow, fast = a["runs"]
    assert slow["loss"][0] == fast["loss"][0]  # same weights, same first batch
    assert slow["loss"][-1] != fast["loss"][-1] and slow["lr"] == pytest.approx([0.05] * 3)
    assert slow["clipped"] == [False] * 3  # no threshold: nothing clipped (and the flag is real)
