"""Precision: number formats, fp16 underflow and loss scaling, bf16 training.

Top: a value you type, stored in fp32, tf32, fp16, bf16, fp8 e4m3 and e5m2 by real
torch casts; the bars are the formats' sign/exponent/mantissa fields with the real
bits. TF32 has no torch dtype: it is emulated by rounding the fp32 mantissa to 10 bits.
Second: the real gradient of the tiny GPT times a small factor (the small gradients of
a big model), times the loss scale S, cast to fp16: the share of entries that become 0
(underflow) or inf (overflow) for every S. Third: the real dynamic loss-scaling loop
(GradScaler's logic) for a few training steps from your S. Bottom: three runs from the
same seed (same initial weights, same batches): fp32, bf16 autocast with fp32 master
weights, and weights kept in bf16.

With several seeds, each curve's trainer stacks its seeds and run_together steps the trainers
side by side; lab/seeds.py's seed_major orders the runs seed-major.
"""
from __future__ import annotations

import math

import torch

from widgets import spread
from widgets.base import Param, Widget
from widgets.kit import (REPORT_EVERY, figure, finite, fmt, line, loss_traces, panels_layout, seed_note,
                         seeded_curves, val_table)
from widgets.spread import SEEDS_PARAM
from widgets.lab.data import BatchStream, load_corpus
from widgets.lab.model import GPTConfig, TinyGPT
from widgets.lab.precision import (FORMATS, MODES, DynamicLossScaler, LossScaling, bit_fields, cast, finfo,
                                   fp16_cast_stats, precision_trainer)
from widgets.lab.schedules import Schedule, cosine_to_floor
from widgets.lab.seeds import seed_major
from widgets.lab.trainer import LockstepTrainer, RunConfig, TrainSpec, run_together
from widgets.script import Script, Shown, Step, imports, pretty

BATCH_SIZE = 8
BLOCK_SIZE = 32
SCALES = list(range(0, 25))  # log2 S on the underflow panel
SCALER_STEPS = 12
GROWTH_INTERVAL = 3  # GradScaler's default is 2000; 3 lets the loop grow the scale within a few steps
PART_COLORS = {"sign": "#dc2626", "exponent": "#2563eb", "mantissa": "#059669"}


def formats(value: float) -> list[dict]:
    """`value` stored in every format by a real torch cast: its bit fields, the stored value and its
    relative error, and the format's range."""
    x = torch.tensor(value, dtype=torch.float64)
    rows = []
    for form in FORMATS:
        stored = float(cast(x.float(), form))
        sign, exponent, mantissa = bit_fields(x, form)
        if x == 0:
            rel = 0.0 if stored == 0 else None
        else:
            rel = abs(stored - float(x)) / abs(float(x)) if math.isfinite(stored) else None
        info = finfo(form)
        rows.append({"name": form.name, "widths": [form.sign, form.exponent, form.mantissa],
                     "bits": [sign, exponent, mantissa], "stored": finite(stored),
                     "stored_text": repr(stored) if not math.isfinite(stored) else f"{stored:.10g}",
                     "rel_error": rel, "max": info["max"], "tiny": info["tiny"], "eps": info["eps"],
                     "emulated": form.dtype is None})
    return rows


def model_gradient(grad_factor: float, seed: int) -> torch.Tensor:
    """The tiny GPT's real gradient at its initial weights on the first batch, times `grad_factor`
    (the small gradients of a big model), flattened into one vector."""
    model = TinyGPT(GPTConfig(block_size=BLOCK_SIZE), runs=1).init_weights(seed)
    x, y = BatchStream(load_corpus().train, BATCH_SIZE, BLOCK_SIZE, seed).next()
    _, loss = model(x, y)
    (loss.sum() * grad_factor).backward()
    return torch.cat([p.grad.detach().flatten() for p in model.parameters()])


def fp16_shares(grad: torch.Tensor) -> dict:
    """For every loss scale S = 2^k on the panel: the share of the gradient's non-zero entries that
    flush to 0, and that overflow to inf, when grad x S is cast to fp16."""
    shares = [fp16_cast_stats(grad, 2.0 ** k) for k in SCALES]
    return {"log2_scale": SCALES, "underflow": [s["underflow"] for s in shares],
            "overflow": [s["overflow"] for s in shares]}


