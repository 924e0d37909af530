import torch


def accumulate_and_step(model, loss_fn, micro_batches, optimizer) -> float:
    """One optimizer step on the micro-batches [(x, y), ...] as if they were one batch."""
    raise NotImplementedError
