"""Overfitting lab: train on a small slice of the corpus until it is memorised.

Two real runs of the tiny GPT on the first N characters of the training split, with
the same seed (same initial weights, same batches; separate trainers because dropout is
part of the model): a reference without any regularisation, and the learner's dropout
and weight decay. Train loss is measured on a fixed batch of the slice and validation
loss on held-out text, both in eval mode (no dropout), so the gap between them is the
overfitting.

With several seeds, each curve's trainer stacks its seeds and run_together steps the trainers
side by side; lab/seeds.py's seed_major orders the runs seed-major.
"""
from __future__ import annotations

from widgets import spread
from widgets.base import Param, Widget
from widgets.kit import REPORT_EVERY, band_traces, figure, fmt, line, panels_layout, seed_note, seeded_curves
from widgets.spread import SEEDS_PARAM
from widgets.lab.data import BatchStream, fixed_batch, load_corpus
from widgets.lab.model import GPTConfig
from widgets.lab.schedules import Schedule
from widgets.lab.seeds import seed_major
from widgets.lab.trainer import LockstepTrainer, RunConfig, TrainSpec, run_together
from widgets.script import Script, Shown, Step, imports, pretty

BATCH_SIZE, BLOCK_SIZE = 8, 32
EVAL_EVERY = 10


def slice_trainer(spec: TrainSpec, tokens, decay_all: bool = False) -> LockstepTrainer:
    """A trainer whose batches come from `tokens` (a slice of the training text), which also
    measures the loss on a fixed batch of that slice whenever it measures validation loss (both
    in eval mode, no dropout), so train and validation are compared alike. Each seed reads its
    own batches of the slice; the fixed batch is the same for every seed, like validation's."""
    block = spec.model.block_size
    return LockstepTrainer(spec, batches=lambda seed: BatchStream(tokens, spec.batch_size, block, seed),
                           evals={"train_eval_loss": fixed_batch(tokens, spec.eval_batch_size, block, spec.seed + 2)},
                           decay_all=decay_all)


