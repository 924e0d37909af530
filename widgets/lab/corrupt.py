"""Bad batches, for the labs that show what one does to a run.

`constant_batch` is a broken file: one character everywhere ('ZZZZ...'), the target
either that character again or another one; `random_batch` is uniformly random
characters, drawn from a generator seeded by the step (the same bad batch every time
the step is replayed). `corrupt_steps` turns either into a trainer batch hook.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch

from widgets.lab.data import load_corpus

BAD_CHAR = "Z"
RANDOM_SEED = 10_000  # random bad batch at step t: generator seeded RANDOM_SEED + t


def constant_batch(x: torch.Tensor, char: str = BAD_CHAR, target: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Every input is `char`; every target is `target` (default: `char` again)."""
    corpus = load_corpus()
    inputs = torch.full_like(x, corpus.encode(char)[0])
    return inputs, torch.full_like(x, corpus.encode(target or char)[0])


def random_batch(x: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniformly random characters (the targets are the next random character). x is (B, T), or
    (R, B, T) with several seeds: every run and seed gets the same bad batch."""
    g = torch.Generator().manual_seed(RANDOM_SEED + step)
    batch, length = x.shape[-2:]
    noise = torch.randint(0, load_corpus().vocab_size, (batch, length + 1), generator=g)
    inputs, targets = noise[:, :-1].clone(), noise[:, 1:].clone()
    if x.dim() == 3:
        inputs, targets = inputs.expand_as(x).clone(), targets.expand_as(x).clone()
    return inputs, targets


def corrupt_steps(steps: Iterable[int], make: Callable[[int, torch.Tensor, torch.Tensor], tuple]):
    """A batch hook that replaces the batch of every step in `steps` by make(step, x, y)."""
    bad = set(steps)

    def hook(step: int, x: torch.Tensor, y: torch.Tensor):
        return make(step, x, y) if step in bad else (x, y)
    return hook
