import torch

from adamw_checks import check_adamw


def test_twenty_steps_on_three_parameter_groups(learner):
    check_adamw(learner, seed=0)


def test_it_is_a_torch_optimizer(learner):
    p = torch.nn.Parameter(torch.zeros(3))
    optimizer = learner.AdamW([p], lr=0.1)
    assert isinstance(optimizer, torch.optim.Optimizer), "AdamW must subclass torch.optim.Optimizer"
    assert not isinstance(optimizer, torch.optim.Adam), \
        "subclass torch.optim.Optimizer itself, not PyTorch's Adam or AdamW: the exercise is to write the update"
    assert optimizer.param_groups[0]["lr"] == 0.1, "keep the options in param_groups (pass defaults to super().__init__)"
    p.grad = torch.ones(3)
    optimizer.step()
    assert float(p.detach()[0]) < 0, f"one step on a gradient of ones must move the weights down, they are {p.detach().tolist()}"
