"""The widgets' kit: figures, tables, number formats and training-run plumbing, in one place.

Figures are plain dicts (no plotly import on the hot path). Colours come from one palette
so "run 0" looks the same in every panel; the page's JavaScript sets fonts and background
to match light or dark mode.

Streaming figures follow one rule, so a stream can send only what is new: a partial
figure has the same traces, in the same order, as every later one, and each trace's x and
y only grow (a trace that has nothing to show yet is present and empty). The partial
layout does not change while a run streams; the final figure, built once at the end, may
add to it (zones, a verdict). tests/widgets/test_widgets_contract.py checks the rule on every
streaming widget.

Training widgets: `train_streaming` runs a TrainSpec and reports partial histories;
`history_figure` draws loss / LR / gradient-norm panels; `history_tables` lists the same
numbers. "Show the code" is widgets/script.py.
"""
from __future__ import annotations

import math
from typing import Callable

from widgets import spread
from widgets.base import Param, ParamError, Progress
from widgets.lab.trainer import LockstepTrainer, TrainSpec

REPORT_EVERY = 5  # steps between progress reports
PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"]


# --- numbers -------------------------------------------------------------------------------
def fmt(x, digits: int = 4, missing: str = "-") -> str:
    """The one number format of tables and labels: `digits` significant digits; `missing` for
    None (not measured, or not yet); NaN and inf spelled out (a run that blew up)."""
    if x is None:
        return missing
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return f"{x:.{digits}g}"


def finite(x):
    """x, or None where it is NaN or infinite (JSON has no NaN; a chart leaves a gap)."""
    return x if x is None or not isinstance(x, float) or math.isfinite(x) else None


def finite_list(xs) -> list:
    return [finite(x) for x in xs]


# --- checks shared by several widgets --------------------------------------------------------
def check_inside_run(values: dict, field: str, what: str = "must be shorter than the run",
                     steps_field: str = "steps") -> None:
    """ParamError unless values[field] < values[steps_field] (warmup, a bad step...)."""
    value, steps = values[field], values[steps_field]
    if value >= steps:
        raise ParamError(field, value, f"fewer than {steps_field} ({steps})",
                         f"{field}={value} {what} ({steps_field}={steps})")


def check_any_on(values: dict, params: tuple[Param, ...], prefix: str = "show_") -> None:
    """ParamError unless at least one of the `prefix` switches is on."""
    switches = [p.name for p in params if p.name.startswith(prefix)]
    if not any(values[name] for name in switches):
        first = switches[0]
        raise ParamError(first, values[first], "at least one optimizer switched on",
                         f"{first}=False: switch on at least one optimizer (all {len(switches)} are off)")


# --- progress --------------------------------------------------------------------------------
def reporter(progress: Progress | None, shape: Callable[[dict], dict] = lambda d: d):
    """A trainer progress hook (partial result) -> the widget's progress(data, done, total)."""
    if progress is None:
        return None

    def report(partial: dict) -> None:
        progress(shape(partial), partial["done"], partial["steps"])
    return report


def train_streaming(spec: TrainSpec, progress: Progress | None = None,
                    shape: Callable[[dict], dict] = lambda d: d, **trainer_kwargs) -> dict:
    """Train `spec` (with the trainer's hooks), reporting shape(partial) every REPORT_EVERY steps.
    With several seeds the result also has the seeds' bands and comparisons (widgets/spread.py),
    measured on the histories before `shape`."""
    trainer = LockstepTrainer(spec, **trainer_kwargs)
    history = spread.with_seeds(trainer.run(reporter(progress, shape), report_every=REPORT_EVERY))
    return {**spread.seed_keys(history), **shape(history)}


