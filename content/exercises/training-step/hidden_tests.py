from loop_checks import check_initial_loss, check_overfit, check_train_step


def test_other_batches_and_a_smaller_clip(learner):
    check_train_step(learner, seed=3, steps=8, max_norm=0.5)


def test_the_overfit_check_flags_a_model_that_ignores_its_input(learner):
    check_overfit(learner, planted="ignores-input")


def test_the_overfit_check_flags_a_learning_rate_of_zero(learner):
    check_overfit(learner, planted="zero-lr")


def test_a_model_that_ignores_its_input_starts_at_the_right_loss(learner):
    check_initial_loss(learner, planted="ignores-input", seed=4)
