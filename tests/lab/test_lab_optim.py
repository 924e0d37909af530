"""The course's optimizers against torch.optim, step by step on the same random
gradients, for one run and for several runs stacked with different hyperparameters."""
from __future__ import annotations

import pytest
import torch

from widgets.lab import optim

STEPS = 20
SHAPES = [(1, 5, 7), (1, 11)]  # run-stacked: leading dimension R = 1


def random_problem(seed: int, shapes=SHAPES, steps=STEPS):
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=g) for s in shapes]
    grads = [[torch.randn(s, generator=g) for s in shapes] for _ in range(steps)]
    return params, grads


def run_pair(ours_factory, torch_factory, seed=0):
    """Same init and same gradients through both optimizers; returns both parameter lists."""
    init, grads = random_problem(seed)
    ours = [p.clone().requires_grad_() for p in init]
    theirs = [p.clone().requires_grad_() for p in init]
    opt_ours, opt_theirs = ours_factory(ours), torch_factory(theirs)
    for step_grads in grads:
        for a, b, g in zip(ours, theirs, step_grads):
            a.grad, b.grad = g.clone(), g.clone()
        opt_ours.step()
        opt_theirs.step()
    return ours, theirs


def assert_params_close(ours, theirs, atol=1e-6):
    for a, b in zip(ours, theirs):
        assert not torch.equal(a, torch.zeros_like(a))
        torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-5, atol=atol)


CASES = {
    "sgd": (lambda ps: optim.SGD(ps, lr=0.05),
            lambda ps: torch.optim.SGD(ps, lr=0.05)),
    "momentum": (lambda ps: optim.SGD(ps, lr=0.02, momentum=0.9),
                 lambda ps: torch.optim.SGD(ps, lr=0.02, momentum=0.9)),
    "rmsprop": (lambda ps: optim.RMSProp(ps, lr=0.01, alpha=0.9, eps=1e-6),
                lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-6)),
    "rmsprop_defaults": (lambda ps: optim.RMSProp(ps, lr=0.01),
                         lambda ps: torch.optim.RMSprop(ps, lr=0.01)),
    "adam": (lambda ps: optim.Adam(ps, lr=0.01),
             lambda ps: torch.optim.Adam(ps, lr=0.01)),
    "adam_l2": (lambda ps: optim.Adam(ps, lr=0.01, beta2=0.95, weight_decay=0.1),
                lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.9, 0.95), weight_decay=0.1)),
    "adamw_no_decay": (lambda ps: optim.AdamW(ps, lr=0.01, beta1=0.8, beta2=0.99),
                       lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.8, 0.99), weight_decay=0.0)),
    "adamw_decay": (lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1),
                    lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.9, 0.95), weight_decay=0.1)),
}


@pytest.mark.parametrize("name", CASES)
def test_matches_torch(name):
    ours, theirs = run_pair(*CASES[name])
    assert_params_close(ours, theirs)


def test_adamw_decay_is_decoupled():
    """Decoupled decay and L2-in-the-gradient give different trajectories."""
    decoupled, _ = run_pair(CASES["adamw_decay"][0], CASES["adamw_decay"][1])
    coupled, _ = run_pair(lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1, decoupled=False),
                          lambda ps: torch.optim.SGD(ps, lr=0.0))
    assert not torch.allclose(decoupled[0], coupled[0], atol=1e-5)


STACKED = {
    "sgd": (lambda ps, lrs: optim.SGD(ps, runs=3, lr=lrs, momentum=[0.0, 0.5, 0.9]),
            lambda p, r, lr: torch.optim.SGD([p], lr=lr, momentum=[0.0, 0.5, 0.9][r])),
    "rmsprop": (lambda ps, lrs: optim.RMSProp(ps, runs=3, lr=lrs),
                lambda p, r, lr: torch.optim.RMSprop([p], lr=lr)),
    "adamw": (lambda ps, lrs: optim.AdamW(ps, runs=3, lr=lrs, beta2=[0.95, 0.99, 0.999],
                                          weight_decay=[0.0, 0.1, 0.3]),
              lambda p, r, lr: torch.optim.AdamW([p], lr=lr, betas=(0.9, [0.95, 0.99, 0.999][r]),
                                                 weight_decay=[0.0, 0.1, 0.3][r])),
}


