"""The loss-scaling tests' shared part: a short training run with injected overflows, through
yours and through torch.amp.GradScaler; optionally unscaled and clipped between backward and
the step, as a real loop does; and the common bugs simulated to name the cause."""
import torch

from checks import compare_series, fail


def problem(seed):
    generator = torch.Generator().manual_seed(seed)
    w = torch.nn.Parameter(torch.randn(4, 3, generator=generator))
    x = torch.randn(16, 4, generator=generator) * 3
    return w, x


def reference_clipped_step(scaler, loss, optimizer, max_norm):
    """The order chapters 5 and 7 teach: backward on the scaled loss, unscale, clip, step, update."""
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    scaler.step(optimizer)
    scaler.update()
    return norm


def run(make_scaler, steps, overflow_at, seed=0, clip=None, step_fn=None):
    """Train `steps` steps; (scales, stepped, weights, norms). With `clip`, unscale_ then clip
    between backward and the step; with `step_fn`, that function does the whole step."""
    w, x = problem(seed)
    optimizer = torch.optim.SGD([w], lr=0.05)
    scaler = make_scaler()
    scales, stepped, weights, norms = [], [], [], []
    for step in range(steps):
        optimizer.zero_grad()
        loss = (torch.tanh(x @ w) ** 2).mean()
        if step in overflow_at:  # an overflow in the forward pass: the gradient becomes inf or nan
            loss = loss + w[0, 0] * (float("inf") if step % 2 else float("nan"))
        before = w.detach().clone()
        if step_fn is not None:
            norm = step_fn(scaler, loss, optimizer, clip)
            norms.append(float(norm))
        else:
            scaler.scale(loss).backward()
            if clip is not None:
                scaler.unscale_(optimizer)
                norms.append(float(torch.nn.utils.clip_grad_norm_([w], clip)))
            scaler.step(optimizer)
            scaler.update()
        scales.append(float(scaler.get_scale()))
        stepped.append(not torch.equal(before, w.detach()))
        weights.append(w.detach().clone())
    return scales, stepped, weights, norms


class Buggy:
    """The solution with one known bug, to name the cause."""

    def __init__(self, bug, **kwargs):
        self.bug, self.scale_, self.good = bug, float(kwargs.get("init_scale", 65536.0)), 0
        self.growth, self.backoff = kwargs.get("growth_factor", 2.0), kwargs.get("backoff_factor", 0.5)
        self.interval = kwargs.get("growth_interval", 2000)
        self.skipped = False
        self.unscaled = False

    def scale(self, loss):
        return loss * self.scale_

    @torch.no_grad()
    def unscale_(self, optimizer):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if self.bug != "no-unscale":
            for g in grads:
                g.div_(self.scale_)
        self.skipped = not all(bool(torch.isfinite(g).all()) for g in grads)
        self.unscaled = True

    @torch.no_grad()
    def step(self, optimizer):
        if not self.unscaled or self.bug == "double-unscale":
            self.unscale_(optimizer)
        if not self.skipped or self.bug == "no-skip":
            optimizer.step()

    def update(self):
        self.unscaled = False
        if self.skipped:
            self.scale_ *= self.backoff
            if self.bug != "keep-count":
                self.good = 0
        else:
            self.good += 1
            if self.good >= self.interval:
                self.scale_ *= self.growth
                self.good = 0

    def get_scale(self):
        return self.scale_


CAUSES = {
    "no-skip": "the step was taken although a gradient was inf or nan: skip optimizer.step() then",
    "keep-count": "the count of good steps was not reset after an overflow: growth must wait for "
                  "growth_interval good steps in a row",
    "no-unscale": "the gradients were not divided by the scale before the step",
    "double-unscale": "step() divided the gradients by the scale again after unscale_() had already "
                      "done it: remember that this optimizer's gradients are unscaled (until update())",
}


