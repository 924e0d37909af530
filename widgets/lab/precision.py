"""Number formats, fp16 gradient underflow, dynamic loss scaling, bf16 training.

Every value here comes from a real torch cast (x.to(dtype).float()) and its bit
pattern from a real reinterpretation (.view(int dtype)). TF32 has no storage dtype
in torch: it is emulated by rounding an fp32 mantissa to 10 bits (round to nearest,
ties to even) with integer bit operations, which is what tensor cores do to their
fp32 inputs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from widgets.lab.hooks import StepHook
from widgets.lab.trainer import LockstepTrainer, TrainSpec


@dataclass(frozen=True)
class Format:
    name: str
    sign: int
    exponent: int
    mantissa: int
    dtype: torch.dtype | None  # None: emulated (tf32)
    bits_dtype: torch.dtype | None  # the integer dtype of the same width, for .view()


FORMATS = (
    Format("fp32", 1, 8, 23, torch.float32, torch.int32),
    Format("tf32", 1, 8, 10, None, None),
    Format("fp16", 1, 5, 10, torch.float16, torch.int16),
    Format("bf16", 1, 8, 7, torch.bfloat16, torch.int16),
    Format("fp8 e4m3", 1, 4, 3, torch.float8_e4m3fn, torch.uint8),
    Format("fp8 e5m2", 1, 5, 2, torch.float8_e5m2, torch.uint8),
)
FORMAT_BY_NAME = {f.name: f for f in FORMATS}


def round_to_tf32(x: torch.Tensor) -> torch.Tensor:
    """fp32 -> fp32 holding the nearest TF32 value (10 mantissa bits, ties to even)."""
    bits = x.float().view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    special = (bits & 0x7F800000) == 0x7F800000  # inf and NaN pass through unchanged
    lsb = (bits >> 13) & 1
    rounded = (bits + 0x0FFF + lsb) & ~0x1FFF & 0xFFFFFFFF
    out = torch.where(special, bits, rounded)
    out = torch.where(out >= 2 ** 31, out - 2 ** 32, out)  # back to signed 32-bit
    return out.to(torch.int32).view(torch.float32)


def cast(x: torch.Tensor, fmt: Format) -> torch.Tensor:
    """The value stored by `fmt`, as fp32."""
    if fmt.dtype is None:
        return round_to_tf32(x)
    return x.float().to(fmt.dtype).float()


def bit_fields(x: torch.Tensor, fmt: Format) -> tuple[str, str, str]:
    """(sign, exponent, mantissa) bit strings of x stored in `fmt`, read from the real bit pattern."""
    width = fmt.sign + fmt.exponent + fmt.mantissa
    if fmt.dtype is None:  # tf32: the top 19 bits of the rounded fp32 pattern
        raw = int(round_to_tf32(x.float().reshape(1)).view(torch.int32)[0]) & 0xFFFFFFFF
        raw >>= 32 - width
    else:
        stored = x.float().reshape(1).to(fmt.dtype)
        raw = int(stored.view(fmt.bits_dtype)[0]) & ((1 << (8 * stored.element_size())) - 1)
    text = format(raw, f"0{width}b")
    return text[:1], text[1:1 + fmt.exponent], text[1 + fmt.exponent:]


def finfo(fmt: Format) -> dict:
    """max, smallest normal and eps: torch.finfo where torch has the dtype, else from the layout."""
    if fmt.dtype is not None:
        info = torch.finfo(fmt.dtype)
        return {"max": float(info.max), "tiny": float(info.tiny), "eps": float(info.eps)}
    bias = 2 ** (fmt.exponent - 1) - 1
    return {"max": (2 - 2.0 ** -fmt.mantissa) * 2.0 ** bias, "tiny": 2.0 ** (1 - bias), "eps": 2.0 ** -fmt.mantissa}


def fp16_cast_stats(grad: torch.Tensor, scale: float) -> dict:
    """Cast grad * scale to fp16 (a real cast): the share of non-zero entries that became 0 or inf."""
    nonzero = grad != 0
    scaled = (grad.double() * scale).to(torch.float16)
    n = int(nonzero.sum())
    return {"underflow": int(((scaled == 0) & nonzero).sum()) / n,
            "overflow": int(torch.isinf(scaled).sum()) / n}


class DynamicLossScaler:
    """torch.amp.GradScaler's logic, written out.

    Each step: the gradients of (loss * scale) are checked for inf/NaN. If any, the
    optimizer step is skipped and the scale is multiplied by backoff (0.5). Otherwise the
    gradients are divided by the scale, the step is taken, and after `growth_interval`
    good steps in a row the scale is multiplied by growth (2).
    """

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000):
        self.scale = float(init_scale)
        self.growth_factor = growth_factor
        self.backoff_factor = backoff_factor
        self.growth_interval = growth_interval
        self.good_steps = 0

    def unscale(self, scaled_grads: list[torch.Tensor]) -> tuple[list[torch.Tensor], bool]:
        """(gradients divided by the scale, found_inf)."""
        found_inf = any(not bool(torch.isfinite(g).all()) for g in scaled_grads)
        return [g.float() / self.scale for g in scaled_grads], found_inf

    def update(self, found_inf: bool) -> None:
        if found_inf:
            self.scale *= self.backoff_factor
            self.good_steps = 0
        else:
            self.good_steps += 1
            if self.good_steps == self.growth_interval:
                self.scale *= self.growth_factor
                self.good_steps = 0


MODES = ("fp32", "bf16 autocast", "bf16 weights")


class LostUpdates(StepHook):
    """Per step and run: the share of weights that a non-zero update left unchanged (rounded away)."""

    metric_names = ("lost_updates",)

    def before_step(self, trainer) -> None:
        self.before = [b.clone() for b in trainer.params.buffers()]

    def metrics(self, trainer) -> dict:
        pushed = moved = 0
        for old, now in zip(self.before, trainer.params.buffers()):
            nonzero = now.grad != 0
            pushed = pushed + nonzero.sum(1)
            moved = moved + (nonzero & (now != old)).sum(1)
        return {"lost_updates": 1 - moved.double() / pushed.clamp(min=1).double()}


def precision_trainer(spec: TrainSpec, mode: str, **kwargs) -> LockstepTrainer:
    """A trainer in one of three precisions, recording the share of updates rounded away.

    "fp32": everything in float32. "bf16 autocast": the forward pass (matmuls) runs in
    bfloat16 under torch.autocast, weights and optimizer stay float32 (master weights).
    "bf16 weights": the model's weights and optimizer state are bfloat16 themselves, so an
    update smaller than half a bfloat16 step of the weight rounds away.
    Trainers built from the same spec share initial weights and batches.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    return LockstepTrainer(spec, dtype=torch.bfloat16 if mode == "bf16 weights" else torch.float32,
                           autocast=torch.bfloat16 if mode == "bf16 autocast" else None,
                           hooks=[LostUpdates()], **kwargs)


