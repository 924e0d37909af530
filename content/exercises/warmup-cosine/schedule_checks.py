"""What the warmup-cosine tests share: the schedule from PyTorch's schedulers, and the bugs."""
import math

import torch

from checks import compare_series


def pytorch_schedule(warmup_steps, max_steps, max_lr, min_lr, steps):
    """LinearLR-style warmup written out (PyTorch's LinearLR cannot start at 0), then
    torch.optim.lr_scheduler.CosineAnnealingLR stepped through the decay."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=max_lr)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, max_steps - warmup_steps),
                                                        eta_min=min_lr)
    decay = []
    for _ in range(max_steps - warmup_steps + 1):
        decay.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        cosine.step()
    out = []
    for step in steps:
        if step < warmup_steps:
            out.append(max_lr * step / warmup_steps)
        elif step <= max_steps:
            out.append(decay[step - warmup_steps])
        else:
            out.append(min_lr)
    return out


def formula(step, warmup_steps, max_steps, max_lr, min_lr, shift=0):
    if step < warmup_steps:
        return max_lr * (step + shift) / warmup_steps
    if step > max_steps:
        return min_lr
    progress = (step - warmup_steps) / (max_steps - warmup_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))


def check_schedule(learner, *, warmup_steps, max_steps, max_lr, min_lr, steps):
    steps = list(steps)
    yours = [learner.cosine_with_warmup(s, warmup_steps=warmup_steps, max_steps=max_steps,
                                        max_lr=max_lr, min_lr=min_lr) for s in steps]
    theirs = pytorch_schedule(warmup_steps, max_steps, max_lr, min_lr, steps)
    args = (warmup_steps, max_steps, max_lr, min_lr)
    bugs = {
        "warmup off by one: the LR at step s should be max_lr * s / warmup_steps (0 at step 0), "
        "not (s + 1) / warmup_steps": [formula(s, *args, shift=1) for s in steps],
        "the cosine decays to 0 instead of to min_lr: use min_lr + 0.5 * (max_lr - min_lr) * (...)":
            [formula(s, warmup_steps, max_steps, max_lr, 0.0) if s <= max_steps else min_lr for s in steps],
        "the cosine's progress is counted from step 0, not from the end of warmup":
            [max_lr * s / warmup_steps if s < warmup_steps else (min_lr if s > max_steps else
             min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * s / max_steps))) for s in steps],
    }
    compare_series(f"the LR (warmup_steps={warmup_steps}, max_steps={max_steps})", yours, theirs,
                   rtol=1e-6, atol=1e-12, bugs=bugs,
                   reference="PyTorch", at=steps)
