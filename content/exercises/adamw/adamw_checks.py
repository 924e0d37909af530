"""The AdamW tests' shared part: one small problem trained by yours, by torch.optim.AdamW,
and by simulations of the common bugs, parameter by parameter, step by step."""
import math

import torch

from checks import check_no_graph, compare_series, fail, forbid

GROUPS = [  # (shapes, options, how much this group's loss counts)
    ([(6, 4), (4,)], {"lr": 3e-2, "weight_decay": 0.1}, 1.0),
    ([(5, 5)], {"lr": 1e-2, "weight_decay": 0.0, "betas": (0.8, 0.99)}, 1.0),
    ([(7,)], {"lr": 5e-3, "weight_decay": 0.5, "eps": 1e-6}, 1.0),
    # gradients of about 1e-4 and an eps of 1e-3: here eps decides the step size, so eps inside
    # the square root (sqrt(1e-3) = 0.03) or the default eps (1e-8) instead of the group's
    # gives a step many times off, where with gradients of order 1 it moves the 7th digit
    ([(3, 4)], {"lr": 2e-2, "weight_decay": 0.0, "eps": 1e-3}, 1e-4),
]


def build(seed: int):
    generator = torch.Generator().manual_seed(seed)
    groups, params, targets, weights = [], [], [], []
    for shapes, options, weight in GROUPS:
        ps = [torch.nn.Parameter(torch.randn(s, generator=generator)) for s in shapes]
        targets += [torch.randn(s, generator=generator) for s in shapes]
        weights += [weight] * len(ps)
        params += ps
        groups.append({"params": ps, **options})
    return groups, params, (targets, weights)


def loss_of(params, problem, step):
    """A bumpy problem: the gradient changes with the parameters and with the step."""
    targets, weights = problem
    total = 0.0
    for p, t, w in zip(params, targets, weights):
        total = total + w * (((p - t) ** 2).sum() * (1 + (step % 3)) + torch.sin(3 * p).sum())
    return total


def pytorch_adam_update():
    """Where every PyTorch Adam and AdamW update goes through (the class or the function)."""
    import torch.optim.adam as adam

    return [(adam, "_single_tensor_adam"), (adam, "_multi_tensor_adam"), (adam, "_fused_adam")]


def learners_optimizer(learner, groups):
    optimizer = learner.AdamW(groups)
    if isinstance(optimizer, torch.optim.Adam):  # torch.optim.AdamW subclasses Adam
        fail("your AdamW subclasses PyTorch's Adam or AdamW: subclass torch.optim.Optimizer and "
             "write step() yourself (the tests compare yours with torch.optim.AdamW)")
    return optimizer


def trajectory(make_optimizer, seed, steps, no_grad_at=None, schedule=None, check=None):
    groups, params, targets = build(seed)
    optimizer = make_optimizer(groups)
    out = []
    for step in range(steps):
        if schedule is not None:
            for group, base in zip(optimizer.param_groups, GROUPS):
                group["lr"] = base[1]["lr"] * schedule(step)
        optimizer.zero_grad(set_to_none=True)
        loss_of(params, targets, step).backward()
        if no_grad_at is not None and no_grad_at(step):
            params[-1].grad = None  # this parameter sits this step out
        optimizer.step()
        if check is not None:
            check(params)
        out.append(torch.cat([p.detach().reshape(-1) for p in params]).clone())
    return out


class Simulated:
    """AdamW with one known bug switched on, to name the cause when yours matches it."""

    def __init__(self, groups, bug):
        self.param_groups = [{"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, **g} for g in groups]
        self.bug = bug
        self.state = {}
        self.shared_step = 0

    def zero_grad(self, set_to_none=True):
        for g in self.param_groups:
            for p in g["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self):
        if self.bug == "global-step":
            self.shared_step += 1
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            if self.bug == "default-betas":
                b1, b2 = 0.9, 0.999
            for p in group["params"]:
                if p.grad is None:
                    continue
                s = self.state.setdefault(id(p), {"t": 0, "m": torch.zeros_like(p), "v": torch.zeros_like(p)})
                s["t"] += 1
                if self.bug == "counter-per-parameter":
                    self.shared_step += 1
                    t = self.shared_step
                elif self.bug == "global-step":
                    t = self.shared_step
                else:
                    t = s["t"]
                g = p.grad
                if self.bug == "l2":
                    g = g + wd * p
                elif self.bug == "decay-after":
                    pass
                elif self.bug == "decay-without-lr":
                    p.mul_(1 - wd)
                else:
                    p.mul_(1 - lr * wd)
                s["m"] = b1 * s["m"] + (1 - b1) * g
                s["v"] = b2 * s["v"] + (1 - b2) * g * g
                if self.bug == "no-bias-correction":
                    m_hat, v_hat = s["m"], s["v"]
                else:
                    m_hat, v_hat = s["m"] / (1 - b1 ** t), s["v"] / (1 - b2 ** t)
                if self.bug == "default-eps":
                    eps = 1e-8
                if self.bug == "eps-inside-sqrt":
                    p.sub_(lr * m_hat / torch.sqrt(v_hat + eps))
                else:
                    p.sub_(lr * m_hat / (v_hat.sqrt() + eps))
                if self.bug == "decay-after":
                    p.mul_(1 - lr * wd)


CAUSES = {
    "no-bias-correction": "no bias correction: divide m by (1 - beta1**t) and v by (1 - beta2**t), "
                          "with t this parameter's step count from 1",
    "l2": "L2 added to the gradient instead of decoupled decay: AdamW shrinks the weights "
          "directly, p *= 1 - lr * weight_decay, and leaves the gradient alone",
    "counter-per-parameter": "a step counter advanced once per parameter instead of once per "
                             "step: t must count this parameter's updates (state['step'])",
    "global-step": "one step counter shared by all parameters: a parameter that had no gradient "
                   "at some step must not count that step (keep state['step'] per parameter)",
    "decay-without-lr": "the decay is not scaled by the learning rate: p *= 1 - lr * weight_decay",
    "decay-after": "the decay was applied after the Adam update; PyTorch decays first",
    "eps-inside-sqrt": "eps inside the square root: use sqrt(v_hat) + eps",
    "default-betas": "the group's betas were ignored: read betas from each param group (a group "
                     "may set its own)",
    "default-eps": "the group's eps was ignored: read eps from each param group, as lr, betas "
                   "and weight_decay (a group may set its own)",
}


def check_adamw(learner, seed=0, steps=20, no_grad_at=None, schedule=None):
    with forbid(pytorch_adam_update(), "AdamW (torch.optim.AdamW or Adam)", learner):
        yours = trajectory(lambda g: learners_optimizer(learner, g), seed, steps, no_grad_at, schedule,
                           check=check_no_graph)
    theirs = trajectory(lambda g: torch.optim.AdamW(g), seed, steps, no_grad_at, schedule)
    bugs = {text: trajectory(lambda g, b=bug: Simulated(g, b), seed, steps, no_grad_at, schedule)
            for bug, text in CAUSES.items()}
    compare_series("the parameters", yours, theirs, rtol=1e-6, atol=1e-6, bugs=bugs,
                   at=list(range(1, steps + 1)))
