"""Sanity checks before a long run: initial loss, single-batch overfit, and two classic bugs.

1. An untrained model predicts nearly uniformly, so its loss is about ln(V): measured
   for the course's 65-character vocabulary and a few larger vocabularies (random
   inputs and targets in range), on real untrained TinyGPTs.
2. One fixed batch, trained on again and again: a healthy model memorises it and the
   loss goes towards zero. If it cannot, something is broken.
3. A healthy run against a buggy one (same seed: same initial weights and same
   batches): forgotten label shift (targets = inputs) or no causal mask. Both bugs
   let the model see the answer, so their losses look too good to be true.

The runs come healthy first (the curve the others are compared with), then the buggy run,
then the single-batch run; with several seeds, seed-major (lab/seeds.py).
"""
from __future__ import annotations

import math

import torch

from widgets import spread
from widgets.base import Param, Widget
from widgets.kit import (REPORT_EVERY, band_traces, color, figure, fit_range, fmt, hline, loss_traces, panels_layout,
                         seeded_curves, seed_note, val_table)
from widgets.spread import SEEDS_PARAM
from widgets.lab.bugs import label_shift_bug, remove_causal_mask
from widgets.lab.data import RepeatBatch, fixed_batch, load_corpus
from widgets.lab.model import GPTConfig, TinyGPT
from widgets.lab.schedules import Schedule
from widgets.lab.seeds import seed_major
from widgets.lab.trainer import LockstepTrainer, RunConfig, TrainSpec, run_together
from widgets.script import Script, Shown, Step, imports, pretty

BATCH_SIZE, BLOCK_SIZE = 8, 32
VOCABS = (65, 512, 2048, 8192)
OVERFIT_TARGET = 0.5  # the single-batch run must end below this
BUGS = ("label-shift", "no-causal-mask")
BUG_LABELS = {"label-shift": "bug: targets = inputs", "no-causal-mask": "bug: no causal mask"}
CURVES = ("healthy", "buggy", "overfit")  # the order of the runs: the healthy run is the baseline


def initial_loss(vocab_size: int, seed: int) -> float:
    """Loss of an untrained TinyGPT with `vocab_size` tokens on random inputs and targets."""
    model = TinyGPT(GPTConfig(vocab_size=vocab_size, block_size=BLOCK_SIZE)).init_weights(seed).eval()
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(vocab_size, (BATCH_SIZE, BLOCK_SIZE), generator=g)
    y = torch.randint(vocab_size, (BATCH_SIZE, BLOCK_SIZE), generator=g)
    with torch.no_grad():
        return model(x, y)[1].item()


def sanity_trainers(specs: dict[str, TrainSpec], bug: str) -> list[LockstepTrainer]:
    """The three runs, in CURVES order: a healthy run, the run with `bug` (same seed: same initial
    weights and the same batches), and one batch trained on again and again (each seed its own)."""
    train = load_corpus().train
    overfit = LockstepTrainer(specs["overfit"],
                              batches=lambda seed: RepeatBatch(fixed_batch(train, BATCH_SIZE, BLOCK_SIZE, seed)))
    healthy = LockstepTrainer(specs["healthy"])
    if bug == "label-shift":
        buggy = LockstepTrainer(specs["buggy"], batch_hook=label_shift_bug)
        buggy.val_batch = list(label_shift_bug(0, *buggy.val_batch))  # the bug is in the data pipeline
    else:
        buggy = LockstepTrainer(specs["buggy"], model_hook=remove_causal_mask)
    return [healthy, buggy, overfit]


def vocab_check(vocab_size: int, seed: int) -> dict:
    """An untrained model's loss against ln V, the loss of a uniform guess."""
    return {"vocab_size": vocab_size, "initial_loss": initial_loss(vocab_size, seed), "ln_v": math.log(vocab_size)}


