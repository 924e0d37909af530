"""Every random draw of the lab comes from a generator the job owns (issue 9, item 5).

Initial weights, batch order, dropout masks and bad batches are drawn from generators
made from the job's seed; nothing reads or reseeds torch's global RNG. So a job gives
the same numbers whatever else runs in the process at the same moment.
"""
from __future__ import annotations

import threading

import pytest
import torch

from widgets.lab.model import GPTConfig, TinyGPT, dropout
from widgets.lab.schedules import Schedule
from widgets.lab.trainer import RunConfig, TrainSpec, train

STEPS = 12


def dropout_spec(p: float, seed: int = 5) -> TrainSpec:
    return TrainSpec(model=GPTConfig(block_size=16, n_layer=1, n_head=2, n_embd=32, dropout=p),
                     runs=(RunConfig("a", Schedule("constant", 3e-3, 0, STEPS)),
                           RunConfig("b", Schedule("constant", 1e-2, 0, STEPS))),
                     steps=STEPS, batch_size=4, seed=seed, eval_every=6, eval_batch_size=8)


def test_a_dropout_run_leaves_the_global_rng_alone_and_ignores_its_seed():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    first = train(dropout_spec(0.3))
    assert torch.equal(torch.get_rng_state(), state), "the run drew from torch's global RNG"
    torch.manual_seed(12345)  # a different global seed changes nothing
    assert train(dropout_spec(0.3)) == first


def test_dropout_really_draws_masks():
    with_dropout, without = train(dropout_spec(0.3)), train(dropout_spec(0.0))
    assert with_dropout["runs"][0]["loss"][0] != without["runs"][0]["loss"][0]
    assert train(dropout_spec(0.3, seed=6))["runs"][0]["loss"] != with_dropout["runs"][0]["loss"]


def test_two_dropout_jobs_at_the_same_moment_match_each_alone():
    specs = [dropout_spec(0.2), dropout_spec(0.4, seed=9)]
    alone = [train(s) for s in specs]
    together: list = [None, None]
    start = threading.Barrier(2)

    def job(k: int) -> None:
        start.wait()  # both threads train at once, interleaving their draws
        together[k] = train(specs[k])

    threads = [threading.Thread(target=job, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert together == alone  # bit for bit


def test_dropout_without_a_generator_is_refused():
    model = TinyGPT(GPTConfig(block_size=8, n_layer=1, n_head=2, n_embd=16, dropout=0.1)).init_weights(0)
    x = torch.zeros(2, 8, dtype=torch.long)
    with pytest.raises(ValueError, match="generator"):
        model(x, x)
    model.eval()
    model(x, x)  # evaluation draws nothing, so needs no generator


def test_dropout_keeps_the_expected_share_and_rescales():
    g = torch.Generator().manual_seed(0)
    y = dropout(torch.ones(100_000), 0.25, True, g)
    kept = y != 0
    assert kept.float().mean().item() == pytest.approx(0.75, abs=0.01)
    assert torch.all(y[kept] == 1 / 0.75)
    assert torch.equal(dropout(torch.ones(10), 0.25, False, None), torch.ones(10))
