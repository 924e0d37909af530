"""Train the tiny GPT with the learner's code beside PyTorch's: runs INSIDE the sandbox
(app/exercises/training_job.py ships this file, the lab's model.py as lab_model.py, the corpus
and the learner's module). Never imported by the web process or a worker.

Both models start from the same weights and see the same batches; they differ only where
the learner's piece replaces PyTorch's:

    optimizer   learner's AdamW          vs torch.optim.AdamW
    clip        learner's clip_grad_norm_ vs torch.nn.utils.clip_grad_norm_ (AdamW both)
    schedule    learner's cosine_with_warmup vs torch LambdaLR on the reference formula

One JSON line per step on fd 3: {"nonce", "step", "yours", "torch"} (the losses), then
{"nonce", "done": true}; or {"nonce", "error": message} when the learner's code fails.
"""
import importlib
import json
import math
import os
import traceback

import torch

import lab_model


def emit(nonce, **fields):
    os.write(3, (json.dumps({"nonce": nonce, **fields}) + "\n").encode())


def reference_lr(step, warmup, steps, max_lr, min_lr):
    if step < warmup:
        return max_lr * step / warmup
    if step > steps:
        return min_lr
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))


def main():
    with open("train_spec.json", encoding="utf-8") as handle:
        spec = json.load(handle)
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
    try:
        learner = importlib.import_module(spec["module"])
    except BaseException as exc:
        emit(nonce, error=f"importing your code failed: {type(exc).__name__}: {exc}")
        return
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
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        torch_opt, lambda s: reference_lr(s, warmup, steps, lr, min_lr) / lr) if kind == "schedule" else None
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
                where = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(spec["module"] + ".py")]
                line = f" (line {where[-1].lineno} of your code)" if where else ""
                emit(nonce, error=f"at step {step}, your code raised {type(exc).__name__}: {exc}{line}")
                return
        if scheduler is not None:
            scheduler.step()
        emit(nonce, step=step, yours=losses["yours"], torch=losses["torch"])
    emit(nonce, done=True)


if __name__ == "__main__":
    main()
