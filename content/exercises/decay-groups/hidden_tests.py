from groups_checks import check_groups


def test_an_untied_head(learner):
    check_groups(learner, tie=False, weight_decay=0.05)


def test_frozen_parameters_are_left_out(learner):
    check_groups(learner, frozen=("wpe.weight", "ln_f.bias"))
