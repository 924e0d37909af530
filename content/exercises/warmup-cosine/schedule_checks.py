"""What the warmup-cosine tests share: the schedule from PyTorch's CosineAnnealingLR after a
linear warmup in any of the three conventions in use (warmup.py), and the common bugs."""
import math

import torch

from checks import compare_series, fail, likely_cause
from warmup import convention_of, no_convention_message, warmup_fraction


def pytorch_schedule(warmup_steps, max_steps, max_lr, min_lr, steps, convention="zero-start"):
    """The warmup written out (PyTorch's LinearLR cannot start at 0), then
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
            out.append(max_lr * warmup_fraction(step, warmup_steps, convention))
        elif step <= max_steps:
            out.append(decay[step - warmup_steps])
        else:
            out.append(min_lr)
    return out


def formula(step, warmup_steps, max_steps, max_lr, min_lr, convention="zero-start", bug=None):
    """The schedule with one known bug (bug=None: the right one)."""
    if step < warmup_steps:
        if bug == "ramp-over-max-steps":
            return max_lr * step / max_steps
        if bug == "below-zero":
            return max_lr * (step - 1) / warmup_steps
        if bug == "no-warmup":
            return max_lr
        return max_lr * warmup_fraction(step, warmup_steps, convention)
    if bug == "no-decay":
        return max_lr
    if step > max_steps and bug != "rises-again":
        return min_lr
    floor = 0.0 if bug == "to-zero" else min_lr
    progress = {"from-step-zero": step / max_steps,
                "late-end": (step - warmup_steps) / max_steps}.get(bug, (step - warmup_steps) / (max_steps - warmup_steps))
    amplitude = max_lr if bug == "wrong-peak" else max_lr - floor
    return floor + 0.5 * amplitude * (1 + math.cos(math.pi * progress))


WARMUP_CAUSES = {
    "ramp-over-max-steps": "the warmup ramp is measured against max_steps instead of warmup_steps, so it "
                           "reaches only a fraction of max_lr before the decay starts",
    "below-zero": "the warmup starts below zero: (step - 1) gives a negative LR at step 0",
    "no-warmup": "no warmup: the LR is max_lr from step 0",
}
CAUSES = {
    "no-decay": "the LR never decays after warmup: it should fall along the cosine to min_lr at max_steps",
    "to-zero": "the cosine decays to 0 instead of to min_lr (the wrong floor): use "
               "min_lr + 0.5 * (max_lr - min_lr) * (...)",
    "wrong-peak": "the decay starts at max_lr + min_lr (the wrong peak): the cosine's amplitude is "
                  "max_lr - min_lr",
    "from-step-zero": "the cosine's progress is counted from step 0, not from the end of warmup (off by a "
                      "whole warmup length): the decay has already begun when warmup ends",
    "late-end": "the decay runs over max_steps steps after warmup, so it ends a whole warmup length late: "
                "divide by max_steps - warmup_steps",
    "rises-again": "after max_steps the cosine goes on and the LR rises again: hold min_lr from max_steps on",
}


def check_schedule(learner, *, warmup_steps, max_steps, max_lr, min_lr, steps):
    steps = list(steps)
    yours = [learner.cosine_with_warmup(s, warmup_steps=warmup_steps, max_steps=max_steps,
                                        max_lr=max_lr, min_lr=min_lr) for s in steps]
    what = f"the LR (warmup_steps={warmup_steps}, max_steps={max_steps})"
    args = (warmup_steps, max_steps, max_lr, min_lr)
    convention = convention_of(yours, steps, warmup_steps, max_lr)
    if convention is None:
        cause = likely_cause(yours, {text: [formula(s, *args, bug=bug) for s in steps]
                                     for bug, text in WARMUP_CAUSES.items()}, rtol=1e-6, atol=1e-12)
        fail(f"{what}: " + (f"Likely cause: {cause}" if cause else
                            no_convention_message(yours, steps, warmup_steps, max_lr)))
    theirs = pytorch_schedule(*args, steps, convention)
    bugs = {text: [formula(s, *args, convention, bug) for s in steps] for bug, text in CAUSES.items()}
    compare_series(what, yours, theirs, rtol=1e-6, atol=1e-12, bugs=bugs, reference="PyTorch", at=steps)
