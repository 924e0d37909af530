"""Train the tiny GPT with the learner's code beside a reference: runs INSIDE the sandbox
(app/exercises/training_job.py ships this file, the lab's model.py as lab_model.py, the corpus,
the exercise's helper modules and the learner's module). Never imported by the web process or
a worker. The learner's code need not pass its tests: seeing what a bug does to training is
the point.

Both models start from the same weights and see the same batches; they differ only where
the learner's piece replaces the reference:

    optimizer   learner's AdamW             vs torch.optim.AdamW
    clip        learner's clip_grad_norm_   vs torch.nn.utils.clip_grad_norm_ (AdamW both)
    schedule    learner's cosine_with_warmup vs torch LambdaLR on the formula, in the learner's
                warmup convention (one of the three in use; 0 at step 0 if it follows none)
    config      the learner's CONFIG        vs the exercise's fixed one (capstone_run.py trains both)

One JSON line per step on fd 3: {"nonce", "step", "yours", "torch"} (the losses; null where a
loss is not finite: the run diverged), with "lr_yours" and "lr_torch" for a config; then
{"nonce", "done": true}; or {"nonce", "error": message} when the learner's code fails.
"""
import importlib
import json
import math
import os
import traceback

import torch

import lab_model

CONVENTIONS = {"zero-start": lambda s, w: s / w, "course": lambda s, w: (s + 1) / w,
               "nanogpt": lambda s, w: (s + 1) / (w + 1)}


def finite(value):
    """The value, or None where it is nan or inf (JSON has neither)."""
    value = float(value)
    return value if math.isfinite(value) else None


def emit(nonce, **fields):
    fields = {k: finite(v) if isinstance(v, float) else v for k, v in fields.items()}
    os.write(3, (json.dumps({"nonce": nonce, **fields}, allow_nan=False) + "\n").encode())


def reference_lr(step, warmup, steps, max_lr, min_lr, convention="zero-start"):
    if step < warmup:
        return max_lr * CONVENTIONS[convention](step, warmup)
    if step > steps:
        return min_lr
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))


def convention_of(learner, warmup, steps, max_lr, min_lr):
    """The warmup convention the learner's schedule follows (so that a correct schedule in any
    of them trains like the reference); 'zero-start' when it follows none."""
    try:
        mine = [float(learner.cosine_with_warmup(s, warmup_steps=warmup, max_steps=steps, max_lr=max_lr,
                                                 min_lr=min_lr)) for s in range(warmup)]
    except Exception:
        return "zero-start"  # the training loop reports the error itself
    for name in CONVENTIONS:
        if all(abs(v - reference_lr(s, warmup, steps, max_lr, min_lr, name)) <= 1e-9 * max_lr
               for s, v in enumerate(mine)):
            return name
    return "zero-start"


def where_in(exc, module):
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(module + ".py")]
    return f" (line {frames[-1].lineno} of your code)" if frames else ""


def main():
    with open("train_spec.json", encoding="utf-8") as handle:
        spec = json.load(handle)
    os.remove("train_spec.json")  # read before the learner's code runs
    nonce, kind = spec["nonce"], spec["kind"]
    try:
        learner = importlib.import_module(spec["module"])
    except BaseException as exc:
        emit(nonce, error=f"importing your code failed: {type(exc).__name__}: {exc}")
        return
    if kind == "config":
        train_config(spec, learner)
    else:
        train_piece(spec, learner)


def train_config(spec, learner):
    """The capstone: the learner's config and the fixed one, each trained by capstone_run."""
    import capstone_run

    nonce = spec["nonce"]
    config = getattr(learner, "CONFIG", None)
    found = capstone_run.problems(config)
    if found:
        emit(nonce, error="your config cannot be trained: " + "; ".join(found))
        return
    reference = capstone_run.run(spec["reference"])
    ref_loss, ref_lr = reference["loss"], reference["lr"]
    yours_lr = [capstone_run.lr_at(config, s) for s in range(capstone_run.run_length(config))]

    def on_step(step, loss):
        emit(nonce, step=step, yours=loss, torch=ref_loss[step] if step < len(ref_loss) else None,
             lr_yours=yours_lr[step], lr_torch=ref_lr[step] if step < len(ref_lr) else None)

    capstone_run.run(config, on_step=on_step)
    emit(nonce, done=True)


def train_piece(spec, learner):
    nonce, kind, steps = spec["nonce"], spec["kind"], spec["steps"]
    with open("corpus.txt", encoding="utf-8") as handle:
        text = handle.read()
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    tokens = torch.tensor([lookup[c] for c in text], dtype=torch.long)
    config = lab_model.GPTConfig(vocab_size=len(chars), block_size=spec["block_size"], n_layer=2,
                                 n_head=4, n_embd=spec["n_embd"])
    yours_model = lab_model.TinyGPT(config).init_weights(spec["seed"])
    torch_model = lab_model.TinyGPT(config).init_weights(spec["seed"])
    lr, warmup, min_lr = spec["lr"], spec["warmup"], spec["lr"] / 10
    try:
        if kind == "optimizer":
            yours_opt = learner.AdamW(yours_model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
        else:
            yours_opt = torch.optim.AdamW(yours_model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    except BaseException as exc:
        emit(nonce, error=f"creating your optimizer failed: {type(exc).__name__}: {exc}")
        return
    torch_opt = torch.optim.AdamW(torch_model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    scheduler = None
    if kind == "schedule":
        convention = convention_of(learner, warmup, steps, lr, min_lr)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            torch_opt, lambda s: reference_lr(s, warmup, steps, lr, min_lr, convention) / lr)
    generator = torch.Generator().manual_seed(spec["seed"] + 1)
    for step in range(steps):
        starts = torch.randint(len(tokens) - config.block_size - 1, (spec["batch_size"],), generator=generator)
        offsets = torch.arange(config.block_size)
        x, y = tokens[starts[:, None] + offsets], tokens[starts[:, None] + offsets + 1]
        losses = {}
        for name, model, optimizer in (("yours", yours_model, yours_opt), ("torch", torch_model, torch_opt)):
            try:
                if kind == "schedule" and name == "yours":
                    for group in optimizer.param_groups:
                        group["lr"] = float(learner.cosine_with_warmup(
                            step, warmup_steps=warmup, max_steps=steps, max_lr=lr, min_lr=min_lr))
                optimizer.zero_grad(set_to_none=True)
                _, loss = model(x, y)
                loss.sum().backward()
                if kind == "clip":
                    clip = learner.clip_grad_norm_ if name == "yours" else torch.nn.utils.clip_grad_norm_
                    clip(model.parameters(), spec["max_norm"])
                optimizer.step()
                losses[name] = float(loss.detach().sum())
            except BaseException as exc:
                if name == "torch":
                    raise
                emit(nonce, error=f"at step {step}, your code raised {type(exc).__name__}: {exc}"
                                  f"{where_in(exc, spec['module'])}")
                return
        if scheduler is not None:
            scheduler.step()
        emit(nonce, step=step, yours=losses["yours"], torch=losses["torch"])
    emit(nonce, done=True)


if __name__ == "__main__":
    main()
