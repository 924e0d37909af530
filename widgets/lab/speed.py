"""Speed meters: how fast a job trained, against what this machine can do.

    with speed.metering() as meter:       # around one job, in the thread that runs it
        widget.compute(values)
    meter.tokens, meter.flops             # what its trainers processed and multiplied

Every LockstepTrainer step reports its tokens (runs x batch x block: what the stacked model
processes) and its FLOPs to the meter of the thread it runs in. FLOPs are counted once per
configuration (model shape, stacked runs, batch, dtype, optimizer, hooks) by PyTorch's own
`torch.utils.flop_counter.FlopCounterMode` on the configuration's first real step, then cached
for the process: the counter adds Python work to every operation, so only that one step pays
for it. Like every MFU figure, the count is the matmuls' (and attention's) FLOPs; elementwise
work is not counted.

`matmul_rate()` is the machine's own yardstick: a short timing of float32 batched matmuls
shaped like the tiny GPT's largest ones, measured once per process and thread count (a Dask
worker measures it as it joins, app/serving/worker/job_context.py). On CUDA, `peak_rate` gives
the device's datasheet peak for the dtype, when the device is one we know.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Hashable

_local = threading.local()  # the meter of the job running in this thread, if any
_counted: dict[Hashable, int] = {}  # configuration -> FLOPs of one step, for this process
_count_lock = threading.Lock()


@dataclass
class Meter:
    """What one job's training did: tokens processed, FLOPs spent, in which dtype."""

    tokens: int = 0
    flops: int = 0
    steps: int = 0
    dtype: str = "float32"

    def add(self, tokens: int, flops: int, dtype: str) -> None:
        self.tokens += tokens
        self.flops += flops
        self.steps += 1
        self.dtype = dtype


@contextmanager
def metering():
    """A fresh meter for the work this thread does inside the block (nested blocks each get
    their own; the outer one does not see the inner's work)."""
    meter, before = Meter(), getattr(_local, "meter", None)
    _local.meter = meter
    try:
        yield meter
    finally:
        _local.meter = before


class _NoModules:
    """Stands in for FlopCounterMode's module tracker, which installs *global* module hooks:
    they would fire in every other thread's model while one job counts. Only the total is
    wanted here, which the counter files under "Global"."""

    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *args) -> None:
        return None


def _cpu_attention() -> dict:
    """The counter's formulas for the CPU's fused attention kernels, which its registry does not
    list (it knows the CUDA ones): the same counts as flash attention's, forward and backward
    (the backward recomputes the scores, 2.5 times the forward's matmuls)."""
    import torch
    from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

    aten = torch.ops.aten
    return {aten._scaled_dot_product_flash_attention_for_cpu:
            lambda q, k, v, *args, out_shape=None, **kwargs: sdpa_flop_count(q, k, v),
            aten._scaled_dot_product_flash_attention_for_cpu_backward:
            lambda grad, q, k, v, *args, out_shape=None, **kwargs: sdpa_backward_flop_count(grad, q, k, v)}


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of fn() (matmuls, attention, convolutions) as PyTorch's flop counter counts them;
    fn runs for real, its results unchanged."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False, custom_mapping=_cpu_attention())
    counter.mod_tracker = _NoModules()
    with counter:
        fn()
    return counter.get_total_flops()


def metered(key: Hashable, tokens: int, dtype: str, fn: Callable[[], object]) -> None:
    """Run one step fn(); report its tokens and FLOPs to this thread's meter. The FLOPs of
    `key` are counted on its first step in this process and reused after."""
    flops = _counted.get(key)
    if flops is None:
        flops = count_flops(fn)
        with _count_lock:
            _counted.setdefault(key, flops)
    else:
        fn()
    meter = getattr(_local, "meter", None)
    if meter is not None:
        meter.add(tokens, flops, dtype)


@lru_cache(maxsize=8)
def _rate(device: str, threads: int) -> float:
    import torch

    runs, tokens, width, repeats = 2, 256, 64, 200
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(runs, tokens, width, generator=gen).to(dev)
    b = torch.randn(runs, width, 4 * width, generator=gen).to(dev)
    for _ in range(20):
        torch.bmm(a, b)
    sync()
    best = 0.0
    for _ in range(3):  # the best of three: a neighbour's burst should not lower the yardstick
        start = time.perf_counter()
        for _ in range(repeats):
            torch.bmm(a, b)
        sync()
        best = max(best, 2 * runs * tokens * width * 4 * width * repeats / (time.perf_counter() - start))
    return best


def matmul_rate(device: str | None = None) -> float:
    """FLOP/s of float32 batched matmuls shaped like the tiny GPT's largest, (R, B*T, C) @ (R, C, 4C),
    on `device` (default: the lab's) at this thread's torch thread count; measured once each."""
    import torch

    from widgets.lab.runtime import default_device

    return _rate(str(device or default_device()), torch.get_num_threads())


# Dense datasheet peaks in TFLOP/s (no sparsity), by a fragment of torch.cuda.get_device_name():
# NVIDIA's H100 SXM, H200, A100 and L4 datasheets. float32 matmuls run on TF32 tensor cores only
# when torch allows it, so float32 is given its plain rate.
PEAKS_TFLOPS = {
    "H200": {"float32": 67.0, "tfloat32": 494.7, "bfloat16": 989.4, "float16": 989.4},
    "H100": {"float32": 67.0, "tfloat32": 494.7, "bfloat16": 989.4, "float16": 989.4},
    "A100": {"float32": 19.5, "tfloat32": 156.0, "bfloat16": 312.0, "float16": 312.0},
    "L4": {"float32": 30.3, "tfloat32": 60.0, "bfloat16": 121.0, "float16": 121.0},
}


def peak_rate(device_name: str, dtype: str) -> float | None:
    """The datasheet peak FLOP/s of a CUDA device for `dtype`, or None for a device not listed."""
    for fragment, peaks in PEAKS_TFLOPS.items():
        if fragment in device_name and dtype in peaks:
            return peaks[dtype] * 1e12
    return None


def cuda_peak(device: str, dtype: str) -> float | None:
    """peak_rate for the CUDA device the job ran on (float32 as TF32 when torch allows it)."""
    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        return None
    if dtype == "float32" and torch.backends.cuda.matmul.allow_tf32:
        dtype = "tfloat32"
    return peak_rate(torch.cuda.get_device_name(torch.device(device)), dtype)


def meters(meter: Meter, seconds: float, device: str) -> dict | None:
    """The provenance's speed meters for a job that trained for `seconds`, or None when it
    trained no language model (a schedule, a 2-D valley: no tokens to count)."""
    if not meter.tokens or seconds <= 0:
        return None
    achieved = meter.flops / seconds
    rate = matmul_rate(device)
    peak = cuda_peak(device, meter.dtype)
    return {"tokens": meter.tokens, "flops": meter.flops, "train_s": round(seconds, 4), "dtype": meter.dtype,
            "tokens_per_s": round(meter.tokens / seconds, 1), "gflops_per_s": round(achieved / 1e9, 3),
            "matmul_gflops_per_s": round(rate / 1e9, 3), "share_of_matmul": round(achieved / rate, 4),
            "peak_gflops_per_s": None if peak is None else round(peak / 1e9, 1),
            "share_of_peak": None if peak is None else round(achieved / peak, 6)}
