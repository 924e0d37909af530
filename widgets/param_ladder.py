"""The parameter ladder: how many numbers a GPT configuration really holds.

Every count comes from instantiating the real model (the course's TinyGPT with one
run) on PyTorch's meta device, which records shapes without allocating memory, and
adding up its tensors with `count_parameters`. The fixed rungs are counted the same
way from their configurations, except one published figure, which is labelled so.
"""
from __future__ import annotations

from functools import lru_cache

import torch

from widgets.base import Param, ParamError, Widget
from widgets.lab.model import GPTConfig, TinyGPT, count_parameters
from widgets.kit import color, figure
from widgets.script import Script, Shown, Step, imports, pretty

# GPT-2 family: learned positions, biases, tied embeddings, vocab 50257, context 1024
GPT2 = dict(vocab_size=50257, block_size=1024, bias=True, tie_weights=True)
PRESETS: dict[str, dict] = {
    "gpt2": dict(n_layer=12, n_embd=768, n_head=12, **GPT2),
    "gpt2-medium": dict(n_layer=24, n_embd=1024, n_head=16, **GPT2),
    "gpt2-large": dict(n_layer=36, n_embd=1280, n_head=20, **GPT2),
    "gpt2-xl": dict(n_layer=48, n_embd=1600, n_head=25, **GPT2),
    "this-course": {f: getattr(GPTConfig(), f) for f in
                    ("n_layer", "n_embd", "n_head", "vocab_size", "block_size", "bias", "tie_weights")},
}
# GPT-3 175B's configuration (Brown et al. 2020, table 2.1), GPT-2's layout
GPT3 = GPTConfig(vocab_size=50257, block_size=2048, n_layer=96, n_head=96, n_embd=12288, bias=True,
                 tie_weights=True)
HYBRID_PUBLISHED = 852_985_920  # a published figure: 6 full-attention + 18 linear-recurrent layers
X_RANGE_LOG10 = [-0.3, 12.3]  # fixed: 0.5 to 2e12 parameters, so your bar visibly moves
TICKS = ["1", "100", "10k", "1M", "100M", "10B", "1T"]


def config_of(values: dict) -> GPTConfig:
    return GPTConfig(vocab_size=values["vocab_size"], block_size=values["block_size"],
                     n_layer=values["n_layer"], n_head=values["n_head"], n_embd=values["n_embd"],
                     bias=values["bias"], tie_weights=values["tie_weights"])


def count(config: GPTConfig) -> dict:
    """Build the real model on the meta device (shapes only, no memory) and count one run."""
    with torch.device("meta"):
        model = TinyGPT(config, runs=1)
    return count_parameters(model)


@lru_cache(maxsize=1)
def fixed_rungs() -> tuple[dict, ...]:
    """The ladder's fixed rungs, counted once per process (they never change)."""
    line_fit = sum(p.numel() for p in torch.nn.Linear(1, 1).parameters())  # y = a x + b
    return (
        {"label": "a line y = a·x + b", "params": line_fit, "source": "counted (torch.nn.Linear(1, 1))"},
        {"label": "this course's tiny GPT", "params": count(GPTConfig())["total"],
         "source": "counted (GPTConfig() defaults)"},
        {"label": "hybrid (6 attention + 18 linear-recurrent)", "params": HYBRID_PUBLISHED,
         "source": "published figure (not counted here)"},
        {"label": "GPT-2 XL", "params": count(GPTConfig(**PRESETS["gpt2-xl"]))["total"],
         "source": "counted (48 layers, 1600 wide)"},
        {"label": "GPT-3 (175B published)", "params": count(GPT3)["total"],
         "source": "counted (96 layers, 12288 wide, context 2048); the paper rounds to 175B"},
    )


def times(rung: int, yours: int) -> str:
    """'N× your model' with three significant figures."""
    ratio = rung / yours
    if ratio >= 1:
        text = f"{ratio:,.0f}" if ratio >= 100 else f"{ratio:.3g}"
        return f"{text}× your model"
    return f"1/{1 / ratio:,.0f} of your model" if 1 / ratio >= 100 else f"{ratio:.3g}× your model"


