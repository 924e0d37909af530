from schedule_checks import check_schedule


def test_a_long_run_with_a_short_warmup(learner):
    check_schedule(learner, warmup_steps=3, max_steps=1000, max_lr=6e-4, min_lr=6e-5, steps=range(0, 1010))


def test_no_warmup_at_all(learner):
    check_schedule(learner, warmup_steps=0, max_steps=50, max_lr=0.1, min_lr=0.0, steps=range(0, 60))


def test_a_long_warmup(learner):
    check_schedule(learner, warmup_steps=40, max_steps=60, max_lr=3e-3, min_lr=3e-4, steps=range(0, 70))


def test_returns_a_python_float(learner):
    value = learner.cosine_with_warmup(5, warmup_steps=10, max_steps=20, max_lr=1.0)
    assert isinstance(value, float), f"return a float (you returned a {type(value).__name__})"
