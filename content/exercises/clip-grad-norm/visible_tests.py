from clip_checks import check_clip, make_params


def test_large_gradients_are_scaled_down_together(learner):
    check_clip(learner, make_params(0, scale=10.0), max_norm=1.0)


def test_small_gradients_are_left_alone(learner):
    check_clip(learner, make_params(1, scale=0.001), max_norm=1.0)
