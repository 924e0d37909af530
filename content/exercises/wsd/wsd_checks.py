"""What the WSD tests share: the decay branch from PyTorch's LinearLR after a linear warmup in
any of the three conventions in use (warmup.py) and a stable phase, and the common bugs."""
import torch

from checks import compare_series, fail, likely_cause
from warmup import convention_of, no_convention_message, warmup_fraction


def pytorch_wsd(warmup_steps, decay_steps, max_steps, max_lr, min_lr, steps, convention="zero-start"):
    """The decay branch from torch.optim.lr_scheduler.LinearLR, the rest written out."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=max_lr)
    linear = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1.0, end_factor=min_lr / max_lr,
                                               total_iters=decay_steps)
    branch = []
    for _ in range(decay_steps + 1):
        branch.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        linear.step()
    start = max_steps - decay_steps
    out = []
    for s in steps:
        if s < warmup_steps:
            out.append(max_lr * warmup_fraction(s, warmup_steps, convention))
        elif s < start:
            out.append(max_lr)
        elif s <= max_steps:
            out.append(branch[s - start])
        else:
            out.append(min_lr)
    return out


def variant(s, warmup_steps, decay_steps, max_steps, max_lr, min_lr, convention="zero-start", bug=None):
    """The schedule with one known bug (bug=None: the right one)."""
    if s < warmup_steps:
        if bug == "ramp-over-max-steps":
            return max_lr * s / max_steps
        if bug == "below-zero":
            return max_lr * (s - 1) / warmup_steps
        return max_lr * warmup_fraction(s, warmup_steps, convention)
    start = {"decay-from-warmup": warmup_steps, "decay-late": max_steps - decay_steps + 1,
             "decay-early": max_steps - decay_steps - 1}.get(bug, max_steps - decay_steps)
    if s < start or bug == "no-decay":
        return max_lr
    end = 0.0 if bug == "to-zero" else min_lr
    if s >= max_steps:
        return end
    return max_lr + (end - max_lr) * (s - start) / (max_steps - start)


WARMUP_CAUSES = {
    "ramp-over-max-steps": "the warmup ramp is measured against max_steps instead of warmup_steps, so it "
                           "reaches only a fraction of max_lr before the stable phase",
    "below-zero": "the warmup starts below zero: (step - 1) gives a negative LR at step 0",
}
CAUSES = {
    "decay-from-warmup": "the decay starts right after warmup; it should start at max_steps - decay_steps "
                         "(the stable phase holds max_lr until then)",
    "decay-late": "the decay starts one step late: at max_steps - decay_steps the LR is still max_lr, and "
                  "the next step must already be below it",
    "decay-early": "the decay starts one step early: it runs from max_steps - decay_steps to max_steps",
    "no-decay": "the LR never decays: the last decay_steps steps fall linearly to min_lr",
    "to-zero": "the decay branch ends at 0 instead of min_lr (the wrong floor)",
}


def check_wsd(learner, *, warmup_steps, decay_steps, max_steps, max_lr, min_lr, steps):
    steps = list(steps)
    kwargs = dict(warmup_steps=warmup_steps, decay_steps=decay_steps, max_steps=max_steps,
                  max_lr=max_lr, min_lr=min_lr)
    yours = [learner.wsd(s, **kwargs) for s in steps]
    what = f"the LR (warmup {warmup_steps}, decay {decay_steps}, max_steps {max_steps})"
    args = (warmup_steps, decay_steps, max_steps, max_lr, min_lr)
    convention = convention_of(yours, steps, warmup_steps, max_lr)
    if convention is None:
        cause = likely_cause(yours, {text: [variant(s, *args, bug=bug) for s in steps]
                                     for bug, text in WARMUP_CAUSES.items()}, rtol=1e-6, atol=1e-12)
        fail(f"{what}: " + (f"Likely cause: {cause}" if cause else
                            no_convention_message(yours, steps, warmup_steps, max_lr)))
    theirs = pytorch_wsd(*args, steps, convention)
    bugs = {text: [variant(s, *args, convention, bug) for s in steps] for bug, text in CAUSES.items()}
    compare_series(what, yours, theirs, rtol=1e-6, atol=1e-12, bugs=bugs, at=steps)
    return yours


def check_branches(learner, *, warmup_steps, decay_steps, lengths, max_lr, min_lr):
    """Several runs that differ only in where they stop share one warmup and one stable phase:
    each matches PyTorch, and all agree up to the earliest branch's decay."""
    runs = [check_wsd(learner, warmup_steps=warmup_steps, decay_steps=decay_steps, max_steps=n,
                      max_lr=max_lr, min_lr=min_lr, steps=range(0, n + 5)) for n in lengths]
    shared = min(lengths) - decay_steps
    for n, run in zip(lengths, runs):
        if run[:shared] != runs[0][:shared]:
            fail(f"the run of {n} steps and the run of {lengths[0]} steps differ before step {shared}, "
                 f"where both are still warming up or stable: the stable phase must not depend on max_steps")
