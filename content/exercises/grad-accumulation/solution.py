import torch


def accumulate_and_step(model, loss_fn, micro_batches, optimizer) -> float:
    """One optimizer step on the micro-batches [(x, y), ...] as if they were one batch."""
    micro_batches = list(micro_batches)
    k = len(micro_batches)
    optimizer.zero_grad()
    total = 0.0
    for x, y in micro_batches:
        loss = loss_fn(model(x), y)
        (loss / k).backward()
        total += loss.item()
    optimizer.step()
    return total / k
