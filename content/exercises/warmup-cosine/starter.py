import math


def cosine_with_warmup(step: int, *, warmup_steps: int, max_steps: int, max_lr: float,
                       min_lr: float = 0.0) -> float:
    """The learning rate at `step` (counted from 0)."""
    raise NotImplementedError
