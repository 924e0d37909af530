from accumulation_checks import check_accumulation


def test_four_micro_batches_equal_one_batch_twice_in_a_row(learner):
    check_accumulation(learner, seed=0, k=4, micro=8)
