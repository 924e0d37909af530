"""The scaling demo: three real sizes, same batches, and the caption's ordering of final validation losses."""
from __future__ import annotations

import pytest

from widgets.lab.model import GPTConfig, TinyGPT, count_parameters
from widgets.registry import get_widget

WIDGET = get_widget("scaling-demo")


@pytest.fixture(scope="module")
def default():
    values = WIDGET.canonicalize({})
    reports = []
    data = WIDGET.compute(values, lambda partial, done, total: reports.append((partial, done, total)))
    return values, data, reports


def test_caption_claim_each_wider_model_ends_lower(default):
    values, data, _ = default
    assert [r["label"] for r in data["runs"]] == ["width 32", "width 64", "width 128"]
    assert "80 steps" in WIDGET.caption and values["steps"] == 80
    finals = [r["val_loss"][-1] for r in data["runs"]]
    assert all(r["val_steps"][-1] == 80 and r["diverged_at"] is None for r in data["runs"])
    assert finals[0] - finals[1] > 0.05 and finals[1] - finals[2] > 0.05, finals


def test_sizes_are_counted_from_the_real_models(default):
    _, data, _ = default
    for run, width in zip(data["runs"], (32, 64, 128)):
        assert run["params"] == count_parameters(TinyGPT(GPTConfig(block_size=32, n_embd=width)))["total"]
    assert data["runs"][0]["params"] < data["runs"][1]["params"] < data["runs"][2]["params"]


def test_every_size_reads_the_same_batches():
    trainers = [__import__("widgets.lab.trainer", fromlist=["LockstepTrainer"]).LockstepTrainer(spec)
                for spec in WIDGET.specs(WIDGET.canonicalize({}))]
    for _ in range(3):
        batches = [t.batches.next() for t in trainers]
        for x, y in batches[1:]:
            assert x.equal(batches[0][0]) and y.equal(batches[0][1])
    assert all(t.val_batch[0].equal(trainers[0].val_batch[0]) for t in trainers)


def test_streams_growing_partial_results_of_the_final_shape(default):
    values, data, reports = default
    assert reports and reports[0][1] == 1
    dones = [done for _, done, _ in reports]
    assert dones == sorted(dones) and dones[-1] < 80
    for partial, done, total in reports:
        assert total == 80 and set(partial) == set(data)
        assert all(len(r["loss"]) == done for r in partial["runs"])
        WIDGET.figure(values, partial)  # draws before any validation point exists


def test_depth_variant_trains_one_two_four_layers():
    specs = WIDGET.specs(WIDGET.canonicalize({"vary": "depth"}))
    assert [s.model.n_layer for s in specs] == [1, 2, 4]
    assert all(s.model.n_embd == 64 for s in specs)