def scaler_loop(scale_log2: int, grad_factor: float, lr: float, seed: int) -> dict:
    """The dynamic loss-scaling loop: fp16 gradients of loss * S, skip on inf, grow after good steps
    (the one training loop with lab/precision.py's LossScaling hook)."""
    spec = TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE),
                     runs=(RunConfig("scaled", Schedule("constant", lr, 0, SCALER_STEPS, lr)),),
                     steps=SCALER_STEPS, batch_size=BATCH_SIZE, seed=seed, eval_every=0)
    scaling = LossScaling(DynamicLossScaler(2.0 ** scale_log2, growth_interval=GROWTH_INTERVAL), factor=grad_factor)
    run = LockstepTrainer(spec, hooks=[scaling]).run()["runs"][0]
    return {"log2_scale": scaling.log2_scale, "skipped": scaling.skipped, "underflow": scaling.underflow,
            "loss": run["loss"]}


def shown_run(mode: str, history: dict) -> dict:
    """What the chart shows of one precision mode's run (and its seed, with several)."""
    return {"label": mode, **{k: history[k] for k in ("loss", "val_steps", "val_loss", "lost_updates", "seed")
                              if k in history}}


class PrecisionWidget(Widget):
    def spec(self, values: dict) -> TrainSpec:
        steps, lr = values["steps"], values["lr"]
        return TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE), runs=(RunConfig("run", cosine_to_floor(lr, 5, steps)),),
                         steps=steps, batch_size=BATCH_SIZE, seed=self.seed, eval_every=10, seeds=values["seeds"])

    def compute(self, values, progress=None):
        underflow = fp16_shares(model_gradient(values["grad_factor"], self.seed))
        steps = values["steps"]
        trainers = [precision_trainer(self.spec(values), mode) for mode in MODES]
        data = {"formats": formats(values["value"]), "fp16": underflow, "device": trainers[0].device,
                "scaler": {"log2_scale": [], "skipped": [], "underflow": [], "loss": []}, "steps": steps}

        def with_runs(done: int) -> dict:  # each trainer: one mode under every seed (lab/seeds.py)
            runs = seed_major([[shown_run(mode, run) for run in t.result()["runs"]] for mode, t in zip(MODES, trainers)])
            return spread.with_seeds({**data, "runs": runs, "done": done})

        if progress is not None:
            progress(with_runs(0), 0, steps)
        data["scaler"] = scaler_loop(values["scale_log2"], values["grad_factor"], values["lr"], self.seed)
        report = None if progress is None else (lambda done: progress(with_runs(done), done, steps))
        run_together(trainers, report, REPORT_EVERY)
        return with_runs(steps)

    def figure(self, values, data):
        traces = []
        names = [f["name"] for f in data["formats"]][::-1]
        rows = data["formats"][::-1]
        for part, k in (("sign", 0), ("exponent", 1), ("mantissa", 2)):
            traces.append({"type": "bar", "orientation": "h", "y": names, "x": [r["widths"][k] for r in rows],
                           "name": part, "marker": {"color": PART_COLORS[part]},
                           "text": [r["bits"][k] for r in rows], "textposition": "inside",
                           "insidetextanchor": "middle", "textfont": {"family": "monospace", "color": "#ffffff"},
                           "xaxis": "x", "yaxis": "y", "legendgroup": "bits",
                           "hovertemplate": "%{y}: " + part + " %{x} bits %{text}<extra></extra>"})
        traces.append({"type": "scatter", "mode": "text", "y": names, "x": [33] * len(rows),
                       "text": [f"{r['stored_text']}  (rel. err {fmt(r['rel_error'])})" for r in rows],
                       "textposition": "middle right", "showlegend": False, "xaxis": "x", "yaxis": "y",
                       "hoverinfo": "skip"})
        fp16 = data["fp16"]
        share_top = 0.3 if max(fp16["underflow"] + fp16["overflow"]) <= 0.3 else 1.0
        traces.append(line(fp16["log2_scale"], fp16["underflow"], "fp16: share flushed to 0", 1, panel=2))
        traces.append(line(fp16["log2_scale"], fp16["overflow"], "fp16: share overflowed to inf", 3, panel=2))
        sc = data["scaler"]
        traces.append(line(range(len(sc["log2_scale"])), sc["log2_scale"], "dynamic scaler: log2 S", 4, panel=3,
                           mode="lines+markers"))
        skipped = [t for t, s in enumerate(sc["skipped"]) if s]
        traces.append(line(skipped, [sc["log2_scale"][t] for t in skipped], "step skipped (inf found)", 1,
                           panel=3, mode="markers", marker={"symbol": "x", "size": 12}))
        for i, (run, band) in enumerate(seeded_curves(data, keys=("loss", "lost_updates"), panel=4, first_colour=5)):
            traces += band  # with several seeds: every seed's training loss, lowest to highest
            traces += loss_traces(run, 5 + i, panel=4)
            traces.append(line(range(len(run["lost_updates"])), run["lost_updates"], run["label"], 5 + i, panel=5,
                               show_legend=False, group=run["label"]))
        layout = panels_layout(
            [f"{values['value']:g} in each format: sign | exponent | mantissa bits (x: bit count), stored value",
             "real gradient x S cast to fp16 (x: log2 S)", "dynamic loss scaling, real training steps (x: step)",
             "loss: fp32 vs bf16 autocast vs bf16 weights (same seed)",
             "share of non-zero updates that left the weight unchanged (rounded away)"],
            y_titles=["format", "share", "log2 S", "loss", "share"], shared_x=False, height=1300,
            y_ranges=[None, [0, share_top], [-1, 25], [2.8, 4.4], [0, 1]],
            x_axes=[{"range": [0, 62], "tickvals": [0, 8, 16, 24, 32], "showticklabels": True},
                    {"range": [0, 24], "showticklabels": True},
                    {"range": [-0.5, SCALER_STEPS - 0.5], "showticklabels": True},
                    {"range": [0, data["steps"]], "showticklabels": True},
                    {"range": [0, data["steps"]], "matches": "x4"}])
        layout["margin"]["t"] = 120
        layout["legend"]["y"] = 1.07
        layout["barmode"] = "stack"
        layout["hovermode"] = "closest"
        layout["shapes"] = [{"type": "line", "xref": "x2", "yref": "y2", "x0": values["scale_log2"],
                             "x1": values["scale_log2"], "y0": 0, "y1": 1, "line": {"dash": "dot", "color": "#6b7280"}}]
        return figure(traces, layout)

    def tables(self, values, data):
        tables = [{"caption": f"{values['value']:g} stored in each format (torch casts; tf32 emulated)",
                   "columns": ["format", "sign|exponent|mantissa widths", "bits", "stored value", "relative error",
                               "max", "smallest normal", "eps"],
                   "rows": [[f["name"] + (" (emulated)" if f["emulated"] else ""), "/".join(map(str, f["widths"])),
                             " | ".join(f["bits"]), f["stored_text"], fmt(f["rel_error"]), fmt(f["max"], 5),
                             fmt(f["tiny"], 5), fmt(f["eps"], 5)] for f in data["formats"]]},
                  {"caption": "Share of non-zero gradient entries lost when grad x S is cast to fp16",
                   "columns": ["log2 S", "flushed to 0", "inf"],
                   "rows": [[k, fmt(u), fmt(o)] for k, u, o in zip(data["fp16"]["log2_scale"],
                                                                     data["fp16"]["underflow"],
                                                                     data["fp16"]["overflow"])]},
                  {"caption": "Dynamic loss scaling loop", "columns": ["step", "log2 S", "skipped", "flushed to 0", "loss"],
                   "rows": [[t, fmt(s), fmt(k), fmt(u), fmt(l)] for t, (s, k, u, l) in
                            enumerate(zip(*(data["scaler"][c] for c in ("log2_scale", "skipped", "underflow", "loss"))))]}]
        for run in data["runs"]:
            tables.append(val_table(run))
            tables.append({"caption": f"{run['label']}{seed_note(run)}: training loss and share of updates rounded away, every 5 steps",
                           "columns": ["step", "loss", "updates rounded away"],
                           "rows": [[t, fmt(run["loss"][t]), fmt(run["lost_updates"][t])]
                                    for t in range(0, len(run["loss"]), 5)]})
        return tables

    def script(self, values):
        spec, k = self.spec(values), values["scale_log2"]
        numbers = [Shown(f"{form.name}: stored value", ("formats", i, "stored")) for i, form in enumerate(FORMATS)]
        numbers += [Shown("fp16 at S = 1: share flushed to 0", ("fp16", "underflow", 0)),
                    Shown(f"fp16 at S = 2^{k}: share flushed to 0", ("fp16", "underflow", k)),
                    Shown(f"fp16 at S = 2^{k}: share overflowed", ("fp16", "overflow", k)),
                    Shown("dynamic scaler: log2 S at the end", ("scaler", "log2_scale", -1))]
        for i, mode in enumerate(MODES):
            numbers += [Shown(f"{mode}: final validation loss", ("runs", i, "val_loss", -1)),
                        Shown(f"{mode}: share of updates rounded away at the end", ("runs", i, "lost_updates", -1))]
        return Script(
            self.name, self.title, values, about=self.caption, numbers=tuple(numbers),
            imports=imports(spec, extra=("widgets.lab.precision:MODES", "widgets.lab.precision:precision_trainer",
                                         "widgets.precision:formats", "widgets.precision:fp16_shares",
                                         "widgets.precision:model_gradient", "widgets.precision:scaler_loop",
                                         "widgets.precision:shown_run", "widgets.lab.seeds:seed_major")),
            steps=(
                Step(f"{values['value']:g} stored in fp32, tf32, fp16, bf16 and the two fp8 formats by real torch "
                     "casts (tf32 has no torch dtype: it is emulated by rounding fp32's mantissa to 10 bits).",
                     "stored = formats(values['value'])\n"
                     "for row in stored:\n"
                     "    print(f\"{row['name']:>9}: {' | '.join(row['bits'])} -> {row['stored_text']}\")"),
                Step(f"The tiny GPT's real gradient times {values['grad_factor']:g} (the small gradients of a big "
                     "model), times a loss scale S, cast to fp16: the share of its entries lost to 0 or inf, for "
                     "every S from 2^0 to 2^24.",
                     f"fp16 = fp16_shares(model_gradient({values['grad_factor']!r}, seed={self.seed}))"),
                Step(f"The dynamic loss-scaling loop (GradScaler's logic) for a few real training steps from "
                     f"S = 2^{k}: skip a step whose fp16 gradient overflows and halve S, grow S after good steps.",
                     f"scaler = scaler_loop({k}, {values['grad_factor']!r}, {values['lr']!r}, seed={self.seed})"),
                Step("Three runs from the same seed (same initial weights, same batches): fp32, bf16 autocast with "
                     "fp32 master weights, and weights kept in bf16.",
                     f"spec = {pretty(spec)}\n"
                     "runs = seed_major([[shown_run(mode, run) for run in precision_trainer(spec, mode).run()['runs']]\n"
                     "                   for mode in MODES])\n"
                     "result = {'formats': stored, 'fp16': fp16, 'scaler': scaler, 'runs': runs}"),
            ))