def _millions(n: int) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.3g}{suffix}"
    return str(n)


class ParamLadderWidget(Widget):
    def canonicalize(self, raw):
        values = {p.name: p.parse(raw.get(p.name)) for p in self.params}
        if values["preset"] != "custom":  # a preset sets every slider it names
            values.update(PRESETS[values["preset"]])
        self.check(values)
        return values

    def check(self, values: dict) -> None:
        if values["n_embd"] % values["n_head"]:
            divisors = [h for h in range(1, 129) if values["n_embd"] % h == 0]
            raise ParamError("n_head", values["n_head"], f"a divisor of n_embd={values['n_embd']} "
                             f"({', '.join(map(str, divisors[-6:]))}, ...)",
                             f"n_head={values['n_head']} must divide the width n_embd={values['n_embd']}: "
                             f"each head gets n_embd / n_head channels")

    def compute(self, values, progress=None):
        counts = count(config_of(values))
        return {"yours": counts, "rungs": [dict(r) for r in fixed_rungs()]}

    def figure(self, values, data):
        yours = data["yours"]["total"]
        bars = sorted(data["rungs"] + [{"label": "your model", "params": yours, "source": "counted"}],
                      key=lambda r: (r["params"], r["label"] != "your model"))
        labels = [r["label"] for r in bars]
        text = [f"{r['params']:,} (you)" if r["label"] == "your model"
                else f"{r['params']:,} = {times(r['params'], yours)}" for r in bars]
        ladder = {"type": "bar", "orientation": "h", "y": labels, "x": [r["params"] for r in bars],
                  "text": text, "cliponaxis": False, "name": "parameters",
                  "textposition": ["inside" if r["params"] > 1e8 else "outside" for r in bars],
                  "insidetextanchor": "end", "insidetextfont": {"color": "#ffffff"},
                  "marker": {"color": [color(1) if r["label"] == "your model" else color(0) for r in bars]},
                  "hovertemplate": "%{y}: %{x:,} parameters<extra></extra>", "showlegend": False,
                  "xaxis": "x", "yaxis": "y"}
        split = []
        for i, (part, rows) in enumerate((("embedding", ("embedding", "non_embedding")),
                                          ("decay", ("decayed", "not_decayed")))):
            for j, key in enumerate(rows):
                n = data["yours"][key]
                split.append({"type": "bar", "orientation": "h", "y": [f"{part} split"], "x": [100 * n / yours],
                              "name": key.replace("_", " "), "text": [f"{key.replace('_', ' ')} {_millions(n)}"],
                              "textposition": "inside", "insidetextanchor": "middle",
                              "marker": {"color": color(2 + 2 * i + j)}, "xaxis": "x2", "yaxis": "y2",
                              "hovertemplate": f"{key.replace('_', ' ')}: {n:,} (%{{x:.1f}}%)<extra></extra>",
                              "showlegend": False})
        config = config_of(values)
        title = (f"<b>your model: {yours:,} parameters</b><br>({config.n_layer} layers, width {config.n_embd}, "
                 f"{config.n_head} heads, vocab {config.vocab_size:,}, context {config.block_size:,}, "
                 f"{'tied' if config.tie_weights else 'untied'} embeddings)")
        layout = {
            "height": 580, "margin": {"l": 24, "r": 24, "t": 72, "b": 48}, "barmode": "stack",
            "hovermode": "closest", "showlegend": False,
            "xaxis": {"type": "log", "range": X_RANGE_LOG10, "anchor": "y",
                      "title": {"text": "parameters (log scale)", "standoff": 4},
                      "tickvals": [10 ** k for k in range(0, 13, 2)], "ticktext": TICKS, "tickangle": 0},
            "yaxis": {"domain": [0.42, 1.0], "anchor": "x", "automargin": True},
            "xaxis2": {"range": [0, 100], "anchor": "y2", "title": {"text": "share of your model's parameters (%)"}},
            "yaxis2": {"domain": [0.0, 0.17], "anchor": "x2", "automargin": True},
            "annotations": [
                {"text": title, "xref": "paper", "yref": "paper", "x": 0, "y": 1.0, "xanchor": "left",
                 "yanchor": "bottom", "showarrow": False, "yshift": 8},
                {"text": "<b>where your parameters sit</b><br>(embeddings: token + position tables; "
                         "decayed: weight matrices)", "xref": "paper", "yref": "paper", "x": 0, "y": 0.17,
                 "xanchor": "left", "yanchor": "bottom", "showarrow": False},
            ],
        }
        return figure([ladder] + split, layout)

    def tables(self, values, data):
        yours = data["yours"]["total"]
        ladder = sorted(data["rungs"], key=lambda r: r["params"])
        rows = [[r["label"], f"{r['params']:,}", times(r["params"], yours), r["source"]] for r in ladder]
        rows.append(["your model", f"{yours:,}", "1× your model", "counted"])
        split = [[key.replace("_", " "), f"{data['yours'][key]:,}", f"{100 * data['yours'][key] / yours:.1f}%"]
                 for key in ("total", "embedding", "non_embedding", "decayed", "not_decayed")]
        return [{"caption": "The ladder: parameter counts", "columns": ["model", "parameters", "relative", "source"],
                 "rows": rows},
                {"caption": "Your model's parameters by group", "columns": ["group", "parameters", "share"],
                 "rows": split}]

    def script(self, values):
        config = config_of(values)
        numbers = [Shown(f"your model: {key.replace('_', ' ')} parameters", ("yours", key))
                   for key in ("total", "embedding", "non_embedding", "decayed", "not_decayed")]
        numbers += [Shown(f"{rung['label']}: parameters", ("rungs", k, "params")) for k, rung in enumerate(fixed_rungs())]
        return Script(
            self.name, self.title, values, about=self.caption, numbers=tuple(numbers),
            imports=imports(config, extra=("widgets.param_ladder:count", "widgets.param_ladder:fixed_rungs")),
            steps=(Step("Your configuration, as the sliders set it.", f"config = {pretty(config)}"),
                   Step("Count its parameters by building the real model on PyTorch's meta device (shapes only, "
                        "no memory: even GPT-3's configuration costs nothing), and count the ladder's fixed rungs "
                        "the same way (one published figure is labelled so).",
                        "result = {'yours': count(config), 'rungs': [dict(rung) for rung in fixed_rungs()]}")))