@pytest.mark.parametrize("name", STACKED)
def test_run_stacked_equals_separate_torch_optimizers(name):
    """R = 3 runs with a different LR each = three torch optimizers, one per slice."""
    make_ours, make_theirs = STACKED[name]
    lrs = [1e-3, 1e-2, 3e-2]
    shapes = [(3, 4, 6), (3, 6)]
    init, grads = random_problem(1, shapes)
    ours = [p.clone().requires_grad_() for p in init]
    slices = [[p[r].clone().requires_grad_() for p in init] for r in range(3)]
    opt = make_ours(ours, lrs)
    torch_opts = [[make_theirs(p, r, lrs[r]) for p in slices[r]] for r in range(3)]
    for step_grads in grads:
        for i, g in enumerate(step_grads):
            ours[i].grad = g.clone()
            for r in range(3):
                slices[r][i].grad = g[r].clone()
        opt.step()
        for r in range(3):
            for o in torch_opts[r]:
                o.step()
    for i in range(len(shapes)):
        for r in range(3):
            torch.testing.assert_close(ours[i][r].detach(), slices[r][i].detach(), rtol=1e-5, atol=1e-6)
    # the runs really went different ways
    assert not torch.allclose(ours[0][0], ours[0][2])


def test_set_lr_per_run():
    p = torch.zeros(2, 3, requires_grad=True)
    opt = optim.SGD([p], runs=2, lr=1.0)
    opt.set_lr([0.1, 0.0])
    p.grad = torch.ones(2, 3)
    opt.step()
    assert torch.allclose(p[0], torch.full((3,), -0.1)) and torch.equal(p[1], torch.zeros(3))
    assert torch.allclose(opt.lr, torch.tensor([0.1, 0.0]))


def test_param_groups_keep_their_own_hyperparameters():
    a = torch.ones(1, 3, requires_grad=True)
    b = torch.ones(1, 3, requires_grad=True)
    opt = optim.AdamW([{"params": [a], "weight_decay": 0.5}, {"params": [b], "weight_decay": 0.0}], lr=0.1)
    a.grad, b.grad = torch.zeros(1, 3), torch.zeros(1, 3)
    opt.step()  # zero gradient: only decoupled decay moves a
    assert torch.allclose(a, torch.full((1, 3), 1 - 0.1 * 0.5)) and torch.equal(b, torch.ones(1, 3))


def test_without_bias_correction_differs_from_torch():
    ours, theirs = run_pair(lambda ps: optim.Adam(ps, lr=0.01, bias_correction=False),
                            lambda ps: torch.optim.Adam(ps, lr=0.01))
    assert not torch.allclose(ours[0], theirs[0], atol=1e-4)


@pytest.mark.parametrize("bias_correction,expected_m_hat", [(False, 0.1), (True, 1.0)])
def test_first_step_m_hat(bias_correction, expected_m_hat):
    """beta1 = 0.9, g = 1: raw m = 0.1 after one step; bias correction divides by
    1 - 0.9 = 0.1, giving m_hat = 1, the true average of the gradients seen so far."""
    p = torch.zeros(1, 4, requires_grad=True)
    opt = optim.AdamW([p], lr=0.01, beta1=0.9, beta2=0.999, eps=0.0, bias_correction=bias_correction)
    p.grad = torch.ones(1, 4)
    opt.step()
    m = opt.state[p]["m"]
    assert torch.allclose(m, torch.full_like(m, 0.1))
    v = opt.state[p]["v"]
    assert torch.allclose(v, torch.full_like(v, 0.001))
    # update = lr * m_hat / sqrt(v_hat): corrected, both are 1 and the step is exactly lr
    m_hat = m / (1 - 0.9) if bias_correction else m
    v_hat = v / (1 - 0.999) if bias_correction else v
    assert torch.allclose(m_hat, torch.full_like(m, expected_m_hat))
    assert torch.allclose(-p.detach(), 0.01 * m_hat / v_hat.sqrt(), rtol=1e-5)
    if bias_correction:
        assert torch.allclose(p, torch.full_like(p, -0.01), rtol=1e-5)
    else:  # uncorrected: 0.1 / sqrt(0.001) = 3.16 times the LR on the very first step
        assert torch.allclose(p, torch.full_like(p, -0.01 * 0.1 / 0.001 ** 0.5), rtol=1e-5)
