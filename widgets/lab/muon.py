"""Muon: momentum, then orthogonalise the update with a Newton-Schulz iteration.

Newton-Schulz (Keller Jordan's quintic, the coefficients torch.optim.Muon uses):

    X <- G / ||G||_F                      (so every singular value is at most 1)
    repeat k times:  A = X X^T;  X <- a X + (b A + c A A) X      (a, b, c) = (3.4445, -4.7750, 2.0315)

Each iteration maps every singular value s of X to p(s) = a s + b s^3 + c s^5 and
leaves the singular vectors alone, so X tends to U S' V^T with S' near (not exactly)
1: these coefficients trade exact convergence for a steep slope at zero.

The course's Muon follows torch.optim.Muon line by line (the tests compare them):
EMA momentum buffer, Nesterov look-ahead, Newton-Schulz in bfloat16, the "original"
learning-rate adjustment sqrt(max(1, rows/cols)), decoupled weight decay lr * wd.
It works on run-stacked matrices (R, rows, cols) with per-run hyperparameters.

`MuonAdamW` is what the curriculum trains with: Muon for the hidden 2-D weight
matrices, AdamW for embeddings, norms and biases; per run it may instead use AdamW
everywhere, so a Muon run and an AdamW run can train in lockstep.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from widgets.lab.model import is_embedding
from widgets.lab.optim import AdamW, CourseOptimizer, Number, broadcast, per_run
from widgets.lab.seeds import per_seed

COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # torch.optim._muon.DEFAULT_A/B/C
EPS = 1e-7  # torch.optim._muon.EPS


def newton_schulz(g: torch.Tensor, steps: int = 5, coefficients=COEFFICIENTS, eps: float = EPS,
                  dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    """Approximately orthogonalise g (..., rows, cols); returns a tensor of `dtype`."""
    return newton_schulz_trace(g, steps, coefficients, eps, dtype)[-1]


def newton_schulz_trace(g: torch.Tensor, steps: int = 5, coefficients=COEFFICIENTS, eps: float = EPS,
                        dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """[X_0, X_1, ..., X_steps]: the normalised input and the result of every iteration."""
    a, b, c = coefficients
    x = g.to(dtype)
    tall = g.shape[-2] > g.shape[-1]
    if tall:  # work on the wide orientation: X X^T is then the smaller Gram matrix
        x = x.transpose(-2, -1)
    # the same fused ops as torch (addmm / baddbmm), so bfloat16 rounding matches too
    norm = x.norm() if x.dim() == 2 else torch.linalg.vector_norm(x, dim=(-2, -1), keepdim=True)
    x = x / norm.clamp(min=eps)
    out = [x]
    fused = torch.addmm if x.dim() == 2 else torch.baddbmm
    flat = x.shape[:-2]
    for _ in range(steps):
        x3 = x if x.dim() <= 3 else x.reshape(-1, *x.shape[-2:])
        gram = x3 @ x3.transpose(-2, -1)
        update = fused(gram, gram, gram, beta=b, alpha=c)  # b A + c A A
        x = fused(x3, update, x3, beta=a).reshape(*flat, *x.shape[-2:])  # a X + (b A + c A A) X
        out.append(x)
    return [t.transpose(-2, -1) if tall else t for t in out]


def exact_orthogonal(g: torch.Tensor) -> torch.Tensor:
    """U V^T from the SVD g = U S V^T: what Newton-Schulz approximates (all singular values 1)."""
    u, _, vh = torch.linalg.svd(g.float(), full_matrices=False)
    return u @ vh


def adjusted_lr_ratio(rows: int, cols: int) -> float:
    """torch's "original" adjustment: sqrt(max(1, rows / cols)) for a (rows, cols) weight."""
    return math.sqrt(max(1.0, rows / cols))


class Muon(CourseOptimizer):
    """Muon for run-stacked matrices (R, rows, cols), matching torch.optim.Muon's defaults.

        buf <- mu buf + (1 - mu) g              (torch: buf.lerp_(g, 1 - mu))
        u   <- (1 - mu) g + mu buf  if nesterov else buf
        O   <- NewtonSchulz_k(u)                (bfloat16)
        p   <- p (1 - lr wd) - lr sqrt(max(1, rows/cols)) O

    `fan_in_first=True` is for weights stored (in, out) like the course model's
    (y = x @ W): torch's nn.Linear stores (out, in), so rows/cols swap in the adjustment.
    """

    def __init__(self, groups, runs: int = 1, lr: Number = 1e-3, momentum: Number = 0.95,
                 weight_decay: Number = 0.1, nesterov: bool = True, ns_steps: int = 5,
                 fan_in_first: bool = False, ns_dtype: torch.dtype = torch.bfloat16):
        super().__init__(groups, runs, lr=lr, momentum=momentum, weight_decay=weight_decay,
                         nesterov=nesterov, fan_in_first=fan_in_first)
        self.ns_steps = ns_steps
        self.ns_dtype = ns_dtype  # torch uses bfloat16; float32 is much faster on a small CPU

    def update(self, p, g, group, state):
        mu = broadcast(group["momentum"], p)
        buf = state.setdefault("buf", torch.zeros_like(p))
        buf.lerp_(g, 1 - mu)
        u = g.lerp(buf, mu) if group["nesterov"] else buf
        o = newton_schulz(u, self.ns_steps, dtype=self.ns_dtype)
        rows, cols = p.shape[-2:]
        if group["fan_in_first"]:
            rows, cols = cols, rows
        lr = broadcast(group["lr"], p)
        p.mul_(1 - lr * broadcast(group["weight_decay"], p))
        p.sub_((lr * adjusted_lr_ratio(rows, cols)) * o.to(p.dtype))


