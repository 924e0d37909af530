from scaler_checks import check_scaler


def test_an_overflow_skips_the_step_and_halves_the_scale(learner):
    check_scaler(learner, steps=6, overflow_at={2}, init_scale=1024.0, growth_interval=100)


def test_the_scale_grows_after_good_steps(learner):
    check_scaler(learner, steps=10, overflow_at=set(), init_scale=8.0, growth_interval=3)
