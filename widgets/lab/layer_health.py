"""Per-layer telemetry for the lockstep trainer, and the faults the layer-health lab plants.

`LayerHealth` is a trainer StepHook. Per step, run and layer (transformer block) it records

  act_rms       the RMS of the block's output: the residual stream after the layer
  grad_rms      the RMS of the gradient of the layer's weight matrices
  update_ratio  ||W_after - W_before|| / ||W_before|| over the layer's weight matrices: how
                far this step moved them relative to their size (Karpathy's update:data ratio)
  attn_logit    the largest attention logit the layer's softmax saw (after any soft cap)

Everything stays on the device, as (R, L) tensors that the trainer stacks with its own
per-step numbers and reads back only when a report is asked for: no host sync per step.
The activations come from forward hooks on the blocks; the gradients and weights from
the flat buffers (lab/flat.py), where each block's weight matrices are one run of columns,
so each statistic is one reduction over an (R, L, n) view rather than a loop over tensors.

A `Fault` makes run 1 differ from the healthy run 0 in one way, with the same initial
weights and the same batches otherwise:

  bad init     the weight matrices of one layer start `factor` times too large
  high LR      one layer's parameters (one parameter group) train at `factor` times the LR
  no QK-norm   the healthy run normalises queries and keys; the faulty run does not

With several seeds (TrainSpec.seeds) the fault is planted in run 1 of every seed: the stacked
runs alternate healthy, faulty (seed-major, lab/seeds.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from widgets.lab.flat import FlatGroup
from widgets.lab.optim import AdamW, per_run
from widgets.lab.hooks import StepHook
from widgets.lab.seeds import per_seed
from widgets.lab.trainer import LockstepTrainer, adamw_from_runs

METRICS = ("act_rms", "grad_rms", "update_ratio", "attn_logit")
FAULTS = ("healthy", "bad init", "high LR", "no QK-norm")


def layer_span(group: FlatGroup, layer: int) -> tuple[int, int]:
    """The columns [a, b) of `group` that hold block `layer`'s parameters (one contiguous run:
    parameters are laid out in the model's order, block after block)."""
    prefix = f"blocks.{layer}."
    mine = [s.columns for s in group.slots if s.name.startswith(prefix)]
    if not mine:
        return 0, 0
    a, b = mine[0].start, mine[-1].stop
    if sum(c.stop - c.start for c in mine) != b - a:
        raise ValueError(f"block {layer}'s parameters are not side by side in the {group.name} buffer")
    return a, b


class LayerHealth(StepHook):
    """Records METRICS per step, run and layer (see the module docstring)."""

    metric_names = METRICS

    def __init__(self):
        self.model = None  # the model whose blocks carry this hook's forward hooks

    def _install(self, trainer: LockstepTrainer) -> None:
        self.model = trainer.model
        self.layers = len(self.model.blocks)
        self.model.set_record_logits(True)
        self.activations: list[torch.Tensor | None] = [None] * self.layers
        for index, block in enumerate(self.model.blocks):
            block.register_forward_hook(self._keep_activation(index))
        matrices = trainer.params.group("decayed")
        spans = [layer_span(matrices, layer) for layer in range(self.layers)]
        self.start, self.width = spans[0][0], spans[0][1] - spans[0][0]
        if spans != [(self.start + k * self.width, self.start + (k + 1) * self.width) for k in range(self.layers)]:
            raise ValueError("the blocks' weight matrices must follow each other with equal widths")
        self.matrices = matrices

    def _keep_activation(self, index: int):
        def keep(module, args, output) -> None:
            if module.training:  # the training forward pass, not a validation one
                with torch.no_grad():
                    self.activations[index] = output.detach().float().square().mean((1, 2, 3)).sqrt()
        return keep

    def _blocks(self, flat: torch.Tensor) -> torch.Tensor:
        """(R, N) buffer -> (R, L, n): each block's weight matrices as one row of n numbers."""
        return flat[:, self.start:self.start + self.layers * self.width].view(flat.shape[0], self.layers, self.width)

    def before_step(self, trainer) -> None:
        if self.model is not trainer.model:
            self._install(trainer)
        self.before = self._blocks(self.matrices.data).clone()

    def metrics(self, trainer) -> dict[str, torch.Tensor]:
        weights = self._blocks(self.matrices.data).float()
        before = self.before.float()
        moved = (weights - before).square().sum(2).sqrt()
        return {"act_rms": torch.stack(self.activations, 1),
                "grad_rms": self._blocks(self.matrices.data.grad).float().square().mean(2).sqrt(),
                "update_ratio": moved / before.square().sum(2).sqrt(),
                "attn_logit": torch.stack([block.attn.max_logit.float() for block in self.model.blocks], 1)}