class OverfittingWidget(Widget):
    def specs(self, values: dict) -> list[TrainSpec]:
        steps, lr = values["steps"], values["lr"]
        schedule = Schedule("constant", lr, 0, steps, lr)
        wd, dropout = values["weight_decay"], values["dropout"]
        label = f"dropout {dropout:g}, weight decay {wd:g}" + (" (all tensors)" if values["decay_all"] and wd else "")

        def spec(name: str, p: float, decay: float) -> TrainSpec:
            return TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE, dropout=p),
                             runs=(RunConfig(name, schedule, weight_decay=decay),), steps=steps,
                             batch_size=BATCH_SIZE, seed=self.seed, eval_every=EVAL_EVERY, eval_at_start=True,
                             seeds=values["seeds"])

        return [spec("no regularisation", 0.0, 0.0), spec(label, dropout, wd)]

    def compute(self, values, progress=None):
        tokens = load_corpus().train[:values["slice_chars"]]
        reference, learner = self.specs(values)
        trainers = [slice_trainer(reference, tokens), slice_trainer(learner, tokens, values["decay_all"])]
        steps = values["steps"]

        def result(done: int) -> dict:  # each trainer: its curve under every seed (lab/seeds.py)
            return spread.with_seeds({"steps": steps, "done": done, "slice_chars": values["slice_chars"],
                                      "device": trainers[0].device,
                                      "runs": seed_major([t.result()["runs"] for t in trainers])})

        report = None if progress is None else (lambda done: progress(result(done), done, steps))
        run_together(trainers, report, REPORT_EVERY)
        return result(steps)

    def figure(self, values, data):
        traces = []
        several = spread.seed_count(data) > 1
        for i, (run, _) in enumerate(seeded_curves(data, keys=("param_norm", "train_eval_loss"))):
            steps = run["val_steps"]
            if several:  # the band: every seed's validation loss, lowest to highest
                low, _, high = spread.per_step(spread.by_curve(data)[i], "val_loss")
                traces += band_traces(steps[:len(low)], low, high, run["label"], i)
            traces.append(line(steps, run["train_eval_loss"], f"{run['label']}: train (slice)", i, panel=1,
                               mode="lines+markers", marker={"size": 5}))
            traces.append(line(steps, run["val_loss"], f"{run['label']}: validation", i, panel=1, dash="dot",
                               mode="lines+markers", marker={"size": 5, "symbol": "circle-open"}))
            traces.append(line(range(1, len(run["param_norm"]) + 1), run["param_norm"], run["label"], i, panel=2,
                               show_legend=False, group=f"{run['label']}: train (slice)"))
        layout = panels_layout(["loss on the training slice (solid) and on validation text (dotted)",
                                "parameter norm"], y_titles=["loss", "parameter norm"],
                               y_ranges=[[1.8, 4.3], None])
        layout["xaxis"] = {**layout["xaxis"], "range": [0, data["steps"]]}
        layout["height"] = 620
        layout["margin"] = {**layout["margin"], "t": 110}
        layout["legend"] = {**layout["legend"], "y": 1.08}
        return figure(traces, layout)

    def tables(self, values, data):
        tables = []
        for run in data["runs"]:
            rows = [[s, fmt(tr), fmt(va), fmt(va - tr)]
                    for s, tr, va in zip(run["val_steps"], run["train_eval_loss"], run["val_loss"])]
            tables.append({"caption": f"{run['label']}{seed_note(run)}: loss on the {data['slice_chars']:,}-character "
                                      "slice and on "
                                      "validation text (eval mode)",
                           "columns": ["step", "train (slice)", "validation", "gap"], "rows": rows})
            tables.append({"caption": f"{run['label']}{seed_note(run)}: parameter norm every 10 steps",
                           "columns": ["step", "parameter norm"],
                           "rows": [[s + 1, fmt(v)] for s, v in enumerate(run["param_norm"]) if s % 10 == 9]})
        return tables

    def script(self, values):
        specs = self.specs(values)
        n = values["slice_chars"]
        numbers = []
        for i, spec in enumerate(specs):
            label = spec.runs[0].label
            numbers += [Shown(f"{label}: loss on the training slice at the end", ("runs", i, "train_eval_loss", -1)),
                        Shown(f"{label}: validation loss at the end", ("runs", i, "val_loss", -1)),
                        Shown(f"{label}: parameter norm at the end", ("runs", i, "param_norm", -1))]
        return Script(
            self.name, self.title, values, about=self.caption, numbers=tuple(numbers),
            imports=imports(specs, extra=("widgets.lab.data:load_corpus", "widgets.lab.seeds:seed_major",
                                          "widgets.overfitting:slice_trainer")),
            steps=(Step(f"The training text: only its first {n:,} characters, small enough to memorise.",
                        f"tokens = load_corpus().train[:{n}]"),
                   Step("Two runs with the same seed (same initial weights, same batches): a reference with no "
                        "regularisation, and your dropout and weight decay. Separate trainers, because dropout is "
                        "part of the model.", f"specs = {pretty(specs)}"),
                   Step("Train each on the slice. Every evaluation also measures the loss on a fixed batch of the "
                        "slice, both in eval mode (no dropout), so the gap between the two is the overfitting.",
                        f"decay_all = ({False!r}, {values['decay_all']!r})  # decay on every tensor (second run)\n"
                        "result = {'runs': seed_major([slice_trainer(spec, tokens, all_tensors).run()['runs']\n"
                        "                              for spec, all_tensors in zip(specs, decay_all)])}")))


WIDGET = OverfittingWidget(
    name="overfitting",
    title="Overfitting lab: a small slice, dropout and weight decay",
    caption=("On the first 1,000 characters, the unregularised run's train loss falls far below its validation "
             "loss, which ends above its best value; with dropout 0.2 and weight decay 0.1 the train-validation "
             "gap is smaller and the parameter norm stays lower."),
    streams=True,
    params=(
        Param("slice_chars", "Training slice", "int", 1000, min=500, max=50_000, step=500, unit="characters",
              help="Train only on the first N characters of the training text."),
        Param("dropout", "Dropout", "float", 0.2, min=0.0, max=0.5, step=0.05),
        Param("weight_decay", "Weight decay (AdamW, decoupled)", "float", 0.1, min=0.0, max=2.0, step=0.05),
        Param("decay_all", "Decay every tensor (embeddings, norms, biases too)", "bool", False,
              help="Off: decay only the weight matrices, as GPT-2 and most LLM recipes do."),
        Param("steps", "Training steps", "int", 150, min=20, max=300, step=10, unit="steps"),
        SEEDS_PARAM,
        Param("lr", "Learning rate (constant, AdamW)", "float", 1e-2, min=1e-3, max=2e-2, step=0.05, log=True,
              advanced=True),
    ),
)