# --- figures ---------------------------------------------------------------------------------
def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def line(x, y, name: str, i: int = 0, panel: int = 1, dash: str | None = None,
         show_legend: bool = True, mode: str = "lines", group: str | None = None, **extra) -> dict:
    """One trace on panel `panel` (1-based, stacked top to bottom)."""
    suffix = "" if panel == 1 else str(panel)
    trace = {"type": "scatter", "mode": mode, "x": list(x), "y": list(y), "name": name,
             "line": {"color": color(i), "width": 2, **({"dash": dash} if dash else {})},
             "xaxis": f"x{suffix}", "yaxis": f"y{suffix}", "showlegend": show_legend,
             "legendgroup": group or name}
    trace.update(extra)
    return trace


def panels_layout(titles: list[str], x_title: str = "step", y_titles: list[str] | None = None,
                  y_log: list[bool] | None = None, y_ranges: list | None = None, height: int | None = None,
                  shared_x: bool = True, domains: list | None = None, x_axes: list[dict] | None = None) -> dict:
    """A layout of vertically stacked panels sharing the x axis (unless shared_x=False).

    `domains` ([bottom, top] per panel, top first) replaces the even split; `x_axes` (one dict
    per panel) adds to each panel's x axis (a range, a log type...).
    """
    n = len(titles)
    gap = 0.06 if n > 1 else 0.0
    size = (1 - gap * (n - 1)) / n
    top_margin = 70 if n > 1 else 40  # room for the legend above the first panel's title
    layout = {"height": height or (230 + 170 * n), "margin": {"l": 64, "r": 16, "t": top_margin, "b": 48},
              "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0,
                         **({"y": 1.0 + 40 / (230 + 170 * n)} if n > 1 else {})},
              "hovermode": "x unified", "annotations": []}
    for k in range(n):
        suffix = "" if k == 0 else str(k + 1)
        top = 1 - k * (size + gap)
        domain = domains[k] if domains else [max(0.0, top - size), top]
        layout[f"yaxis{suffix}"] = {
            "domain": list(domain), "anchor": f"x{suffix}",
            "title": {"text": (y_titles or titles)[k]},
            **({"type": "log"} if y_log and y_log[k] else {}),
            **({"range": y_ranges[k]} if y_ranges and y_ranges[k] is not None else {}),
        }
        layout[f"xaxis{suffix}"] = {"anchor": f"y{suffix}",
                                    **({"matches": "x"} if shared_x and k else {}),
                                    **({"title": {"text": x_title}} if k == n - 1 else {"showticklabels": k == n - 1}),
                                    **((x_axes or [{}] * n)[k])}
        if n > 1:
            layout["annotations"].append({"text": f"<b>{titles[k]}</b>", "xref": "paper", "yref": "paper",
                                          "x": 0, "y": domain[1], "xanchor": "left", "yanchor": "bottom",
                                          "showarrow": False})
    return layout


def fit_range(fixed, values, title: str, room: float = 1.0) -> tuple[list, str]:
    """A fixed y range grown to hold `values`, and the axis title that goes with it.

    A fixed range keeps a streaming chart still; the data may still leave it (a validation
    curve rising, a run blowing up). The top grows to the largest finite value (with a little
    headroom), up to `room` times the fixed span above the fixed top; past that the axis stops
    there and its title says "clipped at". Only the top moves: losses rise, they do not fall
    below zero."""
    lo, hi = fixed
    top = max((v for v in values if v is not None and math.isfinite(v)), default=hi)
    if top <= hi:
        return [lo, hi], title
    cap = hi + room * (hi - lo)
    if top <= cap:
        return [lo, top + 0.03 * (top - lo)], title
    return [lo, cap], f"{title} (clipped at {cap:.3g})"


def figure(traces: list[dict], layout: dict, ghost: bool = False) -> dict:
    """ghost=True asks the page to keep the previous setting's curves as faint ghosts."""
    if ghost:
        layout = {**layout, "meta": {"ghost": True}}
    return {"data": traces, "layout": layout}


def hline(y: float, x0: float, x1: float, axis: str = "", **style) -> dict:
    """A dashed horizontal line (a threshold) on panel `axis` ('', '2', ...)."""
    return {"type": "line", "xref": f"x{axis}", "yref": f"y{axis}", "x0": x0, "x1": x1, "y0": y, "y1": y,
            "line": {"dash": "dash", "color": "#6b7280", **style}}


