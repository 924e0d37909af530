"""Sanity checks before a long run: initial loss, single-batch overfit, and two classic bugs.

1. An untrained model predicts nearly uniformly, so its loss is about ln(V): measured
   for the course's 65-character vocabulary and a few larger vocabularies (random
   inputs and targets in range), on real untrained TinyGPTs.
2. One fixed batch, trained on again and again: a healthy model memorises it and the
   loss goes towards zero. If it cannot, something is broken.
3. A healthy run against a buggy one (same seed: same initial weights and same
   batches): forgotten label shift (targets = inputs) or no causal mask. Both bugs
   let the model see the answer, so their losses look too good to be true.
"""
from __future__ import annotations

import math

import torch

from widgets.base import Param, Widget
from widgets.kit import (REPORT_EVERY, color, figure, fit_range, fmt, hline, loss_traces, panels_layout,
                        val_table)
from widgets.lab.bugs import label_shift_bug, remove_causal_mask
from widgets.lab.data import RepeatBatch, fixed_batch, load_corpus
from widgets.lab.model import GPTConfig, TinyGPT
from widgets.lab.schedules import Schedule
from widgets.lab.trainer import LockstepTrainer, RunConfig, TrainSpec, run_together

BATCH_SIZE, BLOCK_SIZE = 8, 32
VOCABS = (65, 512, 2048, 8192)
OVERFIT_TARGET = 0.5  # the single-batch run must end below this
BUGS = ("label-shift", "no-causal-mask")
BUG_LABELS = {"label-shift": "bug: targets = inputs", "no-causal-mask": "bug: no causal mask"}


def initial_loss(vocab_size: int, seed: int) -> float:
    """Loss of an untrained TinyGPT with `vocab_size` tokens on random inputs and targets."""
    model = TinyGPT(GPTConfig(vocab_size=vocab_size, block_size=BLOCK_SIZE)).init_weights(seed).eval()
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(vocab_size, (BATCH_SIZE, BLOCK_SIZE), generator=g)
    y = torch.randint(vocab_size, (BATCH_SIZE, BLOCK_SIZE), generator=g)
    with torch.no_grad():
        return model(x, y)[1].item()


