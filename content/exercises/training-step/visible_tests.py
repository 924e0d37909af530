from loop_checks import check_initial_loss, check_overfit, check_train_step


def test_six_training_steps_in_the_right_order(learner):
    check_train_step(learner, seed=0)


def test_the_initial_loss_check_passes_a_healthy_model(learner):
    check_initial_loss(learner)


def test_the_initial_loss_check_flags_a_bad_initialisation(learner):
    check_initial_loss(learner, planted="big-init")


def test_the_overfit_check_passes_a_healthy_model(learner):
    check_overfit(learner)
