from accumulation_checks import check_accumulation


def test_one_micro_batch(learner):
    check_accumulation(learner, seed=1, k=1, micro=16)


def test_many_small_micro_batches(learner):
    check_accumulation(learner, seed=2, k=16, micro=2)
