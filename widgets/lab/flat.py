"""Flat parameter buffers: each group's parameters live side by side in one (R, N) tensor.

The model keeps its parameters (nn.Parameter, same names and shapes), but each one is a
view into its group's buffer: columns [a, b) of every run's row. So the optimizer, the
gradient clipping and the norms act on two big tensors (decayed and not decayed) with a
handful of kernels per step, instead of a set of kernels for each of the model's two dozen
tensors; per-run hyperparameters broadcast as (R, 1).

After a backward pass, `gather_grads` concatenates autograd's gradients into the group's
gradient buffer `data.grad` (one kernel). Per-tensor views of both buffers (`views`, each
with its `.grad`) serve optimizers that need one matrix at a time (Muon).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from widgets.lab.model import is_decayed


@dataclass
class Slot:
    name: str
    param: nn.Parameter  # the model's parameter, a view into the group's buffer
    columns: slice  # its columns in every run's row
    view: torch.Tensor  # a detached view of the same columns, whose .grad views the gradient buffer


class FlatGroup:
    def __init__(self, name: str, named: list[tuple[str, nn.Parameter]], runs: int):
        self.name = name
        self.runs = runs
        first = named[0][1]
        width = sum(p[0].numel() for _, p in named)
        self.data = torch.empty(runs, width, dtype=first.dtype, device=first.device)
        self.data.grad = torch.zeros_like(self.data)
        self.slots: list[Slot] = []
        start = 0
        with torch.no_grad():
            for pname, p in named:
                cols = slice(start, start + p[0].numel())
                self.data[:, cols].copy_(p.detach().reshape(runs, -1))
                p.data = self.data[:, cols].view(p.shape)  # the parameter now lives in the buffer
                view = self.data[:, cols].view(p.shape)
                view.grad = self.data.grad[:, cols].view(p.shape)
                self.slots.append(Slot(pname, p, cols, view))
                start = cols.stop

    def relink(self) -> None:
        """Make the parameters views of this group's buffer again (a deep copy of the model clones
        each nn.Parameter on its own; the buffer holds the same numbers)."""
        with torch.no_grad():
            for s in self.slots:
                s.param.data = self.data[:, s.columns].view(s.param.shape)

    def gather_grads(self) -> None:
        """Autograd's per-tensor gradients -> the group's gradient buffer (missing ones as zeros)."""
        grads = [s.param.grad.reshape(self.runs, -1) if s.param.grad is not None
                 else self.data.new_zeros(self.runs, s.columns.stop - s.columns.start) for s in self.slots]
        torch.cat(grads, dim=1, out=self.data.grad)
        for s in self.slots:
            s.param.grad = None


class FlatParams:
    """The model's parameters in flat groups: "decayed" (weight matrices) and "other"."""

    def __init__(self, model: nn.Module, runs: int, group_of: Callable[[str, torch.Tensor], str] | None = None):
        group_of = group_of or (lambda name, p: "decayed" if is_decayed(name, p) else "other")
        named: dict[str, list] = {"decayed": [], "other": []}  # in this order: the decayed group first
        for name, p in model.named_parameters():
            named.setdefault(group_of(name, p), []).append((name, p))
        named = {g: params for g, params in named.items() if params}
        self.runs = runs
        self.groups = {g: FlatGroup(g, params, runs) for g, params in named.items()}

    def relink(self) -> None:
        for g in self.groups.values():
            g.relink()

    def group(self, name: str) -> FlatGroup | None:
        return self.groups.get(name)

    def buffers(self) -> list[torch.Tensor]:
        return [g.data for g in self.groups.values()]

    def views(self) -> list[Slot]:
        return [s for g in self.groups.values() for s in g.slots]

    def gather_grads(self) -> None:
        for g in self.groups.values():
            g.gather_grads()

    def grad_norm(self) -> torch.Tensor:
        """(R,) global gradient norm per run, summed in float64 (as lab/clip.py), returned as float32."""
        return _norm(g.data.grad for g in self.groups.values())

    def param_norm(self) -> torch.Tensor:
        return _norm(g.data for g in self.groups.values())

    @torch.no_grad()
    def scale_grads(self, scale: torch.Tensor) -> None:
        """Multiply run r's gradients by scale[r] (clipping)."""
        for g in self.groups.values():
            g.data.grad.mul_(scale.view(-1, 1).to(g.data.dtype))


def _norm(tensors) -> torch.Tensor:
    squares = None
    for t in tensors:
        s = t.detach().double().square().sum(1)
        squares = s if squares is None else squares + s
    return squares.sqrt().float()
