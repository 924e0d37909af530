"""Global-norm gradient clipping: g <- g * min(1, c / ||g||), one norm over ALL gradients.

Clipping each tensor on its own would change the direction of the update; scaling
every gradient by one factor keeps the direction and caps the length.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch

EPS = 1e-6  # torch adds the same epsilon to the norm before dividing


def global_grad_norm(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of all gradients taken together, as a 0-d tensor."""
    grads = [p.grad for p in params if p.grad is not None]
    # start the sum from a 0-d tensor: with no gradients at all the norm is 0, as in torch
    zero = torch.zeros((), dtype=torch.float64, device=grads[0].device if grads else None)
    return torch.sqrt(sum(((g.detach().double() ** 2).sum() for g in grads), zero)).float()


def clip_grad_norm(params: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Clip in place like torch.nn.utils.clip_grad_norm_; returns the norm before clipping."""
    params = [p for p in params if p.grad is not None]
    total = global_grad_norm(params)
    scale = torch.clamp(max_norm / (total + EPS), max=1.0)
    for p in params:
        p.grad.detach().mul_(scale.to(p.grad.dtype))
    return total


def per_run_grad_norm(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """(R,) norms for run-stacked parameters: run r's norm over slice [r] of every gradient."""
    squares = [p.grad.detach().double().pow(2).flatten(1).sum(1) for p in params if p.grad is not None]
    return torch.stack(squares).sum(0).sqrt().float()


def clip_per_run(params: Sequence[torch.Tensor], max_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Clip each run's gradients to its own threshold (inf = no clipping).

    Returns (norm before clipping, scale applied), both (R,).
    """
    params = [p for p in params if p.grad is not None]
    total = per_run_grad_norm(params)
    scale = torch.clamp(max_norm / (total + EPS), max=1.0)
    for p in params:
        p.grad.detach().mul_(scale.view(-1, *([1] * (p.dim() - 1))).to(p.grad.dtype))
    return total, scale
