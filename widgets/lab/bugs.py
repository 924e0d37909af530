"""Deliberately broken pieces for the sanity-check lab: what common bugs look like.

`remove_causal_mask` makes every attention layer of a TinyGPT attend to the whole
sequence, future included (the weights are untouched, so it starts from the same
initialisation as the healthy model). `label_shift_bug` is a batch hook for the
trainer that forgets to shift the targets: the model is asked to predict the
character it is reading, which it can copy.
"""
from __future__ import annotations

import torch

from widgets.lab.model import TinyGPT


def remove_causal_mask(model: TinyGPT) -> TinyGPT:
    """Switch off the causal mask of every attention layer of `model`, in place (same weights)."""
    for block in model.blocks:
        block.attn.causal = False
    return model


def label_shift_bug(step: int, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch hook: targets = inputs (the shift by one character was forgotten)."""
    return x, x.clone()
