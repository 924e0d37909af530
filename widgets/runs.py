"""Shared pieces for widgets that show lockstep training runs of the tiny GPT.

`train_streaming` runs a TrainSpec and reports partial histories; `history_figure`
draws loss / LR / gradient-norm panels; `history_tables` lists the same numbers;
`spec_code` writes the Python that reproduces a run exactly.
"""
from __future__ import annotations

import dataclasses
import math

from widgets.base import Progress
from widgets.lab.trainer import LockstepTrainer, TrainSpec
from widgets.plotting import color, figure, line, panels_layout

REPORT_EVERY = 5  # steps between progress reports (each one sends a growing figure)


def train_streaming(spec: TrainSpec, progress: Progress | None = None, **trainer_kwargs) -> dict:
    trainer = LockstepTrainer(spec, **trainer_kwargs)
    report = None
    if progress is not None:
        def report(partial: dict) -> None:
            progress(partial, partial["done"], partial["steps"])
    return trainer.run(report, report_every=REPORT_EVERY)


def history_figure(data: dict, panels=("loss", "lr", "grad_norm"), loss_range=(1.5, 4.6),
                   lr_range: tuple | None = None, clip: float | None = None) -> dict:
    """Stacked panels over steps: training loss (+ validation), LR applied, gradient norm."""
    titles = {"loss": "loss (train solid, validation dots)", "lr": "learning rate applied",
              "grad_norm": "gradient norm before clipping", "param_norm": "parameter norm"}
    traces = []
    total = data.get("steps", 0)
    for i, run in enumerate(data["runs"]):
        steps = list(range(len(run["loss"])))
        for k, panel in enumerate(panels, start=1):
            first = k == 1
            traces.append(line(steps, run[panel], run["label"], i, panel=k, show_legend=first))
            if panel == "loss" and run["val_steps"]:
                traces.append(line(run["val_steps"], run["val_loss"], f"{run['label']} (validation)", i,
                                   panel=k, mode="lines+markers", dash="dot", show_legend=False,
                                   group=run["label"], marker={"size": 6}))
        if run.get("diverged_at") is not None:
            traces.append(line([run["diverged_at"]], [loss_range[1] - 0.1], f"{run['label']} diverged", i,
                               panel=1, mode="markers+text", show_legend=False, group=run["label"],
                               marker={"symbol": "x", "size": 14}, text=["diverged"],
                               textposition="top center"))
    y_ranges = [list(loss_range) if p == "loss" else (lr_range if p == "lr" else None) for p in panels]
    layout = panels_layout([titles[p] for p in panels], y_titles=[p.replace("_", " ") for p in panels],
                           y_log=[p == "grad_norm" for p in panels], y_ranges=y_ranges)
    layout["xaxis"] = {**layout["xaxis"], "range": [0, max(total, 1)]}
    if clip is not None and "grad_norm" in panels:
        k = panels.index("grad_norm") + 1
        suffix = "" if k == 1 else str(k)
        layout["shapes"] = [{"type": "line", "xref": f"x{suffix}", "yref": f"y{suffix}", "x0": 0, "x1": total,
                             "y0": clip, "y1": clip, "line": {"dash": "dash", "color": "#6b7280"}}]
    return figure(traces, layout)


def history_tables(data: dict, every: int = 10) -> list[dict]:
    """Every `every`-th step of each run, and each run's validation losses."""
    tables = []
    for run in data["runs"]:
        rows = [[t, _num(run["loss"][t]), _num(run["lr"][t]), _num(run["grad_norm"][t]),
                 "yes" if run["clipped"][t] else "no"]
                for t in range(0, len(run["loss"]), every)]
        caption = f"{run['label']}: training, every {every} steps"
        if run.get("diverged_at") is not None:
            caption += f" (diverged at step {run['diverged_at']})"
        tables.append({"caption": caption, "columns": ["step", "loss", "learning rate", "gradient norm", "clipped"],
                       "rows": rows})
        tables.append({"caption": f"{run['label']}: validation loss", "columns": ["step", "validation loss"],
                       "rows": [[s, _num(v)] for s, v in zip(run["val_steps"], run["val_loss"])]})
    return tables


def _num(x: float) -> str:
    return "nan" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.4g}"


def _pretty(value, indent: int = 0) -> str:
    """repr() of nested dataclasses, one field per line (valid Python)."""
    pad = "    " * (indent + 1)
    if dataclasses.is_dataclass(value):
        terse = type(value).__name__ == "GPTConfig"  # many fields: show only those that differ
        fields = [f"{pad}{f.name}={_pretty(getattr(value, f.name), indent + 1)}," for f in dataclasses.fields(value)
                  if not (terse and getattr(value, f.name) == f.default)]
        return f"{type(value).__name__}(\n" + "\n".join(fields) + "\n" + "    " * indent + ")" if fields else f"{type(value).__name__}()"
    if isinstance(value, tuple):
        items = [f"{pad}{_pretty(v, indent + 1)}," for v in value]
        return "(\n" + "\n".join(items) + "\n" + "    " * indent + ")"
    return repr(value)


def spec_code(spec: TrainSpec, extra_imports: str = "", after: str = "") -> str:
    """A script that reproduces `spec` exactly with the course's lab (run it from the repo root)."""
    return (
        "# Reproduces this chart's runs exactly: same seed, same initial weights, same batches.\n"
        "# Run from the course repository root:  python this_file.py\n"
        "from widgets.lab.model import GPTConfig\n"
        "from widgets.lab.schedules import Schedule\n"
        "from widgets.lab.trainer import RunConfig, TrainSpec, train\n"
        f"{extra_imports}\n"
        f"spec = {_pretty(spec)}\n\n"
        "result = train(spec)\n"
        "for run in result[\"runs\"]:\n"
        "    final_val = run[\"val_loss\"][-1] if run[\"val_loss\"] else float(\"nan\")\n"
        "    print(f\"{run['label']:>14}: final train loss {run['loss'][-1]:.3f}, \"\n"
        "          f\"validation {final_val:.3f}, diverged at {run['diverged_at']}\")\n"
        f"{after}"
    )
