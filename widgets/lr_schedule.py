"""The LR schedule explorer: what a real optimizer is given, step by step.

A real torch optimizer is driven by a real torch scheduler (LambdaLR following
the course's schedule), and the LR is read back from the optimizer at each step.
"""
from __future__ import annotations

import torch

from widgets.base import Param, ParamError, Widget
from widgets.lab.schedules import FAMILIES, FAMILY_LABELS, Schedule, lambda_scheduler
from widgets.kit import figure, line, panels_layout
from widgets.script import Script, Shown, Step, imports, pretty

Y_RANGE_LOG10 = [-6.3, -0.6]  # fixed, so moving the peak visibly moves the curve


def applied_lrs(schedule: Schedule) -> list[float]:
    """The LR a real torch optimizer is given at every step, driven by torch's LambdaLR following
    `schedule` and read back from the optimizer (what each step's update uses)."""
    weight = torch.nn.Parameter(torch.zeros(1))
    weight.grad = torch.zeros_like(weight)  # a zero gradient: we watch the LR, not the weight
    optimizer = torch.optim.SGD([weight], lr=schedule.peak_lr, foreach=False)
    scheduler = lambda_scheduler(optimizer, schedule)
    applied = []
    for _ in range(schedule.total):
        applied.append(optimizer.param_groups[0]["lr"])  # what this step's update uses
        optimizer.step()
        scheduler.step()
    return applied


class LRScheduleWidget(Widget):
    def check(self, values: dict) -> None:
        if values["warmup"] > values["total"]:
            raise ParamError("warmup", values["warmup"], f"at most total ({values['total']})",
                             f"warmup={values['warmup']} cannot exceed total={values['total']} steps")
        if values["min_lr"] > values["peak_lr"]:
            raise ParamError("min_lr", values["min_lr"], f"at most peak_lr ({values['peak_lr']:g})",
                             f"min_lr={values['min_lr']:g} must not exceed peak_lr={values['peak_lr']:g}")

    def schedule(self, values: dict) -> Schedule:
        return Schedule(values["family"], values["peak_lr"], values["warmup"], values["total"],
                        values["min_lr"], values["decay_fraction"])

    def compute(self, values, progress=None):
        schedule = self.schedule(values)
        applied = applied_lrs(schedule)
        marks = {"warmup_end": schedule.warmup}
        if schedule.family == "wsd":
            marks["decay_start"] = schedule.decay_start()
        if schedule.family == "multistep":
            marks["drops"] = schedule.multistep_milestones()
        return {"steps": list(range(schedule.total)), "lr": applied, "marks": marks,
                "family": schedule.family}

    def figure(self, values, data):
        trace = line(data["steps"], data["lr"], FAMILY_LABELS[data["family"]], 0)
        layout = panels_layout(["learning rate"], y_titles=["learning rate (log scale)"], y_log=[True],
                               y_ranges=[Y_RANGE_LOG10], height=380)
        layout["xaxis"]["range"] = [0, values["total"]]
        layout["hovermode"] = "closest"
        shapes = []
        if data["marks"]["warmup_end"]:
            shapes.append(_vline(data["marks"]["warmup_end"], "warmup ends"))
        if "decay_start" in data["marks"]:
            shapes.append(_vline(data["marks"]["decay_start"], "decay starts"))
        layout["shapes"] = shapes
        return figure([trace], layout, ghost=True)

    def tables(self, values, data):
        every = max(1, len(data["steps"]) // 40)
        rows = [[s, f"{lr:.4g}"] for s, lr in zip(data["steps"][::every], data["lr"][::every])]
        return [{"caption": f"LR given to the optimizer, every {every} steps",
                 "columns": ["step", "learning rate"], "rows": rows}]

    def script(self, values):
        schedule = self.schedule(values)
        steps = sorted({0, max(schedule.warmup - 1, 0), schedule.total // 2, schedule.total - 1})
        return Script(
            self.name, self.title, values, about=self.caption,
            imports=imports(schedule, extra=("widgets.lr_schedule:applied_lrs",)),
            numbers=tuple(Shown(f"LR at step {t}", ("lr", t)) for t in steps),
            steps=(Step("The schedule: its family, peak, warmup, length and floor.", f"schedule = {pretty(schedule)}"),
                   Step("A real torch optimizer driven by torch's LambdaLR following the schedule; the LR is read "
                        "back from the optimizer at every step, before the update that uses it.",
                        "result = {'lr': applied_lrs(schedule)}")))


def _vline(x: int, label: str) -> dict:
    return {"type": "line", "x0": x, "x1": x, "yref": "paper", "y0": 0, "y1": 1,
            "line": {"dash": "dot", "color": "#6b7280"}, "label": {"text": label, "textposition": "end"}}


WIDGET = LRScheduleWidget(
    name="lr-schedule",
    title="Learning-rate schedule explorer",
    caption=("The LR a real optimizer is given at every step by a real torch scheduler. "
             "The faint curve is your previous setting."),
    params=(
        Param("family", "Schedule", "choice", "cosine", choices=FAMILIES),
        Param("peak_lr", "Peak learning rate", "float", 6e-4, min=1e-5, max=1e-1, step=0.05, log=True),
        Param("warmup", "Warmup steps", "int", 200, min=0, max=10_000, step=10, unit="steps"),
        Param("total", "Total steps", "int", 5000, min=100, max=10_000, step=100, unit="steps"),
        Param("min_lr", "Minimum learning rate", "float", 6e-5, min=1e-7, max=1e-1, step=0.05, log=True,
              help="The floor that cosine, linear and WSD decay to (10% of the peak is common)."),
        Param("decay_fraction", "WSD decay share", "float", 0.2, min=0.05, max=0.5, step=0.05,
              advanced=True, help="WSD holds the peak, then decays over this last share of the run."),
    ),
)
