from accumulation_checks import check_accumulation


def test_one_micro_batch(learner):
    check_accumulation(learner, seed=1, k=1, micro=16)


def test_many_small_micro_batches(learner):
    check_accumulation(learner, seed=2, k=16, micro=2)


def test_three_steps_in_a_row(learner):
    check_accumulation(learner, seed=3, k=2, micro=4, calls=3)


def test_the_accumulated_gradient_is_clipped_once(learner):
    check_accumulation(learner, seed=4, k=4, micro=4, max_norm=0.3)
