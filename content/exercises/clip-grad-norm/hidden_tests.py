import torch

from clip_checks import check_clip, learners_clip, make_params


def test_a_generator_of_parameters(learner):
    check_clip(learner, make_params(2, scale=3.0), max_norm=0.5, as_generator=True)


def test_parameters_without_a_gradient_are_skipped(learner):
    params = make_params(3, scale=5.0)
    params[1].grad = None
    check_clip(learner, params, max_norm=2.0)


def test_one_tensor_far_larger_than_the_rest(learner):
    params = make_params(4, scale=0.1)
    params[2].grad.mul_(1000)
    check_clip(learner, params, max_norm=1.0)


def test_a_single_tensor(learner):
    p = torch.nn.Parameter(torch.ones(5))
    p.grad = torch.full((5,), 4.0)
    q = torch.nn.Parameter(torch.ones(5))
    q.grad = torch.full((5,), 4.0)
    expected = torch.nn.utils.clip_grad_norm_(q, 1.0)
    returned = learners_clip(learner, p, 1.0)
    assert torch.allclose(torch.as_tensor(returned, dtype=torch.float32), expected), \
        f"a single tensor: you returned {returned}, PyTorch {expected}"
    assert torch.allclose(p.grad, q.grad), f"a single tensor: your clipped grad {p.grad}, PyTorch's {q.grad}"
