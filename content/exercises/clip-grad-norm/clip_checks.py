"""The clipping tests' shared part: the same gradients through yours and PyTorch's."""
import torch

from checks import close, fail, forbid, short


def make_params(seed: int, scale: float, shapes=((8, 4), (4,), (16, 8), (3, 3, 3))):
    generator = torch.Generator().manual_seed(seed)
    params = []
    for shape in shapes:
        p = torch.nn.Parameter(torch.randn(shape, generator=generator))
        p.grad = torch.randn(shape, generator=generator) * scale
        params.append(p)
    return params


def clone(params):
    out = []
    for p in params:
        q = torch.nn.Parameter(p.detach().clone())
        q.grad = None if p.grad is None else p.grad.clone()
        out.append(q)
    return out


def per_tensor(params, max_norm):
    """The common bug: each tensor clipped by its own norm."""
    out = clone(params)
    for q in out:
        if q.grad is not None:
            q.grad.mul_(min(1.0, max_norm / (float(q.grad.norm()) + 1e-6)))
    return [q.grad for q in out if q.grad is not None]


def pytorch_clipping():
    """Where torch.nn.utils.clip_grad_norm_ (and get_total_norm, clip_grads_with_norm_) do the work."""
    import torch.nn.utils.clip_grad as clip_grad

    return [(clip_grad, "_get_total_norm"), (clip_grad, "_clip_grads_with_norm_")]


def learners_clip(learner, parameters, max_norm):
    with forbid(pytorch_clipping(), "clip_grad_norm_ (torch.nn.utils)", learner):
        return learner.clip_grad_norm_(parameters, max_norm)


def check_clip(learner, params, max_norm, as_generator=False):
    mine, theirs = clone(params), clone(params)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    given = (p for p in mine) if as_generator else mine
    returned = learners_clip(learner, given, max_norm)
    if not isinstance(returned, torch.Tensor):
        fail(f"return the total norm as a tensor (you returned {type(returned).__name__})")
    if not close(returned, expected, rtol=1e-6):
        hint = ""
        norms = [float(p.grad.norm()) for p in params if p.grad is not None]
        if any(close(returned, n, rtol=1e-6) for n in norms):
            hint = (". Likely cause: per-tensor instead of global clipping: you returned one "
                    "tensor's norm; the total norm is the norm of all gradients together")
        elif close(returned, sum(n * n for n in norms), rtol=1e-6):
            hint = ". Likely cause: you returned the squared norm: take its square root"
        elif close(returned, sum(norms), rtol=1e-6):
            hint = ". Likely cause: you added the per-tensor norms; add their squares, then take the root"
        fail(f"the total norm you returned is {short(returned)}, PyTorch's is {short(expected)}{hint}")
    bad = per_tensor(params, max_norm)
    for index, (p, q) in enumerate(zip(mine, theirs)):
        if q.grad is None:
            if p.grad is not None:
                fail(f"parameter {index} had no gradient; leave it as None")
            continue
        if not close(p.grad, q.grad, rtol=1e-6, atol=1e-9):
            cause = ""
            if close(p.grad, bad[index], rtol=1e-6, atol=1e-9) and not close(bad[index], q.grad, rtol=1e-6):
                cause = (". Likely cause: per-tensor instead of global clipping: every gradient "
                         "must be scaled by the same factor, max_norm / (total_norm + 1e-6)")
            elif close(p.grad, params[index].grad, rtol=1e-6, atol=1e-9):
                cause = (". Likely cause: the gradients were not changed in place: use "
                         "p.grad.mul_(factor), not p.grad = p.grad * factor on a copy")
            fail(f"the clipped gradient of parameter {index} (shape {tuple(q.grad.shape)}) differs: "
                 f"yours starts {short(p.grad)}, PyTorch's {short(q.grad)}{cause}")
