"""Layer health: per-layer telemetry of the tiny GPT, with a fault planted in one run.

A healthy run and a copy with one planted fault train in lockstep, from the same initial
weights on the same batches (widgets/lab/layer_health.py): one layer's weight matrices
initialised too large, one layer's parameters at too high a learning rate, or attention
without QK-norm. Per step and layer the chart shows the activation RMS, the gradient RMS,
the update-to-weight ratio and the largest attention logit as small multiples (a row per
quantity, a column per layer, each row on one scale), so the faulty layer is the column
where the two runs' curves part. "healthy" trains the healthy run alone.

The advanced controls switch the model's stability features in both runs: norm placement
(Pre-LN, peri-LN/sandwich, Post-LN), QK-norm, tanh soft caps on the attention and output
logits (Gemma 2), GPT-2's residual init scaling and scaled token embeddings.

With several seeds (`seeds`) every seed trains the healthy run and its faulty copy in the
same pass; each cell draws a run's mean over the seeds inside the band of its lowest and
highest seed.
"""
from __future__ import annotations

import math

from widgets import spread
from widgets.base import Param, ParamError, Widget
from widgets.kit import REPORT_EVERY, band_traces, figure, finite_list, fmt, hline, line, reporter, seed_note, val_table
from widgets.lab.layer_health import METRICS, Fault
from widgets.lab.model import GPTConfig
from widgets.lab.schedules import cosine_to_floor
from widgets.lab.trainer import RunConfig, TrainSpec
from widgets.script import Shown, training_script
from widgets.spread import SEEDS_PARAM

BATCH_SIZE = 8  # sequences per step
BLOCK_SIZE = 32  # characters per sequence
WARMUP = 10
N_HEAD = 4
# the planted fault: (value in URLs and keys, label), and the lab's name for it (Fault.kind)
FAULT_CHOICES = (("healthy", "healthy"), ("bad-init", "bad init"), ("high-lr", "high LR"),
                 ("no-qk-norm", "no QK-norm"))
FAULT_KIND = dict(FAULT_CHOICES)
LAYER_FAULTS = ("bad-init", "high-lr")  # the faults that sit in one layer, with a size
LAYOUTS = ("pre-ln", "peri-ln", "post-ln")
# the chart's rows: key, short axis title (a phone has room for little more), log axis?
ROWS = (("act_rms", "act RMS", True), ("grad_rms", "grad RMS", True), ("update_ratio", "ΔW / W", True),
        ("attn_logit", "max logit", False))
NAMES = {"act_rms": "activation RMS", "grad_rms": "gradient RMS", "update_ratio": "update / weight",
         "attn_logit": "largest attention logit"}


def finish(result: dict, layers: int) -> dict:
    """The runs' histories as the chart shows them: NaN-free (a run that blew up leaves gaps; JSON
    has no NaN), with the number of layers."""
    for run in result["runs"]:
        run["loss"] = finite_list(run["loss"])
        run["max_attn_logit"] = finite_list(run.get("max_attn_logit", []))
        for key in METRICS:
            run[key] = [finite_list(row) for row in run[key]]
    result["layers"] = layers
    return result


