from groups_checks import check_groups


def test_a_small_gpt_with_a_tied_head(learner):
    check_groups(learner, tie=True)