def check_scaler(learner, steps, overflow_at, clip=None, **kwargs):
    run_args = dict(steps=steps, overflow_at=overflow_at, clip=clip)
    yours = run(lambda: learner.LossScaler(**kwargs), **run_args)
    theirs = run(lambda: torch.amp.GradScaler("cpu", **kwargs), **run_args)
    bugs = {CAUSES[bug]: run(lambda b=bug: Buggy(b, **kwargs), **run_args) for bug in CAUSES}
    at = list(range(steps))
    compare_series("whether the step was taken (1) or skipped (0)", [float(s) for s in yours[1]],
                   [float(s) for s in theirs[1]], bugs={c: [float(s) for s in v[1]] for c, v in bugs.items()},
                   at=at, reference="GradScaler")
    compare_series("the scale after update()", yours[0], theirs[0],
                   bugs={c: v[0] for c, v in bugs.items()}, at=at, reference="GradScaler")
    if clip is not None:
        compare_series("the gradient norm after unscale_()", yours[3], theirs[3], rtol=1e-5, atol=1e-7,
                       bugs={c: v[3] for c, v in bugs.items()}, at=at, reference="GradScaler")
    compare_series("the weights", yours[2], theirs[2], rtol=1e-6, atol=1e-7,
                   bugs={c: v[2] for c, v in bugs.items()}, at=at, reference="GradScaler")


def check_unscale_twice_refused(learner):
    """GradScaler refuses a second unscale_ before update(): the gradients would be divided twice."""
    w, x = problem(1)
    optimizer = torch.optim.SGD([w], lr=0.05)
    scaler = learner.LossScaler(init_scale=1024.0)
    scaler.scale((torch.tanh(x @ w) ** 2).mean()).backward()
    scaler.unscale_(optimizer)
    once = w.grad.clone()
    try:
        scaler.unscale_(optimizer)
    except RuntimeError:
        return
    if not torch.equal(w.grad, once):
        fail("a second unscale_() before update() divided the gradients by the scale again; raise "
             "RuntimeError instead, as GradScaler does")
    fail("a second unscale_() before update() must raise RuntimeError, as GradScaler does")


# --- the whole step, in order ----------------------------------------------------------------
def buggy_clipped_step(bug):
    def step(scaler, loss, optimizer, max_norm):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        scaler.scale(loss).backward()
        if bug == "clip-before-unscale":
            norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
            scaler.unscale_(optimizer)
        else:
            scaler.unscale_(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        scaler.step(optimizer)
        scaler.update()
        return norm
    return step


STEP_CAUSES = {  # no unscale_() before the clip gives the same numbers as clipping first
    "clip-before-unscale": "the gradients were clipped before they were unscaled (clip_grad_norm_ before "
                           "scaler.unscale_, or no unscale_ at all): the threshold was compared with "
                           "gradients S times too large; unscale, then clip, then step",
}


def check_clipped_step(learner, steps, overflow_at, max_norm, **kwargs):
    """Your clipped_step driving torch's GradScaler, against the reference order."""
    def make():
        return torch.amp.GradScaler("cpu", **kwargs)

    yours = run(make, steps, overflow_at, clip=max_norm, step_fn=learner.clipped_step)
    theirs = run(make, steps, overflow_at, clip=max_norm, step_fn=reference_clipped_step)
    bugs = {text: run(make, steps, overflow_at, clip=max_norm, step_fn=buggy_clipped_step(bug))
            for bug, text in STEP_CAUSES.items()}
    at = list(range(steps))
    compare_series("the gradient norm clipped_step returned (before clipping, after unscaling)", yours[3],
                   theirs[3], rtol=1e-5, atol=1e-7, bugs={c: v[3] for c, v in bugs.items()}, at=at,
                   reference="the reference order")
    compare_series("the scale after the step", yours[0], theirs[0], bugs={c: v[0] for c, v in bugs.items()},
                   at=at, reference="the reference order")
    compare_series("the weights", yours[2], theirs[2], rtol=1e-6, atol=1e-7,
                   bugs={c: v[2] for c, v in bugs.items()}, at=at, reference="the reference order")
