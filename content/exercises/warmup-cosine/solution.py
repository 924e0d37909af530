import math


def cosine_with_warmup(step: int, *, warmup_steps: int, max_steps: int, max_lr: float,
                       min_lr: float = 0.0) -> float:
    """The learning rate at `step` (counted from 0)."""
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    if step > max_steps:
        return min_lr
    progress = (step - warmup_steps) / (max_steps - warmup_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))
