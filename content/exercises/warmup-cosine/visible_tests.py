from schedule_checks import check_schedule


def test_warmup_climbs_to_max_lr(learner):
    check_schedule(learner, warmup_steps=10, max_steps=100, max_lr=1e-3, min_lr=0.0, steps=range(0, 11))


def test_cosine_decay_matches_pytorch(learner):
    check_schedule(learner, warmup_steps=10, max_steps=100, max_lr=1e-3, min_lr=1e-4, steps=range(10, 101))


def test_stays_at_min_lr_after_max_steps(learner):
    check_schedule(learner, warmup_steps=10, max_steps=100, max_lr=1e-3, min_lr=1e-4, steps=range(100, 130))
