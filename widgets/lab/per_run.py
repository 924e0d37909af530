"""A different course optimizer for each run of one run-stacked model.

The lockstep trainer gives every run the same optimizer class (AdamW) with per-run
hyperparameters. To race SGD against Adam, or Adam + L2 against AdamW, each run
needs its own optimizer: `PerRunOptimizers` gives each block of runs an optimizer
that sees only that block's slice of every parameter and of its gradient (views,
so its in-place updates land in the shared tensors). The runs still share one forward/backward
pass, the same initial weights and the same batches; a run's optimizer never
touches another run's slice.

`train_per_run` is the matching training loop. It returns histories in the same
shape as LockstepTrainer.result(), so widgets.runs.history_figure draws them.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from widgets.lab.data import BatchStream, fixed_batch, load_corpus
from widgets.lab.model import GPTConfig, TinyGPT, is_decayed
from widgets.lab.optim import CourseOptimizer
from widgets.lab.trainer import RunHistory

# make(groups, runs) -> a course optimizer for `runs` consecutive runs;
# groups = [{"params": decayed}, {"params": not decayed}] (see model.is_decayed)
OptimizerFactory = Callable[[list[dict], int], CourseOptimizer]


class PerRunOptimizers:
    """Consecutive blocks of runs, each with its own course optimizer.

    blocks = [(n_runs, factory), ...]: the first block owns runs 0..n-1, the next the
    following ones, and so on. A block's optimizer sees slice [a:b] of every tensor
    (a view: its in-place updates land in the shared weights) and of every gradient,
    so per-run hyperparameters inside a block work as usual (e.g. SGD with momentum
    [0, 0.9] races plain SGD against momentum in one optimizer).
    """

    def __init__(self, named_params: Sequence[tuple[str, torch.Tensor]],
                 blocks: Sequence[tuple[int, OptimizerFactory]]):
        self.params = [p for _, p in named_params]
        self.slices: list[tuple[int, int]] = []
        self.views: list[list[torch.Tensor]] = []  # views[k][i]: block k's slice of parameter i
        self.optimizers: list[CourseOptimizer] = []
        start = 0
        for n, make in blocks:
            views = [p.detach()[start:start + n] for p in self.params]  # shares storage with p
            decayed = [v for (name, p), v in zip(named_params, views) if is_decayed(name, p)]
            other = [v for (name, p), v in zip(named_params, views) if not is_decayed(name, p)]
            self.slices.append((start, start + n))
            self.views.append(views)
            self.optimizers.append(make([{"params": decayed}, {"params": other}], n))
            start += n
        self.runs = start

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def lr(self) -> list[float]:
        """Each run's LR (first parameter group), in run order."""
        return [x for opt in self.optimizers for x in opt.lr.tolist()]

    def block_of(self, run: int) -> tuple[CourseOptimizer, int]:
        """(optimizer, index inside its block) of a run."""
        for (a, b), opt in zip(self.slices, self.optimizers):
            if a <= run < b:
                return opt, run - a
        raise IndexError(run)

    @torch.no_grad()
    def step(self, alive: Sequence[bool] | None = None) -> None:
        """One update of every run; a run whose `alive` flag is False is left unchanged."""
        for (a, b), views, opt in zip(self.slices, self.views, self.optimizers):
            if alive is not None and not any(alive[a:b]):
                continue
            keep = None if alive is None or all(alive[a:b]) else [v.clone() for v in views]
            for p, v in zip(self.params, views):
                v.grad = None if p.grad is None else p.grad[a:b]
            opt.step()
            for v in views:
                v.grad = None
            if keep is not None:  # undo the update of the dead runs in this block
                dead = torch.tensor([not x for x in alive[a:b]])
                for v, old in zip(views, keep):
                    v[dead] = old[dead]


def train_per_run(config: GPTConfig, labels: Sequence[str], blocks: Sequence[tuple[int, OptimizerFactory]],
                  steps: int, batch_size: int = 8, seed: int = 1337, eval_every: int = 25,
                  eval_batch_size: int = 64, progress: Callable[[dict], None] | None = None,
                  report_every: int = 5, on_step: Callable[[int, TinyGPT, PerRunOptimizers], None] | None = None,
                  device: str = "cpu") -> dict:
    """Train the runs of `blocks` from the same weights on the same batches, each block with its own optimizer.

    Records per step and run: loss, the first group's LR, the gradient norm, the parameter
    norm; validation loss every `eval_every` steps. A NaN/inf loss stops that run (diverged).
    `on_step(t, model, optimizers)` is called after each update (to record extra state).
    """
    corpus = load_corpus()
    runs = sum(n for n, _ in blocks)
    assert len(labels) == runs, "one label per run"
    model = TinyGPT(config, runs=runs).init_weights(seed).to(device)
    model.set_generator(torch.Generator(device=device).manual_seed(seed))  # dropout: the job's own RNG
    batches = BatchStream(corpus.train, batch_size, config.block_size, seed)
    val_x, val_y = (t.to(device) for t in fixed_batch(corpus.val, eval_batch_size, config.block_size, seed + 1))
    optimizers = PerRunOptimizers(list(model.named_parameters()), blocks)
    history = [RunHistory(label) for label in labels]
    alive = [True] * runs

    def result(done: int) -> dict:
        return {"steps": steps, "done": done, "device": device,
                "runs": [h.as_dict() for h in history]}

    model.train()
    done = 0
    for t in range(steps):
        if not any(alive):
            break
        x, y = (b.to(device) for b in batches.next())
        _, loss = model(x, y)
        finite = [bool(f) and a for f, a in zip(torch.isfinite(loss.detach()).tolist(), alive)]
        optimizers.zero_grad()
        loss[torch.tensor(finite)].sum().backward()
        with torch.no_grad():
            grad_norm = torch.stack([p.grad.double().pow(2).flatten(1).sum(1) for p in model.parameters()
                                     if p.grad is not None]).sum(0).sqrt().tolist()
        optimizers.step(finite)
        if on_step is not None:
            on_step(t, model, optimizers)
        with torch.no_grad():
            param_norm = torch.stack([p.double().pow(2).flatten(1).sum(1) for p in model.parameters()]).sum(0).sqrt().tolist()
        losses, lrs = loss.detach().tolist(), optimizers.lr()
        for r, h in enumerate(history):
            if not alive[r]:
                continue
            if not finite[r]:
                h.diverged_at, alive[r] = t, False
                continue
            h.loss.append(losses[r])
            h.lr.append(lrs[r])
            h.grad_norm.append(grad_norm[r])
            h.clipped.append(False)
            h.param_norm.append(param_norm[r])
        done = t + 1
        if done % eval_every == 0 or done == steps:
            model.eval()
            with torch.no_grad():
                _, val = model(val_x, val_y)
            model.train()
            for r, (h, value) in enumerate(zip(history, val.tolist())):
                if alive[r] and math.isfinite(value):
                    h.val_steps.append(done)
                    h.val_loss.append(value)
        if progress is not None and (done % report_every == 0 or done == 1):
            progress(result(done))
    return result(done)
