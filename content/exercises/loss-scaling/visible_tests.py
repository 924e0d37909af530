from scaler_checks import check_clipped_step, check_scaler


def test_an_overflow_skips_the_step_and_halves_the_scale(learner):
    check_scaler(learner, steps=6, overflow_at={2}, init_scale=1024.0, growth_interval=100)


def test_the_scale_grows_after_good_steps(learner):
    check_scaler(learner, steps=10, overflow_at=set(), init_scale=8.0, growth_interval=3)


def test_unscale_then_clip_then_step(learner):
    check_scaler(learner, steps=8, overflow_at={3}, clip=0.5, init_scale=2.0**10, growth_interval=2)


def test_your_clipped_step_in_the_right_order(learner):
    check_clipped_step(learner, steps=8, overflow_at={4}, max_norm=0.5, init_scale=2.0**10, growth_interval=3)
