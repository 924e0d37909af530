from scaler_checks import check_clipped_step, check_scaler, check_unscale_twice_refused


def test_overflows_and_growth_mixed(learner):
    check_scaler(learner, steps=20, overflow_at={1, 2, 7, 8, 15}, init_scale=2.0**12, growth_interval=3)


def test_other_factors(learner):
    check_scaler(learner, steps=16, overflow_at={4, 11}, init_scale=256.0, growth_factor=4.0,
                 backoff_factor=0.25, growth_interval=2)


def test_clipping_between_unscale_and_step_with_overflows(learner):
    check_scaler(learner, steps=16, overflow_at={2, 9}, clip=0.2, init_scale=2.0**14, growth_interval=4)


def test_a_second_unscale_is_refused(learner):
    check_unscale_twice_refused(learner)


def test_clipped_step_with_a_large_scale(learner):
    check_clipped_step(learner, steps=12, overflow_at={1, 6}, max_norm=0.1, init_scale=2.0**16, growth_interval=2)
