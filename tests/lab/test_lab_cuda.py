"""The lab on a GPU: the one loop trains on CUDA when the worker has it, and every result names
the device that really ran it. Skipped, with the reason, on a machine without CUDA (CI has none)."""
from __future__ import annotations

import pytest
import torch

from shared_runs import widget_data
from widgets.lab.model import GPTConfig
from widgets.lab.schedules import Schedule
from widgets.lab.trainer import LockstepTrainer, RunConfig, TrainSpec, device_name
from widgets.registry import all_widgets

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")]

SPEC = TrainSpec(model=GPTConfig(block_size=16, n_layer=1, n_head=2, n_embd=32),
                 runs=(RunConfig("a", Schedule("cosine", 3e-3, 3, 30), clip=1.0),
                       RunConfig("b", Schedule("constant", 1e-2, 0, 30))),
                 steps=30, batch_size=4, eval_every=10, eval_batch_size=8)


def test_the_one_loop_trains_on_cuda_and_says_so():
    gpu = LockstepTrainer(SPEC, device="cuda").run()
    cpu = LockstepTrainer(SPEC, device="cpu").run()
    assert gpu["device"] == device_name("cuda") and gpu["device"].startswith("cuda:")
    for g, c in zip(gpu["runs"], cpu["runs"]):
        assert g["loss"][0] == pytest.approx(c["loss"][0], abs=1e-4)  # same weights, same first batch
        assert abs(g["val_loss"][-1] - c["val_loss"][-1]) < 0.05  # rounding differs, the run does not
        assert g["loss"][-1] < g["loss"][0]


@pytest.mark.parametrize("name", ["warmup", "clip-trace", "precision", "layer-health"])
def test_a_widget_on_a_cuda_worker_reports_cuda(name, monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    widget = all_widgets()[name]
    data = widget.compute(widget.canonicalize({}))
    assert data["device"].startswith("cuda:")
    assert widget_data(name)["device"] == "cpu"  # the same widget here (COURSE_DEVICE=cpu in tests)