class LossScaling(StepHook):
    """Dynamic loss scaling in fp16, as torch.amp.GradScaler does it, for one run.

    The loss is multiplied by `factor` (standing in for a big model's small gradients) and by
    the scale S; the gradients are cast to fp16 (what an fp16 backward pass would hold), checked
    for inf, divided by S and by `factor`. A step with inf is skipped (the accept mask: weights
    and Adam state untouched) and the scale backs off; after `growth_interval` good steps it grows.
    Records, per step: log2 S, whether the step was skipped, the share of non-zero gradient
    entries that flushed to zero in fp16.
    """

    def __init__(self, scaler: DynamicLossScaler, factor: float = 1.0):
        self.scaler = scaler
        self.factor = factor
        self.log2_scale: list[float] = []
        self.skipped: list[bool] = []
        self.underflow: list[float] = []

    def objective(self, trainer, objective):
        return objective * self.factor * self.scaler.scale

    def accept(self, trainer, norm, finite):
        grads = [b.grad for b in trainer.params.buffers()]
        half = [g.to(torch.float16) for g in grads]
        unscaled, found_inf = self.scaler.unscale(half)
        nonzero = sum(int((g != 0).sum()) for g in grads)
        lost = sum(int(((h == 0) & (g != 0)).sum()) for h, g in zip(half, grads))
        self.log2_scale.append(math.log2(self.scaler.scale))
        self.skipped.append(found_inf)
        self.underflow.append(lost / nonzero)
        for g, u in zip(grads, unscaled):
            g.copy_(u / self.factor)  # back to the gradient of the loss itself
        self.scaler.update(found_inf)
        return [not found_inf] * len(trainer.spec.runs)