WIDGET = PrecisionWidget(
    name="precision",
    title="Number formats, fp16 loss scaling and bf16 training",
    caption=("0.1 has no exact binary form: fp16 stores 0.0999755859375, a relative error of 2.4e-4. "
             "At S = 1, about 12% of the real gradient's non-zero entries flush to zero in fp16, at S = 2^8 only "
             "0.2%; bf16 autocast tracks fp32 within 0.01 in loss, while with bf16 weights a growing share of "
             "updates (about half by the end, as the LR decays) rounds away and the loss lags."),
    streams=True,
    params=(
        Param("value", "Value to store", "float", 0.1, min=-1e6, max=1e6, step=0.001, control="number",
              help="Try 0.1, 1/3, 448, 500, 70000 or 1e-8."),
        Param("scale_log2", "Loss scale S (log2)", "int", 8, min=0, max=24, step=1, unit="log2",
              help="The loss (so every gradient) is multiplied by 2^this before the fp16 cast."),
        Param("grad_factor", "Gradient size factor", "float", 1e-3, min=1e-6, max=1.0, step=0.05, log=True,
              advanced=True, help="Multiplies the loss: stands in for the much smaller gradients of a big model."),
        Param("lr", "Learning rate (training runs)", "float", 1e-3, min=1e-5, max=1e-2, step=0.05, log=True),
        Param("steps", "Training steps", "int", 40, min=10, max=150, step=10, unit="steps"),
        SEEDS_PARAM,
    ),
)
