import torch


def accumulate_and_step(model, loss_fn, micro_batches, optimizer, max_norm=None) -> float:
    """One optimizer step on the micro-batches [(x, y), ...] as if they were one batch; with
    max_norm, the accumulated gradient is clipped to that global norm before the step."""
    raise NotImplementedError
