import math

import torch
import torch.nn.functional as F


def train_step(model, batch, optimizer, scheduler, max_norm: float = 1.0) -> float:
    """One training step on batch = (x, y); returns the loss as a float."""
    x, y = batch
    optimizer.zero_grad(set_to_none=True)      # forget the previous step's gradients
    logits = model(x)                          # forward: (batch, time, vocab)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    loss.backward()                            # fills p.grad
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()                           # the update, with this step's LR
    scheduler.step()                           # then move the LR to the next step's value
    return loss.item()


def initial_loss_check(model, batch, vocab_size: int, tolerance: float = 0.5) -> tuple[bool, float]:
    """(ok, loss): the loss before training, measured in eval mode without gradients; ok when it
    is within `tolerance` of ln(vocab_size). The model is left in training mode."""
    x, y = batch
    model.eval()                               # no dropout in the measurement
    with torch.no_grad():
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item()
    model.train()
    return abs(loss - math.log(vocab_size)) < tolerance, loss


def overfit_check(model, batch, optimizer, steps: int = 100, target: float = 0.1) -> tuple[bool, float]:
    """(ok, loss): train `steps` steps on this one batch; ok when the last step's loss is
    below `target`."""
    x, y = batch
    for _ in range(steps):
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return loss.item() < target, loss.item()