class SanityWidget(Widget):
    def specs(self, values: dict) -> dict[str, TrainSpec]:
        steps, lr = values["steps"], values["lr"]

        def spec(label: str) -> TrainSpec:
            return TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE),
                             runs=(RunConfig(label, Schedule("constant", lr, 0, steps, lr)),),
                             steps=steps, batch_size=BATCH_SIZE, seed=self.seed, eval_every=20,
                             seeds=values["seeds"])

        return {"overfit": spec("one batch, healthy"), "healthy": spec("healthy"),
                "buggy": spec(BUG_LABELS[values["bug"]])}

    def compute(self, values, progress=None):
        vocab = []
        trainers = sanity_trainers(self.specs(values), values["bug"])
        steps = values["steps"]

        def result(done: int) -> dict:  # each trainer: one curve under every seed (lab/seeds.py)
            return spread.with_seeds({"vocab": list(vocab), "steps": steps, "done": done, "bug": values["bug"],
                                      "overfit_target": OVERFIT_TARGET, "device": trainers[0].device,
                                      "runs": seed_major([t.result()["runs"] for t in trainers])})

        for v in VOCABS:  # smallest first: the 65-character check shows at once
            vocab.append(vocab_check(v, self.seed))
            if progress is not None:
                progress(result(0), 0, steps)
        report = None if progress is None else (lambda done: progress(result(done), done, steps))
        run_together(trainers, report, REPORT_EVERY)
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
        groups = spread.by_curve(data) if spread.seed_count(data) > 1 else None
        for i, (run, _) in enumerate(seeded_curves(data, keys=("loss",))):
            steps = range(1, len(run["loss"]) + 1)
            if groups:  # the band: every seed's training loss, lowest to highest
                low, _, high = spread.per_step(groups[i], "loss")
                traces += band_traces(list(steps), low, high, run["label"], i, panel=2)
            traces += loss_traces(run, i, panel=2, steps=steps)
        losses = [v for run in data["runs"] for v in (*run["loss"], *run["val_loss"])]
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
        for run in data["runs"]:
            rows = [[s + 1, fmt(loss)] for s, loss in enumerate(run["loss"]) if s % 10 == 9 or s == 0]
            tables.append({"caption": f"{run['label']}{seed_note(run)}: training loss", "columns": ["step", "loss"], "rows": rows})
            tables.append(val_table(run))
        return tables

    def script(self, values):
        specs = self.specs(values)
        numbers = [Shown(f"V = {v}: initial loss", ("vocab", k, "initial_loss")) for k, v in enumerate(VOCABS)]
        numbers += [Shown("one batch, healthy: final training loss", ("runs", CURVES.index("overfit"), "loss", -1)),
                    Shown("healthy: final validation loss", ("runs", CURVES.index("healthy"), "val_loss", -1)),
                    Shown(f"{BUG_LABELS[values['bug']]}: final validation loss",
                          ("runs", CURVES.index("buggy"), "val_loss", -1))]
        return Script(
            self.name, self.title, values, about=self.caption, numbers=tuple(numbers),
            imports=imports(specs, extra=("widgets.sanity:VOCABS", "widgets.sanity:sanity_trainers",
                                          "widgets.sanity:vocab_check", "widgets.lab.seeds:seed_major")),
            steps=(
                Step("An untrained model guesses nearly uniformly, so its loss is about ln V: measured on random "
                     "inputs and targets for the course's 65 characters and three larger vocabularies.",
                     f"vocab = [vocab_check(v, seed={self.seed}) for v in VOCABS]"),
                Step("Three runs with the same constant LR and seed (same initial weights, same batches): a "
                     "healthy run, a run with the bug, and one batch trained on again and again.",
                     f"specs = {pretty(specs)}"),
                Step(f"Build the three trainers (the bug: {values['bug']}) and train each; a healthy model "
                     "memorises the one batch, and a bug that lets the model see the answer looks too good.",
                     f"trainers = sanity_trainers(specs, {values['bug']!r})\n"
                     "result = {'vocab': vocab, 'runs': seed_major([t.run()['runs'] for t in trainers])}"),
            ))


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
        SEEDS_PARAM,
        Param("lr", "Adam learning rate", "float", 3e-3, min=1e-4, max=3e-2, step=0.05, log=True,
              help="Constant LR for all three runs."),
    ),
)
