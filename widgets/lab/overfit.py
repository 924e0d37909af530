"""A lockstep trainer that trains on a small slice of the corpus, for the overfitting lab.

`SliceTrainer` is a LockstepTrainer whose batches come from `tokens` (e.g. the first
few thousand characters of the training split) instead of the whole training split.
It also measures the loss on a fixed batch of that slice (in eval mode, no dropout)
whenever it measures validation loss, so train and validation are compared alike.
With `decay_all=True` weight decay goes on every tensor (embeddings, norm gains and
biases too) instead of only the weight matrices (`is_decayed`).
"""
from __future__ import annotations

import torch

from widgets.lab.data import BatchStream, fixed_batch
from widgets.lab.optim import AdamW
from widgets.lab.trainer import LockstepTrainer, TrainSpec


class SliceTrainer(LockstepTrainer):
    def __init__(self, spec: TrainSpec, tokens: torch.Tensor, decay_all: bool = False, device: str | None = None):
        self.decay_all = decay_all  # read by _make_optimizer during super().__init__
        super().__init__(spec, device=device)
        block = spec.model.block_size
        self.batches = BatchStream(tokens, spec.batch_size, block, spec.seed)
        self.train_batch = [t.to(self.device) for t in fixed_batch(tokens, spec.eval_batch_size, block, spec.seed + 2)]
        self.train_eval_loss: list[list[float]] = [[] for _ in spec.runs]

    def _make_optimizer(self) -> AdamW:
        if not self.decay_all:
            return super()._make_optimizer()
        runs = self.spec.runs
        return AdamW([{"params": list(self.model.parameters()), "weight_decay": [r.weight_decay for r in runs]}],
                     runs=len(runs), lr=[r.schedule.lr_at(0) for r in runs],
                     beta1=[r.beta1 for r in runs], beta2=[r.beta2 for r in runs])

    @torch.no_grad()
    def evaluate(self) -> None:
        super().evaluate()
        self.model.eval()
        _, loss = self.model(*self.train_batch)
        self.model.train()
        for r, value in enumerate(loss.cpu().tolist()):
            if self.alive[r]:
                self.train_eval_loss[r].append(value)

    def result(self) -> dict:
        out = super().result()
        for run, losses in zip(out["runs"], self.train_eval_loss):
            run["train_eval_loss"] = list(losses)
        return out
