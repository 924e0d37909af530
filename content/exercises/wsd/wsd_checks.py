import torch

from checks import compare_series


def pytorch_wsd(warmup_steps, decay_steps, max_steps, max_lr, min_lr, steps):
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
            out.append(max_lr * s / warmup_steps)
        elif s < start:
            out.append(max_lr)
        elif s <= max_steps:
            out.append(branch[s - start])
        else:
            out.append(min_lr)
    return out


def variant(s, warmup_steps, decay_steps, max_steps, max_lr, min_lr, bug):
    if s < warmup_steps:
        return max_lr * (s + (bug == "warmup+1")) / warmup_steps
    start = warmup_steps if bug == "decay-from-warmup" else max_steps - decay_steps
    length = max_steps - start
    if s < start:
        return max_lr
    if s >= max_steps:
        return min_lr if bug != "to-zero" else 0.0
    end = 0.0 if bug == "to-zero" else min_lr
    return max_lr + (end - max_lr) * (s - start) / length


CAUSES = {
    "warmup+1": "warmup off by one: max_lr * step / warmup_steps is 0 at step 0",
    "decay-from-warmup": "the decay starts right after warmup; it should start at max_steps - decay_steps "
                         "(the stable phase holds max_lr until then)",
    "to-zero": "the decay branch ends at 0 instead of min_lr",
}


def check_wsd(learner, *, warmup_steps, decay_steps, max_steps, max_lr, min_lr, steps):
    steps = list(steps)
    kwargs = dict(warmup_steps=warmup_steps, decay_steps=decay_steps, max_steps=max_steps,
                  max_lr=max_lr, min_lr=min_lr)
    yours = [learner.wsd(s, **kwargs) for s in steps]
    theirs = pytorch_wsd(warmup_steps, decay_steps, max_steps, max_lr, min_lr, steps)
    bugs = {text: [variant(s, warmup_steps, decay_steps, max_steps, max_lr, min_lr, bug) for s in steps]
            for bug, text in CAUSES.items()}
    compare_series(f"the LR (warmup {warmup_steps}, decay {decay_steps}, max_steps {max_steps})",
                   yours, theirs, rtol=1e-6, atol=1e-12, bugs=bugs, at=steps)
