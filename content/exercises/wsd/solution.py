def wsd(step: int, *, warmup_steps: int, decay_steps: int, max_steps: int, max_lr: float,
        min_lr: float = 0.0) -> float:
    """The learning rate at `step` (from 0): warmup, stable, then a linear decay branch."""
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    decay_start = max_steps - decay_steps
    if step < decay_start:
        return max_lr
    if step >= max_steps:
        return min_lr
    return max_lr + (min_lr - max_lr) * (step - decay_start) / decay_steps
