"""Deliberately broken pieces for the sanity-check lab: what common bugs look like.

`remove_causal_mask` swaps every attention layer of a TinyGPT for one that attends to
the whole sequence, future included (the weights are untouched, so it starts from the
same initialisation as the healthy model). `label_shift_bug` is a batch hook for the
LockstepTrainer that forgets to shift the targets: the model is asked to predict the
character it is reading, which it can copy.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from widgets.lab.model import CausalSelfAttention, TinyGPT


class NoMaskAttention(CausalSelfAttention):
    """Self-attention WITHOUT the causal mask: position t also sees positions > t."""

    def forward(self, x):  # (R, B, T, C)
        R, B, T, C = x.shape
        H = self.config.n_head
        q, k, v = self.qkv(x).split(C, dim=-1)
        q, k, v = (t.reshape(R * B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        if self.config.qk_norm:
            q, k = F.rms_norm(q, (C // H,)), F.rms_norm(k, (C // H,))
        p = self.config.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=False)  # the bug
        y = y.transpose(1, 2).reshape(R, B, T, C)
        return F.dropout(self.proj(y), self.config.dropout, self.training)


def remove_causal_mask(model: TinyGPT) -> TinyGPT:
    """Turn every attention layer of `model` into NoMaskAttention, in place (same weights)."""
    for block in model.blocks:
        block.attn.__class__ = NoMaskAttention
    return model


def label_shift_bug(step: int, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch hook: targets = inputs (the shift by one character was forgotten)."""
    return x, x.clone()
