import torch


def accumulate_and_step(model, loss_fn, micro_batches, optimizer, max_norm=None) -> float:
    """One optimizer step on the micro-batches [(x, y), ...] as if they were one batch; with
    max_norm, the accumulated gradient is clipped to that global norm before the step."""
    micro_batches = list(micro_batches)
    k = len(micro_batches)
    optimizer.zero_grad()
    total = 0.0
    for x, y in micro_batches:
        loss = loss_fn(model(x), y)
        (loss / k).backward()
        total += loss.item()
    if max_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return total / k
