"""Optimizer race on a 2-D loss surface: the course's SGD, momentum, RMSProp, Adam and AdamW.

Each optimizer moves a real 2-vector parameter from the same start; the gradient
is computed by torch autograd from the surface below, and the update is the course
optimizer's own step (widgets/lab/optim.py, tested against torch.optim). The
contour is the same function evaluated on a grid.

Surfaces, both with their minimum at (1, 1):
  valley      f = 0.5 (u^2 + kappa w^2), (u, w) = the offset from (1, 1) rotated by `angle`
  rosenbrock  f = (1 - x)^2 + kappa (y - x^2)^2        (kappa = 100 is the classic one)
"""
from __future__ import annotations

import math

import torch

from widgets.base import Param, ParamError, Widget
from widgets.lab import optim
from widgets.kit import color, figure
from widgets.script import Script, Shown, Step

MINIMUM = (1.0, 1.0)
X_RANGE = (-2.0, 2.5)  # fixed axes: moving a slider moves the paths, never the frame
Y_RANGE = (-1.0, 3.0)
GRID = 61
BLOW_UP = 1e6  # a loss above this (or NaN) ends that optimizer's path: it diverged
LOSS_FLOOR = 1e-12  # the log axis cannot show 0
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam", "adamw")
LABELS = {"sgd": "SGD", "momentum": "SGD + momentum", "rmsprop": "RMSProp", "adam": "Adam", "adamw": "AdamW"}


def surface(p: torch.Tensor, kind: str, kappa: float, angle_deg: float) -> torch.Tensor:
    """The loss at points p (..., 2), as a tensor autograd can differentiate."""
    x, y = p[..., 0], p[..., 1]
    if kind == "rosenbrock":
        return (1 - x) ** 2 + kappa * (y - x ** 2) ** 2
    a = math.radians(angle_deg)
    dx, dy = x - MINIMUM[0], y - MINIMUM[1]
    u = math.cos(a) * dx + math.sin(a) * dy  # coordinates along the valley's axes
    w = -math.sin(a) * dx + math.cos(a) * dy
    return 0.5 * (u ** 2 + kappa * w ** 2)


def make_optimizer(name: str, params: list[torch.Tensor], v: dict):
    """The course optimizer for one racer (one run: the parameter is shaped (1, 2))."""
    if name == "sgd":
        return optim.SGD(params, lr=v["lr_sgd"])
    if name == "momentum":
        return optim.SGD(params, lr=v["lr_sgd"], momentum=v["beta1"])
    if name == "rmsprop":
        return optim.RMSProp(params, lr=v["lr_adaptive"], alpha=v["beta2"])
    if name == "adam":
        return optim.Adam(params, lr=v["lr_adaptive"], beta1=v["beta1"], beta2=v["beta2"])
    return optim.AdamW(params, lr=v["lr_adaptive"], beta1=v["beta1"], beta2=v["beta2"],
                       weight_decay=v["weight_decay"])


def race(name: str, v: dict) -> dict:
    """One optimizer's path and loss per step (the loss at the point before each update)."""
    p = torch.tensor([[v["start_x"], v["start_y"]]], dtype=torch.float32, requires_grad=True)
    opt = make_optimizer(name, [p], v)
    xs, ys, losses = [], [], []
    diverged_at = None
    for t in range(v["steps"] + 1):
        loss = surface(p, v["surface"], v["kappa"], v["angle"]).sum()
        value = loss.item()
        if not math.isfinite(value) or value > BLOW_UP:
            diverged_at = t
            break
        xs.append(p[0, 0].item())
        ys.append(p[0, 1].item())
        losses.append(value)
        if t == v["steps"]:
            break
        opt.zero_grad()
        loss.backward()  # the gradient comes from autograd, not from a formula
        opt.step()
    return {"name": name, "label": LABELS[name], "x": xs, "y": ys, "loss": losses,
            "distance": [math.hypot(x - MINIMUM[0], y - MINIMUM[1]) for x, y in zip(xs, ys)],
            "diverged_at": diverged_at}


