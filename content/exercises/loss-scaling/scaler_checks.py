import torch

from checks import compare_series, fail


def run(make_scaler, steps, overflow_at, seed=0):
    generator = torch.Generator().manual_seed(seed)
    w = torch.nn.Parameter(torch.randn(4, 3, generator=generator))
    x = torch.randn(16, 4, generator=generator)
    optimizer = torch.optim.SGD([w], lr=0.05)
    scaler = make_scaler()
    scales, stepped, weights = [], [], []
    for step in range(steps):
        optimizer.zero_grad()
        loss = (torch.tanh(x @ w) ** 2).mean()
        scaler.scale(loss).backward()
        if step in overflow_at:
            w.grad[0, 0] = float("inf") if step % 2 else float("nan")
        before = w.detach().clone()
        scaler.step(optimizer)
        scaler.update()
        scales.append(float(scaler.get_scale()))
        stepped.append(not torch.equal(before, w.detach()))
        weights.append(w.detach().clone())
    return scales, stepped, weights


class Buggy:
    """The solution with one known bug, to name the cause."""

    def __init__(self, bug, **kwargs):
        self.bug, self.scale_, self.good = bug, float(kwargs.get("init_scale", 65536.0)), 0
        self.growth, self.backoff = kwargs.get("growth_factor", 2.0), kwargs.get("backoff_factor", 0.5)
        self.interval = kwargs.get("growth_interval", 2000)
        self.skipped = False

    def scale(self, loss):
        return loss * self.scale_

    @torch.no_grad()
    def step(self, optimizer):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if self.bug != "no-unscale":
            for g in grads:
                g.div_(self.scale_)
        self.skipped = not all(bool(torch.isfinite(g).all()) for g in grads)
        if not self.skipped or self.bug == "no-skip":
            optimizer.step()

    def update(self):
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
}


def check_scaler(learner, steps, overflow_at, **kwargs):
    yours = run(lambda: learner.LossScaler(**kwargs), steps, overflow_at)
    theirs = run(lambda: torch.amp.GradScaler("cpu", **kwargs), steps, overflow_at)
    bugs = {bug: run(lambda b=bug: Buggy(b, **kwargs), steps, overflow_at) for bug in CAUSES}
    at = list(range(steps))
    stepped_bugs = {CAUSES[b]: [float(s) for s in v[1]] for b, v in bugs.items()}
    compare_series("whether the step was taken (1) or skipped (0)", [float(s) for s in yours[1]],
                   [float(s) for s in theirs[1]], bugs=stepped_bugs, at=at, reference="GradScaler")
    compare_series("the scale after update()", yours[0], theirs[0],
                   bugs={CAUSES[b]: v[0] for b, v in bugs.items()}, at=at, reference="GradScaler")
    compare_series("the weights", yours[2], theirs[2], rtol=1e-6, atol=1e-7,
                   bugs={CAUSES[b]: v[2] for b, v in bugs.items()}, at=at, reference="GradScaler")