WIDGET = ParamLadderWidget(
    name="param-ladder",
    title="The parameter ladder",
    caption=("Your configuration starts as this course's tiny GPT: 108,352 parameters, counted from the real "
             "model, about 1.6 million times fewer than GPT-3's configuration counts."),
    params=(
        Param("preset", "Preset", "choice", "custom",
              choices=("custom",) + tuple(PRESETS),
              help="A preset sets the sliders below to a known model; choose custom to steer them yourself."),
        Param("n_layer", "Layers", "int", 2, min=1, max=128, step=1, unit="blocks"),
        Param("n_embd", "Width (n_embd)", "int", 64, min=32, max=16384, step=32, unit="channels"),
        Param("n_head", "Attention heads", "int", 4, min=1, max=128, step=1,
              help="Must divide the width: each head gets n_embd / n_head channels."),
        Param("vocab_size", "Vocabulary", "int", 65, min=2, max=262144, step=1, unit="tokens",
              help="65 characters for tiny Shakespeare; 50,257 BPE tokens for GPT-2 and GPT-3."),
        Param("block_size", "Context length (block_size)", "int", 64, min=1, max=32768, step=1, unit="tokens",
              help="Learned positions: one embedding row per position."),
        Param("tie_weights", "Tie input and output embeddings", "bool", True,
              help="GPT-2 reuses the token-embedding matrix as the output layer."),
        Param("bias", "Biases in linear layers and norms", "bool", True, advanced=True),
    ),
)
