"""The learning-rate oracle: each schedule family's closed form, written out independently of
widgets/lab/schedules.py, for the tests that check an LR the code under test computed or recorded."""
from __future__ import annotations

import math


def expected_lr(family: str, t: int, W: int, T: int, min_lr: float, decay_fraction: float = 0.2,
                PEAK: float = 3e-3) -> float:
    """The LR of the update at step t (0-based) with warmup W, T steps, peak PEAK and floor min_lr."""
    if t < W:
        return PEAK * (t + 1) / W  # reaches the peak at step W-1
    if family == "constant":
        return PEAK
    if family == "cosine":
        return min_lr + 0.5 * (PEAK - min_lr) * (1 + math.cos(math.pi * (t - W) / (T - W)))
    if family == "linear":
        return PEAK - (PEAK - min_lr) * (t - W) / (T - W)
    if family == "wsd":
        start = max(W, T - round(decay_fraction * T))
        if t < start:
            return PEAK
        return PEAK - (PEAK - min_lr) * (t - start) / (T - start)
    if family == "multistep":
        m1, m2 = max(W, round(0.8 * T)), max(W, round(0.9 * T))
        return PEAK * math.sqrt(0.1) ** ((t >= m1) + (t >= m2))
    raise AssertionError(family)


def schedule_lrs(schedule, steps: int | None = None) -> list[float]:
    """expected_lr for every step of a course Schedule (its fields, not its code)."""
    s = schedule
    return [expected_lr(s.family, t, s.warmup, s.total, s.min_lr, s.decay_fraction, PEAK=s.peak_lr)
            for t in range(s.total if steps is None else steps)]
