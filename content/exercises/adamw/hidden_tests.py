import torch

from adamw_checks import check_adamw


def test_another_start(learner):
    check_adamw(learner, seed=7, steps=20)


def test_a_parameter_that_sometimes_has_no_gradient(learner):
    check_adamw(learner, seed=3, steps=20, no_grad_at=lambda step: step % 4 == 1)


def test_the_learning_rate_changes_between_steps(learner):
    check_adamw(learner, seed=5, steps=20, schedule=lambda step: (step + 1) / 20)


def test_step_returns_the_closures_loss(learner):
    p = torch.nn.Parameter(torch.ones(2))
    optimizer = learner.AdamW([p], lr=0.1)

    def closure():
        optimizer.zero_grad()
        loss = (p ** 2).sum()
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    assert loss is not None and float(loss.detach()) == 2.0, f"step(closure) must return the closure's loss, got {loss!r}"
