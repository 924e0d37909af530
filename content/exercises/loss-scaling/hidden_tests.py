from scaler_checks import check_scaler


def test_overflows_and_growth_mixed(learner):
    check_scaler(learner, steps=20, overflow_at={1, 2, 7, 8, 15}, init_scale=2.0**12, growth_interval=3)


def test_other_factors(learner):
    check_scaler(learner, steps=16, overflow_at={4, 11}, init_scale=256.0, growth_factor=4.0,
                 backoff_factor=0.25, growth_interval=2)