class LayerHealthWidget(Widget):
    # --- parameters -----------------------------------------------------------------
    def canonicalize(self, raw) -> dict:
        """As every widget, then one spelling per run: the fault's layer and size are reset to
        their defaults where the fault has none, and QK-norm is on under 'no QK-norm' (the
        healthy run has it; the fault is that the other run does not)."""
        values = super().canonicalize(raw)
        if values["fault"] not in LAYER_FAULTS:
            values["fault_layer"] = self.param("fault_layer").default
            values["fault_factor"] = self.param("fault_factor").default
        if values["fault"] == "no-qk-norm":
            values["qk_norm"] = True
        return values

    def check(self, values: dict) -> None:
        if values["fault"] in LAYER_FAULTS and values["fault_layer"] > values["n_layer"]:
            raise ParamError("fault_layer", values["fault_layer"], f"a layer from 1 to n_layer ({values['n_layer']})",
                             f"fault_layer={values['fault_layer']} is not a layer of this model: "
                             f"n_layer={values['n_layer']}, so 1 to {values['n_layer']}")

    # --- the runs -------------------------------------------------------------------
    @staticmethod
    def fault(values: dict) -> Fault:
        return Fault(FAULT_KIND[values["fault"]], values["fault_layer"] - 1, values["fault_factor"])

    @staticmethod
    def labels(values: dict) -> tuple[str, ...]:
        kind, layer, factor = values["fault"], values["fault_layer"], f"{values['fault_factor']:.3g}"
        if kind == "healthy":
            return ("healthy",)
        if kind == "no-qk-norm":
            return ("healthy (QK-norm)", "no QK-norm")
        return ("healthy", f"layer {layer} {'init' if kind == 'bad-init' else 'LR'} ×{factor}")

    def spec(self, values: dict) -> TrainSpec:
        steps, layout = values["steps"], values["layout"]
        schedule = cosine_to_floor(values["peak_lr"], WARMUP, steps)
        model = GPTConfig(block_size=BLOCK_SIZE, n_layer=values["n_layer"], n_head=N_HEAD,
                          post_ln=layout == "post-ln", sandwich_norm=layout == "peri-ln", qk_norm=values["qk_norm"],
                          attn_softcap=values["attn_softcap"], logit_softcap=values["logit_softcap"],
                          residual_init_scale=values["residual_init_scale"], embed_scale=values["embed_scale"])
        return TrainSpec(model=model, runs=tuple(RunConfig(label, schedule) for label in self.labels(values)),
                         steps=steps, batch_size=BATCH_SIZE, seed=self.seed, eval_every=25, record_attention=True,
                         seeds=values["seeds"])

    def trainer(self, values: dict):
        return self.fault(values).trainer(self.spec(values))

    def compute(self, values, progress=None):
        layers = values["n_layer"]
        return spread.with_seeds(finish(self.trainer(values).run(
            reporter(progress, lambda partial: finish(partial, layers)), report_every=REPORT_EVERY), layers))

    # --- drawing ---------------------------------------------------------------------
    def figure(self, values, data):
        layers = values["n_layer"]
        traces = []
        several = spread.seed_count(data) > 1
        for i, runs in enumerate(spread.by_curve(data)):
            label = runs[0]["label"] + (f" (mean of {len(runs)} seeds)" if several else "")
            for row, (key, _, _) in enumerate(ROWS):
                for layer in range(layers):
                    panel = row * layers + layer + 1
                    per_seed = [{"y": [s[layer] for s in run.get(key, [])]} for run in runs]
                    if several:  # each layer's band: lowest to highest seed, and the seeds' mean
                        low, mean, high = (finite_list(v) for v in spread.per_step(per_seed, "y"))
                        traces += band_traces(range(len(mean)), low, high, label, i, panel=panel)
                    else:
                        mean = per_seed[0]["y"]
                    traces.append(line(
                        range(len(mean)), mean, label, i, panel=panel, show_legend=row == 0 and layer == 0,
                        group=label, hovertemplate=f"{label}<br>layer {layer + 1}, step %{{x}}<br>"
                                                   f"{NAMES[key]}: %{{y:.3g}}<extra></extra>"))
        layout = grid_layout(len(ROWS), layers, [title for _, title, _ in ROWS], [log for _, _, log in ROWS],
                             data["steps"])
        layout["shapes"] = [hline(bound, 0, data["steps"], _suffix((len(ROWS) - 1) * layers + layer + 1))
                            for bound in self.logit_bounds(values) for layer in range(layers)]
        return figure(traces, layout)

    @staticmethod
    def logit_bounds(values: dict) -> list[float]:
        """Dashed lines on the attention-logit row: QK-norm's sqrt(head dim), and the soft cap."""
        bounds = [math.sqrt(GPTConfig().n_embd // N_HEAD)] if values["qk_norm"] else []
        return bounds + ([values["attn_softcap"]] if values["attn_softcap"] else [])

    def tables(self, values, data):
        layers = values["n_layer"]
        summary = {"caption": "Each layer at the first and the last step (largest attention logit: over the run)",
                   "columns": ["run", "layer", "activation RMS, first", "activation RMS, last", "gradient RMS, last",
                               "update / weight, first", "update / weight, last", "largest attention logit"],
                   "rows": []}
        tables = [summary]
        for run in data["runs"]:
            n = len(run["act_rms"])
            for layer in range(layers):
                at = {key: [s[layer] for s in run[key]] for key in METRICS}
                first, last = ({key: series[i] if n else None for key, series in at.items()} for i in (0, -1))
                logits = [x for x in at["attn_logit"] if x is not None]
                summary["rows"].append([run["label"] + seed_note(run), layer + 1,
                                        fmt(first["act_rms"]), fmt(last["act_rms"]),
                                        fmt(last["grad_rms"]), fmt(first["update_ratio"]),
                                        fmt(last["update_ratio"]), fmt(max(logits) if logits else None)])
            steps = sorted(set(range(0, n, 10)) | ({n - 1} if n else set()))
            caption = f"{run['label']}{seed_note(run)}: each layer every 10 steps"
            if run.get("diverged_at") is not None:
                caption += f" (diverged at step {run['diverged_at']})"
            tables.append({"caption": caption, "columns": ["step", "layer", *(NAMES[k] for k in METRICS)],
                           "rows": [[t, layer + 1, *(fmt(run[k][t][layer]) for k in METRICS)]
                                    for t in steps for layer in range(layers)]})
            tables.append(val_table(run))
        return tables

    def script(self, values):
        spec, fault, layers = self.spec(values), self.fault(values), values["n_layer"]
        numbers = []
        for i, label in enumerate(self.labels(values)):
            for layer in range(layers):
                numbers += [Shown(f"{label}, layer {layer + 1}: activation RMS at step 0", ("runs", i, "act_rms", 0, layer)),
                            Shown(f"{label}, layer {layer + 1}: update / weight at step 0",
                                  ("runs", i, "update_ratio", 0, layer)),
                            Shown(f"{label}, layer {layer + 1}: activation RMS at the end", ("runs", i, "act_rms", -1, layer))]
            numbers.append(Shown(f"{label}: final validation loss", ("runs", i, "val_loss", -1)))
        planted = self.param("fault").label_of(values["fault"])
        return training_script(
            self, values, spec,
            "The healthy run and, unless the fault is 'healthy', a copy with one fault planted: same initial "
            "weights, same batches, one model with the stability switches the advanced controls set.",
            f"The planted fault ({planted}): its trainer plants it in run 1 after the shared initialisation "
            "and records, per step, run and layer, the activation RMS, the gradient RMS, the update-to-weight "
            "ratio and the largest attention logit (the LayerHealth hook in widgets/lab/layer_health.py).",
            train=f"fault = Fault({fault.kind!r}, layer={fault.layer}, factor={fault.factor!r})\n"
                  f"result = finish(fault.trainer(spec).run(), layers={layers})\n"
                  "for run in result['runs']:\n"
                  "    largest = max((x for step in run['attn_logit'] for x in step if x is not None), default=None)\n"
                  "    print(f\"{run['label']}: largest attention logit over the run: {largest}\")",
            extra_imports=("widgets.lab.layer_health:Fault", "widgets.layer_health:finish"),
            numbers=tuple(numbers))


def _suffix(cell: int) -> str:
    return "" if cell == 1 else str(cell)


def grid_layout(rows: int, cols: int, y_titles: list[str], y_log: list[bool], steps: int) -> dict:
    """Small multiples: rows x cols cells, cell (r, c) is panel r * cols + c + 1. The same fixed x
    range in every cell, one y scale per row (so the layers compare); tick labels on the left
    column and the bottom row only; column titles in a strip at the top of the plot area."""
    strip, gap_x, gap_y = 0.05, 0.025, 0.05
    width = (1 - gap_x * (cols - 1)) / cols
    height = (1 - strip - gap_y * (rows - 1)) / rows
    layout = {"height": 150 + 125 * rows, "margin": {"l": 56, "r": 8, "t": 36, "b": 44},
              "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
              "hovermode": "closest", "showlegend": True, "annotations": []}
    for r in range(rows):
        top = 1 - strip - r * (height + gap_y)
        for c in range(cols):
            cell = r * cols + c + 1
            left = c * (width + gap_x)
            layout[f"xaxis{_suffix(cell)}"] = {
                "domain": [left, left + width], "anchor": f"y{_suffix(cell)}", "showticklabels": r == rows - 1,
                # two ticks, 0 and the middle: a label at the right end would run into the next cell's 0
                "tickvals": [0, max(steps, 1) // 2], "range": [0, max(steps, 1)],  # (matched x axes stop autorange)
                **({"title": {"text": "step"}} if r == rows - 1 and c == 0 else {})}
            layout[f"yaxis{_suffix(cell)}"] = {
                "domain": [max(0.0, top - height), top], "anchor": f"x{_suffix(cell)}", "showticklabels": c == 0,
                **({"type": "log", "dtick": 1, "exponentformat": "power"} if y_log[r] else {"nticks": 4}),
                **({"title": {"text": y_titles[r]}} if c == 0 else {"matches": f"y{_suffix(r * cols + 1)}"})}
    for c in range(cols):
        layout["annotations"].append({"text": f"<b>layer {c + 1}</b>", "xref": "paper", "yref": "paper",
                                      "x": c * (width + gap_x) + width / 2, "y": 1 - strip, "xanchor": "center",
                                      "yanchor": "bottom", "showarrow": False})
    return layout


WIDGET = LayerHealthWidget(
    name="layer-health",
    title="Layer health: find the faulty layer",
    caption=("Two real runs of a 4-layer tiny GPT in lockstep, same initial weights and batches, except that in "
             "one of them layer 2's weight matrices start 10 times too large. From the first step that layer's "
             "activation RMS is more than 10 times the healthy run's, and its update-to-weight ratio is several "
             "times smaller: the same Adam step moves weights that are ten times larger."),
    streams=True,
    params=(
        Param("fault", "Planted fault", "choice", "bad-init", choices=FAULT_CHOICES,
              # the values were these labels until choices became (value, label): old links still work
              aliases=tuple((label, value) for value, label in FAULT_CHOICES if label != value),
              help="What the second run gets wrong: one layer's weight matrices start too large (bad init), one "
                   "layer's parameters train at too high an LR (high LR), or its attention has no QK-norm while the "
                   "healthy run's has (no QK-norm). 'healthy' trains the healthy run alone."),
        Param("fault_layer", "Faulty layer", "int", 2, min=1, max=6, step=1,
              help="The layer with the bad init or the high LR (1 is nearest the input)."),
        Param("fault_factor", "Fault size", "float", 10.0, min=2.0, max=100.0, step=0.05, log=True, unit="×",
              help="How many times too large that layer's initial weights, or its learning rate, are."),
        Param("peak_lr", "Learning rate", "float", 1e-3, min=1e-4, max=3e-2, step=0.05, log=True,
              help="The peak LR of both runs: 10 warmup steps, then cosine decay to 10% of it."),
        Param("steps", "Training steps", "int", 100, min=20, max=300, step=10, unit="steps"),
        SEEDS_PARAM,
        Param("n_layer", "Layers", "int", 4, min=2, max=6, step=1, advanced=True),
        Param("layout", "Norm placement", "choice", "pre-ln", choices=LAYOUTS, advanced=True,
              help="Pre-LN (GPT-2: a norm before each sublayer); peri-LN, also called sandwich (Gemma 2, OLMo-2: "
                   "also a norm on each sublayer's output, before it joins the residual stream); Post-LN (the "
                   "original Transformer: a norm after each residual add)."),
        Param("qk_norm", "QK-norm", "bool", False, advanced=True,
              help="RMS-normalise queries and keys per head in both runs: an attention logit can then not exceed "
                   "sqrt(16) = 4. Under the fault 'no QK-norm' it is on: the healthy run has it, the other lacks it."),
        Param("attn_softcap", "Attention soft cap", "float", 0.0, min=0.0, max=100.0, step=1.0,
              advanced=True, help="Both runs' attention logits become cap·tanh(logit / cap) (Gemma 2 uses 50): "
                                  "never beyond the cap. 0 switches it off."),
        Param("logit_softcap", "Output soft cap", "float", 0.0, min=0.0, max=100.0, step=1.0,
              advanced=True, help="The same tanh cap on the output logits (Gemma 2 uses 30). 0 switches it off."),
        Param("residual_init_scale", "Scale residual init by 1/√(2·layers)", "bool", True, advanced=True,
              help="GPT-2's init: the projections that write into the residual stream start at std "
                   "0.02/sqrt(2·n_layer) instead of 0.02, so the stream does not grow with depth at the start."),
        Param("embed_scale", "Scale embeddings by √d", "bool", False, advanced=True,
              help="Multiply the token embeddings by sqrt(64) = 8 on the way in (Gemma; Takase et al. 2023, "
                   "'Spike No More')."),
    ),
)
