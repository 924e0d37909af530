import math

import torch
import torch.nn.functional as F


def train_step(model, batch, optimizer, scheduler, max_norm: float = 1.0) -> float:
    """One training step on batch = (x, y); returns the loss as a float."""
    raise NotImplementedError


def initial_loss_check(model, batch, vocab_size: int, tolerance: float = 0.5) -> tuple[bool, float]:
    """(ok, loss): the loss before training, measured in eval mode without gradients; ok when it
    is within `tolerance` of ln(vocab_size). The model is left in training mode."""
    raise NotImplementedError


def overfit_check(model, batch, optimizer, steps: int = 100, target: float = 0.1) -> tuple[bool, float]:
    """(ok, loss): train `steps` steps on this one batch; ok when the last step's loss is
    below `target`."""
    raise NotImplementedError
