from capstone_checks import check_named


def test_the_peak_learning_rate(learner):
    check_named(learner, "lr")


def test_clipping(learner):
    check_named(learner, "clip")


def test_max_steps_matches_the_token_budget(learner):
    check_named(learner, "max_steps")
