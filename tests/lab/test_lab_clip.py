"""Global-norm clipping against torch.nn.utils.clip_grad_norm_, and per-run clipping on
run-stacked parameters against torch applied to each run's slice."""
from __future__ import annotations

import math

import pytest
import torch

from widgets.lab.clip import clip_grad_norm, clip_per_run, global_grad_norm, per_run_grad_norm


def params_with_grads(shapes, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    params = []
    for s in shapes:
        p = torch.randn(s, generator=g).requires_grad_()
        p.grad = scale * torch.randn(s, generator=g)
        params.append(p)
    return params


def clone_with_grads(params):
    out = []
    for p in params:
        q = p.detach().clone().requires_grad_()
        q.grad = p.grad.clone()
        out.append(q)
    return out


@pytest.mark.parametrize("max_norm", [0.1, 1.0, 5.0, 1e6, math.inf])
def test_clip_grad_norm_matches_torch(max_norm):
    ours = params_with_grads([(4, 5), (7,), (2, 3, 3)], seed=0)
    theirs = clone_with_grads(ours)
    before = [p.grad.clone() for p in ours]
    norm = clip_grad_norm(ours, max_norm)
    torch_norm = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    torch.testing.assert_close(norm, torch_norm, rtol=1e-6, atol=0)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-6, atol=1e-7)
    if max_norm >= 1e6:  # no-op: untouched
        for a, g in zip(ours, before):
            assert torch.equal(a.grad, g)
    else:
        assert global_grad_norm(ours).item() == pytest.approx(max_norm, rel=1e-5)


def test_worked_example():
    p = torch.zeros(2, requires_grad=True)
    p.grad = torch.tensor([3.0, 4.0])
    norm = clip_grad_norm([p], 1.0)
    assert norm.item() == pytest.approx(5.0)
    assert torch.allclose(p.grad, torch.tensor([0.6, 0.8]), atol=1e-6)


def test_params_without_grad_are_skipped():
    a, b = params_with_grads([(3,), (4,)], seed=1)
    b.grad = None
    torch_a = clone_with_grads([a])[0]
    norm = clip_grad_norm([a, b], 0.5)
    assert norm.item() == pytest.approx(torch.nn.utils.clip_grad_norm_([torch_a], 0.5).item(), rel=1e-6)
    assert torch.allclose(a.grad, torch_a.grad)
    assert b.grad is None


def test_no_gradients_at_all():
    p = torch.zeros(3, requires_grad=True)
    assert clip_grad_norm([p], 1.0).item() == 0.0


@pytest.mark.parametrize("thresholds", [[0.5, 2.0, math.inf], [math.inf] * 3, [1e-3, 1e-3, 1e-3]])
def test_clip_per_run_equals_torch_per_slice(thresholds):
    shapes = [(3, 4, 5), (3, 5), (3, 2, 2, 2)]
    ours = params_with_grads(shapes, seed=2)
    for p in ours:
        p.grad[1] *= 10  # runs with very different gradient sizes
    before = [p.grad.clone() for p in ours]
    norm, scale = clip_per_run(ours, torch.tensor(thresholds))
    for r, c in enumerate(thresholds):
        slices = [p[r].detach().clone().requires_grad_() for p in ours]
        for s, g in zip(slices, before):
            s.grad = g[r].clone()
        torch_norm = torch.nn.utils.clip_grad_norm_(slices, c)
        assert norm[r].item() == pytest.approx(torch_norm.item(), rel=1e-6)
        for s, p in zip(slices, ours):
            torch.testing.assert_close(p.grad[r], s.grad, rtol=1e-6, atol=1e-7)
        if c == math.inf:  # inf means no clipping: exactly untouched, scale exactly 1
            assert scale[r].item() == 1.0
            for p, g in zip(ours, before):
                assert torch.equal(p.grad[r], g[r])
        else:
            assert scale[r].item() < 1.0


def test_per_run_norm_is_one_norm_per_slice():
    ours = params_with_grads([(2, 3), (2, 4, 4)], seed=3)
    expected = [math.sqrt(sum(float((p.grad[r].double() ** 2).sum()) for p in ours)) for r in range(2)]
    assert per_run_grad_norm(ours).tolist() == pytest.approx(expected, rel=1e-6)