class SanityWidget(Widget):
    def specs(self, values: dict) -> dict[str, TrainSpec]:
        steps, lr = values["steps"], values["lr"]

        def spec(label: str) -> TrainSpec:
            return TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE),
                             runs=(RunConfig(label, Schedule("constant", lr, 0, steps, lr)),),
                             steps=steps, batch_size=BATCH_SIZE, seed=self.seed, eval_every=20)

        return {"overfit": spec("one batch, healthy"), "healthy": spec("healthy"),
                "buggy": spec(BUG_LABELS[values["bug"]])}

    def trainers(self, values: dict) -> dict[str, LockstepTrainer]:
        specs = self.specs(values)
        one = fixed_batch(load_corpus().train, BATCH_SIZE, BLOCK_SIZE, self.seed)
        overfit = LockstepTrainer(specs["overfit"], batches=RepeatBatch(one))
        healthy = LockstepTrainer(specs["healthy"])
        if values["bug"] == "label-shift":
            buggy = LockstepTrainer(specs["buggy"], batch_hook=label_shift_bug)
            buggy.val_batch = list(label_shift_bug(0, *buggy.val_batch))  # the bug is in the data pipeline
        else:
            buggy = LockstepTrainer(specs["buggy"], model_hook=remove_causal_mask)
        return {"overfit": overfit, "healthy": healthy, "buggy": buggy}

    def compute(self, values, progress=None):
        vocab = []
        trainers = self.trainers(values)
        steps = values["steps"]

        def result(done: int) -> dict:
            return {"vocab": list(vocab), "steps": steps, "done": done, "bug": values["bug"],
                    "overfit_target": OVERFIT_TARGET, "device": trainers["healthy"].device,
                    "runs": {key: t.result()["runs"][0] for key, t in trainers.items()}}

        for v in VOCABS:  # smallest first: the 65-character check shows at once
            vocab.append({"vocab_size": v, "initial_loss": initial_loss(v, self.seed), "ln_v": math.log(v)})
            if progress is not None:
                progress(result(0), 0, steps)
        report = None if progress is None else (lambda done: progress(result(done), done, steps))
        run_together(list(trainers.values()), report, REPORT_EVERY)
        return result(steps)

    def figure(self, values, data):
        vocab = data["vocab"]
        names = [f"V = {v['vocab_size']:,}" for v in vocab]
        traces = [
            {"type": "bar", "x": names, "y": [v["ln_v"] for v in vocab], "name": "ln V",
             "marker": {"color": "#9ca3af"}, "xaxis": "x", "yaxis": "y", "legendgroup": "lnv"},
            {"type": "scatter", "mode": "markers", "x": names, "y": [v["initial_loss"] for v in vocab],
             "name": "measured initial loss", "marker": {"color": color(0), "size": 12, "symbol": "diamond"},
             "xaxis": "x", "yaxis": "y", "legendgroup": "init"},
        ]
        runs = data["runs"]
        styles = {"overfit": 2, "healthy": 0, "buggy": 1}
        for key, run in runs.items():
            traces += loss_traces(run, styles[key], panel=2, steps=range(1, len(run["loss"]) + 1))
        losses = [v for run in runs.values() for v in (*run["loss"], *run["val_loss"])]
        loss_y, loss_title = fit_range([0, 6.0], losses, "loss")
        layout = panels_layout(
            ["initial loss of an untrained model against ln V (uniform guess)",
             "loss (train solid, validation dots): one batch, healthy, buggy"],
            x_title="step", y_titles=["loss (nats)", loss_title], y_ranges=[[0, 11.5], loss_y], shared_x=False,
            height=720, domains=[[0.64, 1.0], [0.0, 0.5]],
            x_axes=[{"type": "category", "showticklabels": True}, {"range": [0, data["steps"]]}])
        layout["hovermode"] = "closest"
        layout["shapes"] = [hline(data["overfit_target"], 0, data["steps"], "2")]
        return figure(traces, layout)

    def tables(self, values, data):
        tables = [{"caption": "Initial loss of an untrained TinyGPT (random inputs and targets) against ln V",
                   "columns": ["vocabulary size V", "ln V", "measured initial loss"],
                   "rows": [[v["vocab_size"], fmt(v["ln_v"], 5), fmt(v["initial_loss"], 5)] for v in data["vocab"]]}]
        for run in data["runs"].values():
            rows = [[s + 1, fmt(loss)] for s, loss in enumerate(run["loss"]) if s % 10 == 9 or s == 0]
            tables.append({"caption": f"{run['label']}: training loss", "columns": ["step", "loss"], "rows": rows})
            tables.append(val_table(run))
        return tables

    def code(self, values):
        steps, lr, bug = values["steps"], values["lr"], values["bug"]
        return f'''# Sanity checks on the course's tiny GPT (run from the repository root).
import math
import torch
from widgets.lab.bugs import label_shift_bug, remove_causal_mask
from widgets.lab.data import RepeatBatch, fixed_batch, load_corpus
from widgets.lab.model import GPTConfig, TinyGPT
from widgets.lab.schedules import Schedule
from widgets.lab.trainer import LockstepTrainer, RunConfig, TrainSpec

seed = {self.seed}
# 1. initial loss against ln V: an untrained model guesses nearly uniformly
for V in {VOCABS}:
    model = TinyGPT(GPTConfig(vocab_size=V, block_size={BLOCK_SIZE})).init_weights(seed).eval()
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randint(V, ({BATCH_SIZE}, {BLOCK_SIZE}), generator=g), torch.randint(V, ({BATCH_SIZE}, {BLOCK_SIZE}), generator=g)
    with torch.no_grad():
        print(f"V={{V:>6}}: initial loss {{model(x, y)[1].item():.4f}}, ln V = {{math.log(V):.4f}}")

def spec(label):
    return TrainSpec(model=GPTConfig(block_size={BLOCK_SIZE}),
                     runs=(RunConfig(label, Schedule("constant", {lr!r}, 0, {steps}, {lr!r})),),
                     steps={steps}, batch_size={BATCH_SIZE}, seed=seed, eval_every=20)

# 2. overfit one batch: the loss should go towards zero
one = fixed_batch(load_corpus().train, {BATCH_SIZE}, {BLOCK_SIZE}, seed)
overfit = LockstepTrainer(spec("one batch"), batches=RepeatBatch(one)).run()
print("one batch: final loss", repr(overfit["runs"][0]["loss"][-1]))

# 3. healthy against buggy, same seed (same initial weights, same batches)
healthy = LockstepTrainer(spec("healthy")).run()
if {bug!r} == "label-shift":
    t = LockstepTrainer(spec("targets = inputs"), batch_hook=label_shift_bug)
    t.val_batch = list(label_shift_bug(0, *t.val_batch))
else:
    t = LockstepTrainer(spec("no causal mask"), model_hook=remove_causal_mask)
buggy = t.run()
for r in (healthy, buggy):
    run = r["runs"][0]
    print(f"{{run['label']:>16}}: train {{run['loss'][-1]:.3f}}, validation {{run['val_loss'][-1]:.3f}}")
'''


WIDGET = SanityWidget(
    name="sanity",
    title="Sanity checks: initial loss, one-batch overfit, bugs",
    caption=("An untrained model's loss sits at ln V (4.17 for the 65 characters), a healthy model "
             "drives the loss on one repeated batch below 0.5, and the label-shift bug (targets = inputs) "
             "ends with a validation loss far below the healthy run's: too good to be true."),
    streams=True,
    params=(
        Param("bug", "Bug to show", "choice", "label-shift", choices=BUGS,
              help=("label-shift: targets = inputs, the model copies what it reads; no-causal-mask: attention "
                    "sees the future (at this size it needs more steps and a higher LR to exploit it).")),
        Param("steps", "Training steps", "int", 100, min=20, max=200, step=10, unit="steps"),
        Param("lr", "Adam learning rate", "float", 3e-3, min=1e-4, max=3e-2, step=0.05, log=True,
              help="Constant LR for all three runs."),
    ),
)
