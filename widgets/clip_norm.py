"""Global-norm clipping on one real gradient of the tiny GPT, tensor by tensor.

The model trains to the chosen step (same run for every choice: the schedule is
fixed to 200 steps), then takes the gradient of that step's batch, or of a
corrupted batch (one character repeated), and clips it with the course's own
`clip_grad_norm`. Every tensor's gradient is scaled by the same factor
min(1, c / ||g||), so the bars all drop by the same amount on the log axis.
"""
from __future__ import annotations


from widgets.base import Param, Widget
from widgets.kit import color, figure, fmt
from widgets.lab.clip import clip_grad_norm, global_grad_norm
from widgets.lab.corrupt import BAD_CHAR, constant_batch
from widgets.lab.model import GPTConfig
from widgets.lab.schedules import cosine_to_floor
from widgets.lab.trainer import LockstepTrainer, RunConfig, TrainSpec
from widgets.script import Script, Shown, Step

BATCH_SIZE = 8
BLOCK_SIZE = 32
RUN_STEPS = 200  # the schedule of the run we stop in: fixed, so step s is the same run whatever s
PEAK_LR = 6e-3
Y_RANGE_LOG10 = [-5, 2]


def train_spec(seed: int) -> TrainSpec:
    return TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE),
                     runs=(RunConfig("run", cosine_to_floor(PEAK_LR, 10, RUN_STEPS)),),
                     steps=RUN_STEPS, batch_size=BATCH_SIZE, seed=seed, eval_every=0)


def gradient_at(step: int, bad: bool, seed: int) -> tuple[LockstepTrainer, float]:
    """Train `step` steps, then fill .grad with the next batch's gradient. Returns (trainer, loss)."""
    trainer = LockstepTrainer(train_spec(seed))
    for _ in range(step):
        trainer.train_step()
    x, y = trainer.batches.next()  # the batch step `step` would train on
    if bad:
        x, y = constant_batch(x)  # 'ZZZZ...': the model is confidently wrong on all of it
    trainer.model.zero_grad()
    _, loss = trainer.model(x.to(trainer.device), y.to(trainer.device))
    loss.sum().backward()
    return trainer, float(loss.item())


def clip_report(model, threshold: float) -> dict:
    """Clip the model's gradient (in .grad) at `threshold` with the course's own clip_grad_norm, and
    report every tensor's norm before and after, and the global norm before and after."""
    named = list(model.named_parameters())
    raw = [float(p.grad.norm()) for _, p in named]
    before = clip_grad_norm([p for _, p in named], threshold)  # the course's own clipping
    clipped = [float(p.grad.norm()) for _, p in named]
    after = float(global_grad_norm([p for _, p in named]))
    return {"names": [n for n, _ in named], "raw": raw, "clipped": clipped, "norm_before": float(before),
            "norm_after": after, "scale": min(1.0, threshold / (float(before) + 1e-6)), "threshold": threshold}