class OptimizerRaceWidget(Widget):
    def check(self, values: dict) -> None:
        if not any(values[f"show_{n}"] for n in OPTIMIZERS):
            raise ParamError("show_sgd", values["show_sgd"], "at least one optimizer switched on",
                             "show_sgd=False: switch on at least one optimizer (all five are off)")

    def compute(self, values, progress=None):
        v = values
        xs = torch.linspace(*X_RANGE, GRID)
        ys = torch.linspace(*Y_RANGE, GRID)
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)  # (y, x, 2)
        with torch.no_grad():
            z = surface(grid, v["surface"], v["kappa"], v["angle"])
        return {
            "grid": {"x": [round(a, 6) for a in xs.tolist()], "y": [round(a, 6) for a in ys.tolist()],
                     "log10_loss": [[round(math.log10(c + 1e-3), 5) for c in row] for row in z.tolist()]},
            "runs": [race(n, v) for n in OPTIMIZERS if v[f"show_{n}"]],
        }

    def figure(self, values, data):
        traces = [{"type": "contour", "x": data["grid"]["x"], "y": data["grid"]["y"],
                   "z": data["grid"]["log10_loss"], "colorscale": "Greys", "reversescale": True,
                   "showscale": False, "opacity": 0.45, "ncontours": 18, "hoverinfo": "skip",
                   "contours": {"coloring": "fill", "showlines": True}, "name": "log10 loss",
                   "showlegend": False, "xaxis": "x", "yaxis": "y"},
                  {"type": "scatter", "mode": "markers", "x": [MINIMUM[0]], "y": [MINIMUM[1]],
                   "name": "minimum", "marker": {"symbol": "star", "size": 14, "color": "#111827"},
                   "showlegend": False, "xaxis": "x", "yaxis": "y"}]
        for run in data["runs"]:
            i = OPTIMIZERS.index(run["name"])
            traces.append({"type": "scatter", "mode": "lines+markers", "x": run["x"], "y": run["y"],
                           "name": run["label"], "legendgroup": run["name"],
                           "line": {"color": color(i), "width": 2}, "marker": {"size": 3},
                           "xaxis": "x", "yaxis": "y"})
            loss = [max(value, LOSS_FLOOR) for value in run["loss"]]
            traces.append({"type": "scatter", "mode": "lines", "x": list(range(len(loss))), "y": loss,
                           "name": run["label"], "legendgroup": run["name"], "showlegend": False,
                           "line": {"color": color(i), "width": 2}, "xaxis": "x2", "yaxis": "y2"})
            if run["diverged_at"] is not None:
                traces.append({"type": "scatter", "mode": "markers+text", "x": [run["diverged_at"]],
                               "y": [BLOW_UP], "text": ["diverged"], "textposition": "bottom center",
                               "marker": {"symbol": "x", "size": 12, "color": color(i)},
                               "legendgroup": run["name"], "showlegend": False, "xaxis": "x2", "yaxis": "y2"})
        start = surface(torch.tensor([values["start_x"], values["start_y"]]), values["surface"],
                        values["kappa"], values["angle"]).item()
        layout = {
            "height": 480, "margin": {"l": 60, "r": 16, "t": 70, "b": 50}, "hovermode": "closest",
            "legend": {"orientation": "h", "x": 0, "y": 1.1, "yanchor": "bottom"},
            "xaxis": {"domain": [0, 0.47], "range": list(X_RANGE), "title": {"text": "x"}, "anchor": "y"},
            "yaxis": {"domain": [0, 1], "range": list(Y_RANGE), "title": {"text": "y"}, "anchor": "x"},
            "xaxis2": {"domain": [0.58, 1], "range": [0, values["steps"]], "title": {"text": "step"},
                       "anchor": "y2"},
            "yaxis2": {"domain": [0, 1], "type": "log", "anchor": "x2", "title": {"text": "loss (log scale)"},
                       "range": [-8, math.log10(max(start, 1e-6)) + 1.5], "exponentformat": "power"},
            "annotations": [
                {"text": "<b>paths over the loss surface</b>", "xref": "paper", "yref": "paper", "x": 0,
                 "y": 1.0, "xanchor": "left", "yanchor": "bottom", "showarrow": False},
                {"text": "<b>loss per step</b>", "xref": "paper", "yref": "paper", "x": 0.58, "y": 1.0,
                 "xanchor": "left", "yanchor": "bottom", "showarrow": False}],
        }
        return figure(traces, layout)

    def tables(self, values, data):
        every = max(1, values["steps"] // 20)
        tables = [{"caption": "Final position and loss of each optimizer",
                   "columns": ["optimizer", "steps taken", "x", "y", "loss", "distance to the minimum", "diverged at"],
                   "rows": [[r["label"], len(r["loss"]) - 1, f"{r['x'][-1]:.4g}" if r["x"] else "-",
                             f"{r['y'][-1]:.4g}" if r["y"] else "-", f"{r['loss'][-1]:.4g}" if r["loss"] else "-",
                             f"{r['distance'][-1]:.4g}" if r["distance"] else "-",
                             "-" if r["diverged_at"] is None else r["diverged_at"]] for r in data["runs"]]}]
        for r in data["runs"]:
            tables.append({"caption": f"{r['label']}: path, every {every} steps",
                           "columns": ["step", "x", "y", "loss"],
                           "rows": [[t, f"{r['x'][t]:.4g}", f"{r['y'][t]:.4g}", f"{r['loss'][t]:.4g}"]
                                    for t in range(0, len(r["loss"]), every)]})
        return tables

    def script(self, values):
        shown = [n for n in OPTIMIZERS if values[f"show_{n}"]]
        numbers = []
        for i, name in enumerate(shown):
            numbers += [Shown(f"{LABELS[name]}: final loss", ("runs", i, "loss", -1)),
                        Shown(f"{LABELS[name]}: final distance to the minimum", ("runs", i, "distance", -1)),
                        Shown(f"{LABELS[name]}: diverged at step", ("runs", i, "diverged_at"))]
        surface_text = ("Rosenbrock's banana valley" if values["surface"] == "rosenbrock" else
                        f"a quadratic valley {values['kappa']:g} times steeper across than along, rotated by "
                        f"{values['angle']:g} degrees")
        return Script(
            self.name, self.title, values, about=self.caption, numbers=tuple(numbers),
            imports="from widgets.optimizer_race import race",
            steps=(Step(f"Each optimizer moves a real 2-vector from ({values['start_x']:g}, {values['start_y']:g}) "
                        f"on {surface_text}, minimum at (1, 1): race() builds the course's optimizer (make_optimizer "
                        "in widgets/optimizer_race.py, tested against torch.optim), takes the gradient from "
                        f"autograd and steps {values['steps']} times, stopping where the loss blows up.",
                        f"result = {{'runs': [race(name, values) for name in {shown!r}]}}"),))


WIDGET = OptimizerRaceWidget(
    name="optimizer-race",
    title="Optimizer race on an ill-conditioned valley",
    caption=("Five real optimizers from the same start on a valley 100 times steeper across than along, "
             "aligned with the axes: after 150 steps plain SGD is still more than 0.5 from the minimum, while "
             "momentum and Adam end within 0.01 of it. Rotate the valley 45 degrees (advanced) and Adam ends "
             "farther away than plain SGD: its per-coordinate scaling only helps along the axes."),
    params=(
        Param("lr_sgd", "SGD learning rate", "float", 0.01, min=1e-4, max=1.0, step=0.05, log=True,
              help="For SGD and SGD + momentum. Plain SGD diverges above 2 / kappa on the valley."),
        Param("lr_adaptive", "Adaptive learning rate", "float", 0.05, min=1e-4, max=1.0, step=0.05, log=True,
              help="For RMSProp, Adam and AdamW: their steps are about this long whatever the gradient's size."),
        Param("kappa", "Conditioning kappa", "float", 100.0, min=1.0, max=1000.0, step=0.05, log=True,
              help="How many times steeper the valley is across than along (Rosenbrock: its y coefficient)."),
        Param("steps", "Steps", "int", 150, min=10, max=500, step=10, unit="steps"),
        Param("beta1", "beta1 (momentum)", "float", 0.9, min=0.0, max=0.99, step=0.01,
              help="The momentum of SGD + momentum and Adam's first-moment decay."),
        Param("beta2", "beta2", "float", 0.999, min=0.5, max=0.9999, step=0.0001,
              help="Adam's second-moment decay and RMSProp's alpha."),
        Param("surface", "Surface", "choice", "valley", choices=("valley", "rosenbrock"), advanced=True,
              help="A rotated quadratic valley, or Rosenbrock's curved banana valley."),
        Param("angle", "Valley rotation", "float", 0.0, min=0.0, max=90.0, step=5.0, unit="degrees",
              advanced=True, help="0 or 90: the valley lies along an axis, where per-coordinate scaling helps most."),
        Param("weight_decay", "AdamW weight decay", "float", 0.1, min=0.0, max=1.0, step=0.01, advanced=True,
              help="Decoupled decay pulls AdamW toward (0, 0), not toward the minimum."),
        Param("start_x", "Start x", "float", -1.4, min=-2.0, max=2.5, step=0.1, advanced=True),
        Param("start_y", "Start y", "float", 2.3, min=-1.0, max=3.0, step=0.1, advanced=True),
        Param("show_sgd", "Show SGD", "bool", True, advanced=True),
        Param("show_momentum", "Show SGD + momentum", "bool", True, advanced=True),
        Param("show_rmsprop", "Show RMSProp", "bool", True, advanced=True),
        Param("show_adam", "Show Adam", "bool", True, advanced=True),
        Param("show_adamw", "Show AdamW", "bool", True, advanced=True),
    ),
)
