"""A small real scaling demo: three sizes of the tiny GPT, same steps, same batches.

The sizes differ in shape, so they cannot share one run-stacked model: each trains
in its own LockstepTrainer built with the same seed, which gives every size the
same batches in the same order (and the same validation batch). The trainers take
their steps in turn (run_together), so the three curves grow together while the run
streams; the panel of final validation loss against size is drawn when they end.

With several seeds, each curve's trainer stacks its seeds and run_together steps the trainers
side by side; lab/seeds.py's seed_major orders the runs seed-major.
"""
from __future__ import annotations

import math

from widgets import spread
from widgets.base import Param, Widget
from widgets.kit import REPORT_EVERY, color, figure, fmt, line, seed_note, seeded_curves, title, val_table
from widgets.spread import SEEDS_PARAM
from widgets.lab.model import GPTConfig, count_parameters
from widgets.lab.schedules import cosine_to_floor
from widgets.lab.seeds import seed_major
from widgets.lab.trainer import LockstepTrainer, RunConfig, TrainSpec, run_together
from widgets.script import Script, Shown, Step, imports, pretty

BATCH_SIZE = 8
BLOCK_SIZE = 32
WARMUP = 10
SIZES = {  # what "vary" changes; everything else is GPTConfig()'s default
    "width": ({"n_embd": 32}, {"n_embd": 64}, {"n_embd": 128}),
    "depth": ({"n_layer": 1}, {"n_layer": 2}, {"n_layer": 4}),
}
LOSS_RANGE = [2.4, 4.4]


def size_label(change: dict) -> str:
    key, value = next(iter(change.items()))
    return f"width {value}" if key == "n_embd" else f"{value} layer{'s' if value > 1 else ''}"