class ClipNormWidget(Widget):
    def compute(self, values, progress=None):
        trainer, loss = gradient_at(values["step"], values["bad_batch"], self.seed)
        return {**clip_report(trainer.model, values["threshold"]), "loss": loss, "device": trainer.device,
                "step": values["step"], "bad_batch": values["bad_batch"]}

    def figure(self, values, data):
        names = data["names"]
        bars = [
            {"type": "bar", "x": names, "y": data["raw"], "name": "raw gradient norm",
             "marker": {"color": color(0)}, "xaxis": "x", "yaxis": "y"},
            {"type": "bar", "x": names, "y": data["clipped"], "name": "after clipping",
             "marker": {"color": color(1)}, "xaxis": "x", "yaxis": "y"},
            {"type": "bar", "orientation": "h", "y": ["before", "after"], "x": [data["norm_before"], data["norm_after"]],
             "marker": {"color": [color(0), color(1)]}, "name": "global norm", "showlegend": False,
             "text": [f"{data['norm_before']:.3g}", f"{data['norm_after']:.3g}"], "textposition": "outside",
             "cliponaxis": False, "xaxis": "x2", "yaxis": "y2"},
        ]
        c = data["threshold"]
        batch = f"corrupted batch ('{BAD_CHAR}' repeated)" if data["bad_batch"] else "its training batch"
        layout = {
            "height": 620, "margin": {"l": 64, "r": 24, "t": 90, "b": 150}, "barmode": "group",
            "hovermode": "closest",
            "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "yref": "paper"},
            "xaxis": {"anchor": "y", "tickangle": -60, "tickfont": {"size": 10}, "automargin": True},
            "yaxis": {"type": "log", "range": Y_RANGE_LOG10, "domain": [0.0, 0.66], "anchor": "x",
                      "title": {"text": "gradient norm (log)"}},
            "xaxis2": {"type": "log", "range": [-2.2, 2.2], "anchor": "y2", "side": "top",
                       "title": {"text": f"global L2 norm (log); dashed line: threshold c = {c:.3g}", "standoff": 4}},
            "yaxis2": {"domain": [0.8, 0.93], "anchor": "x2"},
            "shapes": [{"type": "line", "xref": "x2", "yref": "y2 domain", "x0": c, "x1": c, "y0": 0, "y1": 1,
                        "line": {"dash": "dash", "color": "#6b7280"}}],
            "annotations": [
                {"text": (f"<b>step {data['step']}, {batch}</b>: loss {data['loss']:.2f}, "
                          f"scale = min(1, {c:.3g} / {data['norm_before']:.3g}) = {data['scale']:.3g}"),
                 "xref": "paper", "yref": "paper", "x": 0, "y": 0.72, "xanchor": "left", "yanchor": "bottom",
                 "showarrow": False},
            ],
        }
        return figure(bars, layout)

    def tables(self, values, data):
        rows = [[n, fmt(r), fmt(c), fmt(c / r) if r > 0 else "-"]
                for n, r, c in zip(data["names"], data["raw"], data["clipped"])]
        summary = [["global norm before", fmt(data["norm_before"])], ["global norm after", fmt(data["norm_after"])],
                   ["threshold c", fmt(data["threshold"])], ["scale min(1, c/||g||)", fmt(data["scale"])],
                   ["loss on the batch", fmt(data["loss"])]]
        return [{"caption": "Gradient norm of each parameter tensor", "rows": rows,
                 "columns": ["tensor", "raw norm", "clipped norm", "clipped / raw"]},
                {"caption": "The whole gradient", "columns": ["quantity", "value"], "rows": summary}]

    def script(self, values):
        step, bad, c = values["step"], values["bad_batch"], values["threshold"]
        batch = "a corrupted batch (one character repeated)" if bad else "the batch that step trains on"
        return Script(
            self.name, self.title, values, about=self.caption,
            imports="import torch\nfrom widgets.clip_norm import clip_report, gradient_at",
            numbers=(Shown("loss on the batch", ("loss",)), Shown("global norm before clipping", ("norm_before",)),
                     Shown("global norm after clipping", ("norm_after",)), Shown("scale", ("scale",)),
                     Shown("first tensor's norm before", ("raw", 0)), Shown("first tensor's norm after", ("clipped", 0))),
            steps=(
                Step(f"Train the tiny GPT for {step} steps, then fill .grad with the gradient of {batch}.",
                     f"trainer, loss = gradient_at(step={step}, bad={bad}, seed={self.seed})\n"
                     "params = list(trainer.model.parameters())\n"
                     "copies = [p.detach().clone().requires_grad_() for p in params]\n"
                     "for p, q in zip(params, copies):\n"
                     "    q.grad = p.grad.clone()"),
                Step(f"Clip at c = {c:g} with the course's clip_grad_norm, every tensor by the same factor "
                     "min(1, c / ||g||), and the copies with torch's clip_grad_norm_: the same gradients.",
                     f"result = {{**clip_report(trainer.model, {c!r}), 'loss': loss}}\n"
                     f"torch.nn.utils.clip_grad_norm_(copies, {c!r})\n"
                     "print('same clipped gradients as torch:',\n"
                     "      all(torch.allclose(p.grad, q.grad, rtol=1e-5, atol=0) for p, q in zip(params, copies)))"),
            ))


WIDGET = ClipNormWidget(
    name="clip-norm",
    title="Clipping one gradient, tensor by tensor",
    caption=("A real gradient of the tiny GPT at step 40 on a corrupted batch (one character repeated): its global "
             "norm is far above the threshold 1, and clipping scales every tensor's bar by the same factor, "
             "so the gradient keeps its direction."),
    params=(
        Param("threshold", "Clipping threshold c", "float", 1.0, min=0.01, max=100.0, step=0.05, log=True,
              help="The global norm is capped at c: every gradient is multiplied by min(1, c / ||g||)."),
        Param("bad_batch", "Corrupted batch (one character repeated)", "bool", True,
              help="Off: the gradient of the step's real training batch."),
        Param("step", "Take the gradient at step", "int", 40, min=0, max=200, step=10, unit="steps",
              help="The model trains to this step first (Adam, cosine schedule), then takes one gradient."),
    ),
)
