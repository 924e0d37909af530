"""A short real run traced by its gradient norm, with and without clipping.

Two runs of the tiny GPT in lockstep (same initial weights, same batches); one
clips the global gradient norm at c. At `bad_step` the batch is corrupted for
both (one character repeated, through the trainer's batch_hook). Each step we
record the gradient norm before clipping, whether clipping fired, and how far the
weights moved, ||theta_after - theta_before||, for each run.
"""
from __future__ import annotations

import math

import torch

from widgets.base import Param, ParamError, Widget
from widgets.clip_norm import BAD_CHAR, BATCH_SIZE, BLOCK_SIZE, bad_batch
from widgets.lab.model import GPTConfig
from widgets.lab.schedules import Schedule
from widgets.lab.trainer import LockstepTrainer, RunConfig, TrainSpec
from widgets.plotting import figure, line, panels_layout

REPORT_EVERY = 5
PEAK_LR = 6e-3
WARMUP = 10


def percentile_90(norms: list[float]) -> float:
    """The 90th percentile of the observed norms (linear interpolation, as numpy's default)."""
    return float(torch.quantile(torch.tensor(norms, dtype=torch.float64), 0.9)) if norms else math.nan


class ClipTraceWidget(Widget):
    def check(self, values: dict) -> None:
        if values["bad_step"] >= values["steps"]:
            raise ParamError("bad_step", values["bad_step"], f"fewer than steps ({values['steps']})",
                             f"bad_step={values['bad_step']} must fall inside the run (steps={values['steps']})")

    def spec(self, values: dict) -> TrainSpec:
        steps = values["steps"]
        schedule = Schedule("cosine", PEAK_LR, WARMUP, steps, PEAK_LR / 10)
        return TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE),
                         runs=(RunConfig("no clipping", schedule),
                               RunConfig(f"clip at {values['threshold']:.3g}", schedule, clip=values["threshold"])),
                         steps=steps, batch_size=BATCH_SIZE, seed=self.seed, eval_every=25)

    def hook(self, values: dict):
        def corrupt(step: int, x: torch.Tensor, y: torch.Tensor):
            return bad_batch(x, y) if values["bad_batch"] and step == values["bad_step"] else (x, y)
        return corrupt

    def compute(self, values, progress=None):
        trainer = LockstepTrainer(self.spec(values), batch_hook=self.hook(values))
        moved: list[list[float]] = [[] for _ in trainer.spec.runs]

        def flat() -> torch.Tensor:  # (R, all weights of one run)
            return torch.cat([p.detach().flatten(1) for p in trainer.model.parameters()], 1).double()

        def snapshot() -> dict:
            result = trainer.result()
            runs = [{**{k: list(v) if isinstance(v, list) else v for k, v in run.items()}, "moved": list(m)}
                    for run, m in zip(result["runs"], moved)]
            return {**result, "runs": runs, "threshold": values["threshold"],
                    "bad_step": values["bad_step"] if values["bad_batch"] else None}

        while trainer.step < trainer.spec.steps and bool(trainer.alive.any()):
            before = flat()
            alive = trainer.alive.clone()
            trainer.train_step()
            distance = (flat() - before).norm(dim=1).cpu().tolist()
            for r in range(len(moved)):
                if alive[r] and len(moved[r]) < len(trainer.history[r].loss):
                    moved[r].append(distance[r])
            if progress is not None and (trainer.step % REPORT_EVERY == 0 or trainer.step == 1) \
                    and trainer.step < trainer.spec.steps:
                progress(self.summarise(snapshot()), trainer.step, trainer.spec.steps)
        return self.summarise(snapshot())

    @staticmethod
    def summarise(data: dict) -> dict:
        free, clipped = data["runs"]
        c = data["threshold"]
        data["share_clipped"] = sum(clipped["clipped"]) / len(clipped["clipped"]) if clipped["clipped"] else 0.0
        data["p90"] = percentile_90(free["grad_norm"]) if free["grad_norm"] else None
        data["norm_above_c"] = sum(n > c for n in clipped["grad_norm"])
        return data

    def figure(self, values, data):
        traces = []
        for i, run in enumerate(data["runs"]):
            steps = list(range(len(run["loss"])))
            traces.append(line(steps, run["grad_norm"], run["label"], i, panel=1))
            traces.append(line(steps, run["loss"], run["label"], i, panel=2, show_legend=False))
            traces.append(line(steps, run["moved"], run["label"], i, panel=3, show_legend=False))
        total = data["steps"]
        layout = panels_layout(
            ["gradient norm before clipping (dashed: c; dotted: 90th percentile)",
             "training loss", "how far the weights moved this step, ||Δθ||"],
            y_titles=["gradient norm", "loss", "||Δθ||"], y_log=[True, False, True],
            y_ranges=[[-1.3, 1.6], [1.8, 4.6], [-2.5, 0.5]], height=700)
        layout["xaxis"] = {**layout["xaxis"], "range": [0, total]}
        layout["hovermode"] = "x unified"
        shapes = [{"type": "line", "xref": "x", "yref": "y", "x0": 0, "x1": total, "y0": data["threshold"],
                   "y1": data["threshold"], "line": {"dash": "dash", "color": "#6b7280"}}]
        if data["p90"] is not None:
            shapes.append({"type": "line", "xref": "x", "yref": "y", "x0": 0, "x1": total, "y0": data["p90"],
                           "y1": data["p90"], "line": {"dash": "dot", "color": "#059669"}})
        if data["bad_step"] is not None:
            for k in ("", "2", "3"):
                shapes.append({"type": "line", "xref": "x", "yref": f"y{k} domain", "x0": data["bad_step"],
                               "x1": data["bad_step"], "y0": 0, "y1": 1,
                               "line": {"dash": "dot", "color": "#d97706", "width": 1}})
        layout["shapes"] = shapes
        summary = (f"clipped on {data['share_clipped']:.0%} of steps; 90th percentile of observed norms: "
                   f"{data['p90']:.3g}" if data["p90"] is not None else "")
        if data["bad_step"] is not None:
            summary += f"; '{BAD_CHAR}'-batch at step {data['bad_step']} (orange)"
        layout["annotations"].append({"text": summary, "xref": "paper", "yref": "paper", "x": 1, "y": 1.0,
                                      "xanchor": "right", "yanchor": "bottom", "showarrow": False,
                                      "font": {"size": 11}, "yshift": 20})
        return figure(traces, layout)

    def tables(self, values, data):
        tables = [{"caption": "Summary", "columns": ["quantity", "value"], "rows": [
            ["threshold c", f"{data['threshold']:.4g}"],
            ["share of steps clipped", f"{data['share_clipped']:.3f}"],
            ["steps with norm > c (clipped run)", str(data["norm_above_c"])],
            ["90th percentile of the unclipped run's norms", "-" if data["p90"] is None else f"{data['p90']:.4g}"],
            ["corrupted batch at step", "-" if data["bad_step"] is None else str(data["bad_step"])]]}]
        for run in data["runs"]:
            every = 5
            rows = [[t, f"{run['loss'][t]:.4g}", f"{run['grad_norm'][t]:.4g}", "yes" if run["clipped"][t] else "no",
                     f"{run['moved'][t]:.4g}"]
                    for t in range(len(run["loss"])) if t % every == 0 or t == data["bad_step"]]
            tables.append({"caption": f"{run['label']}: every {every} steps and the corrupted step",
                           "columns": ["step", "loss", "gradient norm", "clipped", "weights moved"], "rows": rows})
        return tables

    def code(self, values):
        return f'''# Two lockstep runs (same weights, same batches), one clipping at c; a corrupted batch at one step.
import torch
from widgets.clip_trace import WIDGET

values = {dict(values)!r}
data = WIDGET.compute(values)  # LockstepTrainer with batch_hook; records ||theta_after - theta_before||
free, clipped = data["runs"]
print(f"clipped on {{data['share_clipped']:.0%}} of steps (norm > c on {{data['norm_above_c']}} steps), "
      f"90th percentile of norms {{data['p90']:.3g}}")
if data["bad_step"] is not None:
    t = data["bad_step"]
    print(f"corrupted step {{t}}: norm {{free['grad_norm'][t]:.3g}}; weights moved "
          f"{{free['moved'][t]:.3g}} without clipping, {{clipped['moved'][t]:.3g}} with")
'''


WIDGET = ClipTraceWidget(
    name="clip-trace",
    title="Gradient norms through a run, and a bad batch",
    caption=("Two real runs in lockstep, one clipping at c = 1; a corrupted batch at step 60 spikes the gradient "
             "norm far above c, and the run with clipping moves its weights less on that step."),
    streams=True,
    params=(
        Param("threshold", "Clipping threshold c", "float", 1.0, min=0.05, max=20.0, step=0.05, log=True),
        Param("bad_batch", "Inject a corrupted batch", "bool", True,
              help=f"One character ('{BAD_CHAR}') repeated over the whole batch, for both runs."),
        Param("bad_step", "Corrupted batch at step", "int", 60, min=0, max=199, step=1, unit="steps"),
        Param("steps", "Training steps", "int", 80, min=20, max=200, step=10, unit="steps"),
    ),
)