def title(text: str, x: float, y: float) -> dict:
    """A bold panel title at paper coordinates (x, y)."""
    return {"text": f"<b>{text}</b>", "xref": "paper", "yref": "paper", "x": x, "y": y, "xanchor": "left",
            "yanchor": "bottom", "showarrow": False}


def wrap_html(text: str, width: int = 70) -> str:
    """Break text into lines of at most `width` characters for a Plotly annotation (<br>)."""
    words, lines, current = text.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    lines.append(current)
    return "<br>".join(lines)


# --- training runs: figures and tables ----------------------------------------------------------
def loss_traces(run: dict, i: int, panel: int = 1, steps=None, first: bool = True, val_mode: str = "lines+markers",
                dash: str | None = None) -> list[dict]:
    """A run's training loss and its validation loss (dots), always both traces (maybe empty)."""
    steps = range(len(run["loss"])) if steps is None else steps
    return [line(steps, run["loss"], run["label"], i, panel=panel, show_legend=first, dash=dash),
            line(run["val_steps"], run["val_loss"], f"{run['label']} (validation)", i, panel=panel, mode=val_mode,
                 dash="dot" if val_mode != "markers" else None, show_legend=False, group=run["label"],
                 marker={"size": 6})]


def band_traces(x, low, high, name: str, i: int, panel: int = 1) -> list[dict]:
    """A shaded band between `low` and `high` (the spread over seeds): the top edge, then the
    bottom edge filled up to it. Two traces that only grow, so a stream can extend them."""
    fill = "rgba({}, {}, {}, 0.18)".format(*(int(color(i)[k:k + 2], 16) for k in (1, 3, 5)))
    edge = {"width": 0, "color": color(i)}
    return [line(x, high, f"{name} (max over seeds)", i, panel=panel, show_legend=False, group=name,
                 hoverinfo="skip", **{"line": edge}),
            line(x, low, f"{name} (min over seeds)", i, panel=panel, show_legend=False, group=name,
                 hoverinfo="skip", fill="tonexty", fillcolor=fill, **{"line": edge})]


def seeded_curves(data: dict, keys=("loss", "lr", "grad_norm", "param_norm"), band_key: str = "loss",
                  panel: int = 1, first_colour: int = 0) -> list[tuple[dict, list[dict]]]:
    """(the run to draw, its band traces) per curve. With one seed: each run as it is, no band.
    With several: each curve's mean over its seeds (its `keys`, widgets/spread.py), labelled as
    such, and a band from the lowest to the highest seed's `band_key` on `panel`. Either way the
    run carries `diverged`, the steps at which its seeds diverged. Curve i is drawn in colour
    first_colour + i."""
    if spread.seed_count(data) < 2:
        return [({**run, "diverged": [d for d in [run.get("diverged_at")] if d is not None]}, [])
                for run in data["runs"]]
    out = []
    for i, runs in enumerate(spread.by_curve(data)):
        run = spread.mean_run(runs, keys)
        low, _, high = spread.per_step(runs, band_key)
        first = runs[0].get("first", 0)  # a curve drawn from a later step (a branch)
        band = band_traces(list(range(first, first + len(low))), low, high, run["label"], first_colour + i,
                           panel=panel)
        out.append(({**run, "first": first, "label": f"{run['label']} (mean of {len(runs)} seeds)"}, band))
    return out


