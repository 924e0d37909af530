from wsd_checks import check_wsd


def test_warmup_then_stable(learner):
    check_wsd(learner, warmup_steps=10, decay_steps=20, max_steps=100, max_lr=1e-3, min_lr=1e-5, steps=range(0, 80))


def test_the_decay_branch(learner):
    check_wsd(learner, warmup_steps=10, decay_steps=20, max_steps=100, max_lr=1e-3, min_lr=1e-5, steps=range(75, 110))
