def wsd(step: int, *, warmup_steps: int, decay_steps: int, max_steps: int, max_lr: float,
        min_lr: float = 0.0) -> float:
    """The learning rate at `step` (from 0): warmup, stable, then a linear decay branch."""
    raise NotImplementedError