def history_figure(data: dict, panels=("loss", "lr", "grad_norm"), loss_range=(1.5, 4.6),
                   lr_range: tuple | None = None, clip: float | None = None) -> dict:
    """Stacked panels over steps: training loss (+ validation), LR applied, gradient norm.
    With several seeds, each curve is its mean over the seeds, inside a band from their
    lowest to their highest training loss (widgets/spread.py)."""
    titles = {"loss": "loss (train solid, validation dots)", "lr": "learning rate applied",
              "grad_norm": "gradient norm before clipping", "param_norm": "parameter norm"}
    traces = []
    total = data.get("steps", 0)
    for i, (run, band) in enumerate(seeded_curves(data)):
        steps = list(range(len(run["loss"])))
        traces += band
        for k, panel in enumerate(panels, start=1):
            if panel == "loss":
                traces += loss_traces(run, i, panel=k, steps=steps, first=k == 1)
            else:
                traces.append(line(steps, run[panel], run["label"], i, panel=k, show_legend=k == 1))
        diverged = run["diverged"]
        traces.append(line(diverged, [loss_range[1] - 0.1] * len(diverged),
                           f"{run['label']} diverged", i, panel=1, mode="markers+text", show_legend=False,
                           group=run["label"], marker={"symbol": "x", "size": 14},
                           text=["diverged"] * len(diverged), textposition="top center"))
    losses = [v for run in data["runs"] for v in (*run["loss"], *run.get("val_loss", ()))]
    loss_y, loss_title = fit_range(loss_range, losses, "loss")
    y_ranges = [loss_y if p == "loss" else (lr_range if p == "lr" else None) for p in panels]
    y_titles = [loss_title if p == "loss" else p.replace("_", " ") for p in panels]
    layout = panels_layout([titles[p] for p in panels], y_titles=y_titles,
                           y_log=[p == "grad_norm" for p in panels], y_ranges=y_ranges)
    layout["xaxis"] = {**layout["xaxis"], "range": [0, max(total, 1)]}
    if clip is not None and "grad_norm" in panels:
        k = panels.index("grad_norm") + 1
        layout["shapes"] = [hline(clip, 0, total, "" if k == 1 else str(k))]
    return figure(traces, layout)


def history_tables(data: dict, every: int = 10, columns=("loss", "lr", "grad_norm", "clipped")) -> list[dict]:
    """Every `every`-th step of each run, and each run's validation losses."""
    names = {"loss": "loss", "lr": "learning rate", "grad_norm": "gradient norm", "clipped": "clipped",
             "param_norm": "parameter norm"}
    tables = []
    for run in data["runs"]:
        rows = [[t, *(fmt(run[c][t]) for c in columns)] for t in range(0, len(run["loss"]), every)]
        caption = f"{run['label']}{seed_note(run)}: training, every {every} steps"
        if run.get("diverged_at") is not None:
            caption += f" (diverged at step {run['diverged_at']})"
        tables.append({"caption": caption, "columns": ["step", *(names[c] for c in columns)], "rows": rows})
        tables.append(val_table(run))
    return tables


def seed_note(run: dict) -> str:
    """', seed N' for a run of a result with several seeds (the others carry no seed)."""
    return f", seed {run['seed']}" if "seed" in run else ""


def _three(x) -> str:
    """Three significant digits, trailing zeros kept (2.60, not 2.6), so a before/after line aligns."""
    return fmt(x) if x is None or isinstance(x, float) and not math.isfinite(x) else f"{x:#.3g}"


def run_summary(data: dict) -> list[dict]:
    """Each training run's final loss, final validation loss and divergence step, formatted
    (see Widget.summary); [] for data without runs of losses."""
    runs = data.get("runs") if isinstance(data, dict) else None
    runs = list(runs.values()) if isinstance(runs, dict) else runs
    if not isinstance(runs, list):
        return []
    summary = []
    for k, run in enumerate(runs):
        if not isinstance(run, dict) or not run.get("loss"):
            continue
        numbers = {"run": str(run.get("label", f"run {k + 1}")) + seed_note(run), "final loss": _three(run["loss"][-1])}
        if run.get("val_loss"):
            numbers["validation loss"] = _three(run["val_loss"][-1])
        if "diverged_at" in run:
            numbers["diverged"] = "no" if run["diverged_at"] is None else f"at step {run['diverged_at']}"
        summary.append(numbers)
    return summary


def val_table(run: dict, caption: str | None = None) -> dict:
    return {"caption": caption or f"{run['label']}{seed_note(run)}: validation loss", "columns": ["step", "validation loss"],
            "rows": [[s, fmt(v)] for s, v in zip(run["val_steps"], run["val_loss"])]}