class ScalingDemoWidget(Widget):
    def specs(self, values: dict) -> list[TrainSpec]:
        steps, peak = values["steps"], values["peak_lr"]
        schedule = cosine_to_floor(peak, WARMUP, steps)
        return [TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE, **change),
                          runs=(RunConfig(size_label(change), schedule),), steps=steps,
                          batch_size=BATCH_SIZE, seed=self.seed, eval_every=max(steps // 4, 1),
                          seeds=values["seeds"])
                for change in SIZES[values["vary"]]]

    def compute(self, values, progress=None):
        trainers = [LockstepTrainer(spec) for spec in self.specs(values)]
        counts = [count_parameters(t.model)["total"] for t in trainers]
        steps = values["steps"]

        def snapshot(done: int) -> dict:  # each trainer: one size under every seed (lab/seeds.py)
            runs = seed_major([[{**run, "params": n} for run in trainer.result()["runs"]]
                               for trainer, n in zip(trainers, counts)])
            return spread.with_seeds({"steps": steps, "done": done, "vary": values["vary"],
                                      "device": trainers[0].device, "runs": runs})

        report = None if progress is None else (lambda done: progress(snapshot(done), done, steps))
        run_together(trainers, report, REPORT_EVERY)
        return snapshot(steps)

    def figure(self, values, data):
        traces = []
        curves = seeded_curves(data, keys=("loss",), panel=2)
        runs = [{**run, "params": data["runs"][i]["params"]} for i, (run, _) in enumerate(curves)]
        done = data["done"] >= data["steps"]
        latest = [(r["params"], r["val_loss"][-1], r["val_steps"][-1], i, r["label"])
                  for i, r in enumerate(runs) if r["val_loss"]] if done else []
        step = min((p[2] for p in latest), default=data["steps"])
        traces.append({"type": "scatter", "mode": "lines+markers+text", "x": [p[0] for p in latest],
                       "y": [p[1] for p in latest], "text": [p[4] for p in latest],
                       "textposition": "top center", "name": f"validation loss at step {step}",
                       "line": {"color": "#6b7280", "width": 1, "dash": "dot"},
                       "marker": {"size": 12, "color": [color(p[3]) for p in latest]},
                       "xaxis": "x", "yaxis": "y", "showlegend": False,
                       "hovertemplate": "%{text}: %{x:,} parameters, validation loss %{y:.3f}<extra></extra>"})
        if latest and spread.seed_count(data) > 1:  # each size's lowest to highest seed, as error bars
            finals = [[r["val_loss"][-1] for r in seeds if r["val_loss"]] for seeds in spread.by_curve(data)]
            finals = [finals[p[3]] for p in latest]
            traces[-1]["error_y"] = {"type": "data", "symmetric": False, "color": "#6b7280",
                                     "array": [max(f) - p[1] for f, p in zip(finals, latest)],
                                     "arrayminus": [p[1] - min(f) for f, p in zip(finals, latest)]}
        for i, (run, (_, band)) in enumerate(zip(runs, curves)):
            traces += band  # with several seeds: every seed's training loss, lowest to highest
            traces.append(line(range(len(run["loss"])), run["loss"], f"{run['label']} ({run['params']:,} params)",
                               i, panel=2))
        sizes = [r["params"] for r in runs]
        pad = 0.25
        x_range = [math.log10(min(sizes)) - pad, math.log10(max(sizes)) + pad]
        status = f"after all {data['steps']} steps" if done else "drawn when the runs end"
        layout = {
            "height": 640, "margin": {"l": 64, "r": 16, "t": 100, "b": 48}, "hovermode": "closest",
            "legend": {"orientation": "h", "x": 0, "y": 1.07, "yanchor": "bottom"},
            "xaxis": {"type": "log", "range": x_range, "anchor": "y", "title": {"text": "parameters (log scale)"}},
            "yaxis": {"domain": [0.58, 1.0], "anchor": "x", "range": LOSS_RANGE, "title": {"text": "validation loss"}},
            "xaxis2": {"range": [0, data["steps"]], "anchor": "y2", "title": {"text": "step"}},
            "yaxis2": {"domain": [0.0, 0.34], "anchor": "x2", "range": LOSS_RANGE, "title": {"text": "training loss"}},
            "annotations": [
                {**title("final validation loss against size", 0, 1.0),
                 "text": f"<b>final validation loss against size</b> ({status}; same batches for every size)",
                 "yshift": 6},
                {**title("training loss", 0, 0.34), "yshift": 4},
            ],
        }
        return figure(traces, layout)

    def tables(self, values, data):
        rows = [[r["label"] + seed_note(r), r["params"], fmt(r["val_loss"][-1] if r["val_loss"] else None),
                 fmt(r["loss"][-1] if r["loss"] else None)] for r in data["runs"]]
        tables = [{"caption": f"Each size after {data['done']} steps",
                   "columns": ["model", "parameters", "validation loss", "last training loss"], "rows": rows}]
        tables += [val_table(r) for r in data["runs"]]
        return tables

    def script(self, values):
        specs = self.specs(values)
        numbers = []
        for i, spec in enumerate(specs):
            label = spec.runs[0].label
            numbers += [Shown(f"{label}: parameters", ("runs", i, "params")),
                        Shown(f"{label}: final validation loss", ("runs", i, "val_loss", -1)),
                        Shown(f"{label}: final training loss", ("runs", i, "loss", -1))]
        return Script(
            self.name, self.title, values, about=self.caption, numbers=tuple(numbers),
            imports=imports(specs, extra=("widgets.lab.model:count_parameters", "widgets.lab.seeds:seed_major",
                                                  "widgets.lab.trainer:LockstepTrainer")),
            steps=(Step(f"Three sizes of the tiny GPT ({values['vary']} grows), the same steps, LR schedule and "
                        "seed: the same batches in the same order for every size. Different shapes cannot share "
                        "one run-stacked model, so each size has its own trainer.", f"specs = {pretty(specs)}"),
                   Step("Count each model's parameters and train it.",
                        "trainers = [LockstepTrainer(spec) for spec in specs]\n"
                        "result = {'runs': seed_major([[{**run, 'params': count_parameters(t.model)['total']}\n"
                        "                               for run in t.run()['runs']] for t in trainers])}")))


WIDGET = ScalingDemoWidget(
    name="scaling-demo",
    title="Bigger models learn more from the same data",
    caption=("Three widths of the tiny GPT (32, 64, 128) train for the same 80 steps on the same batches: "
             "on the default seed each wider model ends with a lower validation loss. That ordering belongs to "
             "this seed: over five seeds it is within noise, because another seed moves the final loss as much "
             "as doubling the width does at this scale."),
    streams=True,
    params=(
        Param("vary", "What grows", "choice", "width", choices=tuple(SIZES),
              help="width: 32, 64, 128 channels (2 layers); depth: 1, 2, 4 layers (width 64)."),
        Param("steps", "Training steps", "int", 80, min=20, max=200, step=10, unit="steps",
              help="The same for every size: longer runs separate the sizes more."),
        SEEDS_PARAM,
        Param("peak_lr", "Peak learning rate", "float", 6e-3, min=1e-3, max=3e-2, step=0.05, log=True,
              advanced=True, help="Warmup over 10 steps, then cosine decay to 10%; the same for every size."),
    ),
)
