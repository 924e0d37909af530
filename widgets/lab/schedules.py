"""Learning-rate schedules: closed forms, and real torch schedulers that follow them.

Step t runs from 0 to total-1 and `lr_at(t)` is the LR used for the update at step t.
Warmup rises linearly and reaches the peak at step warmup-1 (so the first update is
already peak/warmup, not zero: an update with LR 0 would waste a batch).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

FAMILIES = ("constant", "cosine", "linear", "wsd", "multistep")
FAMILY_LABELS = {
    "constant": "constant (after warmup)",
    "cosine": "warmup + cosine",
    "linear": "warmup + linear decay",
    "wsd": "warmup-stable-decay (WSD)",
    "multistep": "multi-step (drops at 80% and 90%)",
}
MULTISTEP_FRACTIONS = (0.8, 0.9)  # DeepSeek-style drops
MULTISTEP_GAMMA = math.sqrt(0.1)  # each drop multiplies by ~0.316: 100% -> 31.6% -> 10%


@dataclass(frozen=True)
class Schedule:
    family: str = "cosine"
    peak_lr: float = 1e-3
    warmup: int = 0  # steps of linear warmup
    total: int = 1000  # steps in the whole run
    min_lr: float = 0.0  # floor of cosine/linear/WSD decay
    decay_fraction: float = 0.2  # WSD: share of the run spent decaying

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"unknown schedule family {self.family!r}")
        if not 0 <= self.warmup <= self.total:
            raise ValueError("warmup must lie between 0 and total steps")

    def lr_at(self, step: int) -> float:
        if step < self.warmup:
            return self.peak_lr * (step + 1) / self.warmup
        return getattr(self, f"_{self.family}")(step)

    def factor_at(self, step: int) -> float:
        """lr_at / peak: the multiplier that torch's LambdaLR takes."""
        return self.lr_at(step) / self.peak_lr

    def decay_start(self) -> int:
        """WSD: the first step of the decay phase."""
        return max(self.warmup, self.total - round(self.decay_fraction * self.total))

    def multistep_milestones(self) -> list[int]:
        return [max(self.warmup, round(f * self.total)) for f in MULTISTEP_FRACTIONS]

    # --- the families, for steps after warmup -------------------------------------
    def _progress(self, step: int, start: int) -> float:
        span = self.total - start
        return min(1.0, (step - start) / span) if span > 0 else 1.0

    def _constant(self, step: int) -> float:
        return self.peak_lr

    def _cosine(self, step: int) -> float:
        p = self._progress(step, self.warmup)
        return self.min_lr + 0.5 * (self.peak_lr - self.min_lr) * (1 + math.cos(math.pi * p))

    def _linear(self, step: int) -> float:
        p = self._progress(step, self.warmup)
        return self.peak_lr + (self.min_lr - self.peak_lr) * p

    def _wsd(self, step: int) -> float:
        start = self.decay_start()
        if step < start:
            return self.peak_lr
        return self.peak_lr + (self.min_lr - self.peak_lr) * self._progress(step, start)

    def _multistep(self, step: int) -> float:
        drops = sum(step >= m for m in self.multistep_milestones())
        return self.peak_lr * MULTISTEP_GAMMA ** drops


FLOOR_FRACTION = 0.1  # the course's decays end at 10% of the peak


def floor_lr(peak: float, fraction: float = FLOOR_FRACTION) -> float:
    """fraction x peak, to 6 significant digits (so the floor prints as the number it is)."""
    return float(f"{fraction * peak:.6g}")


def cosine_to_floor(peak: float, warmup: int, total: int, fraction: float = FLOOR_FRACTION) -> Schedule:
    """Linear warmup, then cosine decay to `fraction` of the peak: the course's default schedule."""
    return Schedule("cosine", peak, warmup, total, floor_lr(peak, fraction))


def lambda_scheduler(optimizer: torch.optim.Optimizer, schedule: Schedule):
    """A real torch scheduler (LambdaLR) that drives `optimizer` along `schedule`."""
    for group in optimizer.param_groups:
        group["lr"] = schedule.peak_lr
        group["initial_lr"] = schedule.peak_lr
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule.factor_at)


def torch_builtin_scheduler(optimizer: torch.optim.Optimizer, schedule: Schedule):
    """torch's own scheduler(s) for the families torch ships, or None (WSD).

    Used by the tests to check the closed forms against PyTorch's implementations.
    """
    from torch.optim import lr_scheduler as S

    for group in optimizer.param_groups:
        group["lr"] = schedule.peak_lr
        # schedulers only setdefault initial_lr: a stale one from an earlier scheduler
        # would silently become the peak
        group["initial_lr"] = schedule.peak_lr
    W, T = schedule.warmup, schedule.total
    # warmup == total leaves no decay phase, but SequentialLR still switches to it at
    # step W (the step() after the last update) and T_max = 0 would divide by zero
    span = max(1, T - W)
    floor = schedule.min_lr / schedule.peak_lr
    if schedule.family == "constant":
        after = S.ConstantLR(optimizer, factor=1.0, total_iters=0)
    elif schedule.family == "cosine":
        after = S.CosineAnnealingLR(optimizer, T_max=span, eta_min=schedule.min_lr)
    elif schedule.family == "linear":
        after = S.LinearLR(optimizer, start_factor=1.0, end_factor=floor, total_iters=span)
    elif schedule.family == "multistep":
        after = S.MultiStepLR(optimizer, [m - W for m in schedule.multistep_milestones()], MULTISTEP_GAMMA)
    else:
        return None
    if W == 0:
        return after
    warm = S.LinearLR(optimizer, start_factor=1.0 / W, end_factor=1.0, total_iters=W - 1)
    return S.SequentialLR(optimizer, [warm, after], milestones=[W])
