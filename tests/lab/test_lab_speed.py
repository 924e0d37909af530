"""The speed meters (widgets/lab/speed.py): FLOPs as torch's counter counts them checked
against a count by hand, once per configuration, and the meters a real run's provenance
carries: present, positive, and a share of the machine's matmul rate that is believable."""
from __future__ import annotations

import torch

from app.serving.worker.widget_task import run_widget
from app.serving.keys import code_version
from widgets.lab import runtime, speed
from widgets.lab.model import GPTConfig
from widgets.lab.schedules import Schedule
from widgets.lab.trainer import LockstepTrainer, RunConfig, TrainSpec


def test_flops_of_a_linear_layer_match_a_count_by_hand():
    layer = torch.nn.Linear(8, 5, bias=False)
    x = torch.randn(3, 8)
    # forward x @ W.T: 2*3*8*5; backward: only dL/dW (x needs no gradient), the same again
    assert speed.count_flops(lambda: layer(x).sum().backward()) == 2 * (2 * 3 * 8 * 5)
    x.requires_grad_(True)  # now dL/dx too: three matmuls of the same size
    assert speed.count_flops(lambda: layer(x).sum().backward()) == 3 * (2 * 3 * 8 * 5)


def test_a_trainer_step_counts_the_gpts_matmuls_and_attention_by_hand():
    C, T, B, R, V = 32, 16, 4, 2, 65
    config = GPTConfig(block_size=T, n_layer=1, n_head=2, n_embd=C)
    run = RunConfig("a", Schedule("cosine", peak_lr=3e-3, warmup=1, total=2))
    spec = TrainSpec(model=config, runs=(run, run), steps=2, batch_size=B, eval_every=0)
    tokens = B * T
    # per run and layer: qkv (C -> 3C), out projection (C -> C), MLP (C -> 4C -> C); the tied head C -> V
    linear = R * (2 * tokens * C * (3 * C + C + 4 * C + 4 * C) + 2 * tokens * C * V)
    attention = R * (2 * 2 * B * T * T * C)  # scores q.k and the weighted sum of v, every head together
    with speed.metering() as meter:
        trainer = LockstepTrainer(spec, device="cpu")
        trainer.train_step()
        first = meter.flops
        trainer.train_step()  # the count is cached: the second step reports the same
    # backward: twice the forward's matmuls; attention's recomputes its scores (2.5 times)
    assert first == 3 * linear + 3.5 * attention
    assert meter.flops == 2 * first and meter.tokens == 2 * R * tokens and meter.steps == 2


def test_meters_are_per_thread_and_nested_blocks_keep_their_own():
    with speed.metering() as outer:
        speed.metered(("test", "a"), 10, "float32", lambda: torch.ones(2, 3) @ torch.ones(3, 4))
        with speed.metering() as inner:
            speed.metered(("test", "a"), 5, "float32", lambda: torch.ones(2, 3) @ torch.ones(3, 4))
    assert (outer.tokens, outer.flops) == (10, 2 * 2 * 3 * 4) and (inner.tokens, inner.flops) == (5, 48)


def test_every_training_run_carries_the_three_meters_and_they_are_sane():
    item = run_widget("warmup", {**_warmup_values(), "steps": 30, "warmup": 5},
                      code_version(runtime.current().corpus_path))
    meters = item["provenance"]["speed"]
    assert meters["tokens"] == 30 * 2 * 8 * 32  # steps x runs x batch x block
    assert meters["tokens_per_s"] > 0 and meters["gflops_per_s"] > 0 and meters["matmul_gflops_per_s"] > 0
    assert 0 < meters["share_of_matmul"] <= 1.5
    assert meters["share_of_peak"] is None  # a CPU has no datasheet peak here
    assert abs(meters["gflops_per_s"] * 1e9 * meters["train_s"] - meters["flops"]) <= 0.01 * meters["flops"]


def test_a_widget_that_trains_no_model_has_no_meters():
    from widgets.registry import all_widgets

    widget = all_widgets()["lr-schedule"]
    item = run_widget("lr-schedule", widget.canonicalize({}), code_version(runtime.current().corpus_path))
    assert item["provenance"]["speed"] is None


def test_gpu_peaks_are_read_by_device_name_and_dtype():
    assert speed.peak_rate("NVIDIA H100 80GB HBM3", "bfloat16") == 989.4e12
    assert speed.peak_rate("NVIDIA A100-SXM4-40GB", "float32") == 19.5e12
    assert speed.peak_rate("Some Other GPU", "bfloat16") is None


def _warmup_values() -> dict:
    from widgets.registry import all_widgets

    return all_widgets()["warmup"].canonicalize({})