def is_hidden_matrix(name: str, p: torch.Tensor) -> bool:
    """The 2-D weights inside the blocks (per run): Muon's share of the course model."""
    return p.dim() - 1 == 2 and not is_embedding(name) and name != "lm_head"


class MuonAdamW:
    """Per run: Muon on the hidden matrices + AdamW on the rest, or AdamW on everything.

    Both optimizers step every run's slice; for runs with use_muon the hidden matrices
    take Muon's result, for the others AdamW's. The runs never mix: every operation is
    slice by slice. AdamW acts on the trainer's flat buffers (lab/flat.py), Muon on the
    hidden matrices' views into them. set_lr(lr) receives the AdamW learning rate; Muon's
    follows the same schedule scaled by muon_lr / adamw_peak per run.
    """

    def __init__(self, params, runs: int, use_muon: Sequence[bool], adamw_peak: Number,
                 muon_lr: Number, beta1: Number = 0.9, beta2: Number = 0.95, weight_decay: Number = 0.0,
                 muon_weight_decay: Number = 0.0, momentum: Number = 0.95, ns_steps: int = 5,
                 ns_dtype: torch.dtype = torch.bfloat16):
        self.hidden = [s.view for s in params.views() if is_hidden_matrix(s.name, s.view)]
        self.runs = runs
        self.use_muon = torch.tensor(list(use_muon), dtype=torch.bool)
        self.muon_ratio = per_run(muon_lr, runs) / per_run(adamw_peak, runs)
        groups = [{"params": [g.data], "weight_decay": weight_decay if g.name == "decayed" else 0.0}
                  for g in params.groups.values()]
        self.adamw = AdamW(groups, runs=runs, lr=adamw_peak, beta1=beta1, beta2=beta2)
        self.muon = Muon(self.hidden, runs, lr=muon_lr, momentum=momentum,
                         weight_decay=muon_weight_decay, ns_steps=ns_steps, fan_in_first=True,
                         ns_dtype=ns_dtype)

    @property
    def lr(self) -> torch.Tensor:
        return self.adamw.lr

    def set_lr(self, lr: Number) -> None:
        lr = per_run(lr, self.runs)
        self.adamw.set_lr(lr)
        self.muon.set_lr(lr * self.muon_ratio.to(lr.device))

    @torch.no_grad()
    def step(self) -> None:
        before = [p.clone() for p in self.hidden]
        self.adamw.step()
        by_adamw = [p.clone() for p in self.hidden]
        for p, old in zip(self.hidden, before):
            p.copy_(old)
        self.muon.step()
        for p, adam in zip(self.hidden, by_adamw):
            keep = self.use_muon.to(p.device).view(-1, 1, 1)
            p.copy_(torch.where(keep, p, adam))


def muon_adamw(use_muon: Sequence[bool], muon_lr: Number, muon_weight_decay: Number = 0.0,
               momentum: Number = 0.95, ns_steps: int = 5, ns_dtype: torch.dtype = torch.bfloat16):
    """An optimizer factory for the trainer: use_muon[r] picks Muon for run r's hidden matrices;
    every run's AdamW part follows its RunConfig (schedule, betas, weight decay)."""
    def make(trainer) -> MuonAdamW:
        runs = trainer.spec.runs  # every seed's runs: use_muon is given for one seed's curves
        return MuonAdamW(trainer.params, len(runs), per_seed(use_muon, len(runs)), adamw_peak=[r.schedule.peak_lr for r in runs],
                         muon_lr=muon_lr, beta1=[r.beta1 for r in runs], beta2=[r.beta2 for r in runs],
                         weight_decay=[r.weight_decay for r in runs], muon_weight_decay=muon_weight_decay,
                         momentum=momentum, ns_steps=ns_steps, ns_dtype=ns_dtype)
    return make