# --- faults ------------------------------------------------------------------------------------
class GroupScaledAdamW(AdamW):
    """The course AdamW whose parameter groups may carry `lr_scale` (one number per run): such a
    group trains at the step's LR times its scale."""

    def set_lr(self, lr) -> None:
        lr = per_run(lr, self.runs)
        for group in self.param_groups:
            scale = group.get("lr_scale")
            group["lr"] = lr if scale is None else lr * scale.to(lr.device)


def layer_lr_optimizer(layer: int, scales: list[float]):
    """An optimizer factory for the trainer: AdamW with block `layer`'s parameters (in every flat
    buffer) in groups of their own, trained at `scales[r]` times run r's LR. The other groups come
    first, so the LR the trainer records is the ordinary one."""
    def make(trainer: LockstepTrainer) -> GroupScaledAdamW:
        runs = trainer.spec.runs
        decay = [r.weight_decay for r in runs]
        ordinary, boosted = [], []
        for group in trainer.params.groups.values():
            a, b = layer_span(group, layer)
            for lo, hi, mine in ((0, a, False), (a, b, True), (b, group.data.shape[1], False)):
                if hi <= lo:
                    continue
                piece = group.data[:, lo:hi]  # views: the updates land in the shared weights
                piece.grad = group.data.grad[:, lo:hi]
                settings = {"params": [piece], "weight_decay": decay if group.name == "decayed" else 0.0}
                (boosted if mine else ordinary).append({**settings, "lr_scale": scales} if mine else settings)
        return GroupScaledAdamW(ordinary + boosted, runs=len(runs), lr=[r.schedule.lr_at(0) for r in runs],
                                beta1=[r.beta1 for r in runs], beta2=[r.beta2 for r in runs])
    return make


@dataclass(frozen=True)
class Fault:
    """What makes run 1 differ from the healthy run 0 (of every seed). `layer` counts from 0."""

    kind: str = "healthy"
    layer: int = 0
    factor: float = 10.0

    def __post_init__(self):
        if self.kind not in FAULTS:
            raise ValueError(f"unknown fault {self.kind!r}: one of {', '.join(FAULTS)}")

    @property
    def runs(self) -> int:
        return 1 if self.kind == "healthy" else 2

    def plant(self, model) -> None:
        """The trainer's model_hook: runs after the shared init, before training starts."""
        if self.kind == "bad init":
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if name.startswith(f"blocks.{self.layer}.") and p.dim() == 3:  # (R, in, out) matrices
                        p[1::2].mul_(self.factor)  # run 1 of every seed
        elif self.kind == "no QK-norm":
            model.set_qk_norm_runs(per_seed([True, False], model.runs))

    def optimizer(self):
        if self.kind == "high LR":
            return lambda trainer: layer_lr_optimizer(
                self.layer, per_seed([1.0, self.factor], len(trainer.spec.runs)))(trainer)
        return adamw_from_runs

    def trainer(self, spec, **kwargs) -> LockstepTrainer:
        """A lockstep trainer of `spec` (healthy run first) with the fault planted and LayerHealth recording."""
        if len(spec.runs) != self.runs:
            raise ValueError(f"the fault {self.kind!r} needs {self.runs} run(s), the spec has {len(spec.runs)}")
        return LockstepTrainer(spec, hooks=[LayerHealth()], model_hook=self.plant, optimizer=self.optimizer(),
                               **kwargs)
