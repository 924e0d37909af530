from wsd_checks import check_branches, check_wsd


def test_branches_off_one_stable_phase(learner):
    check_branches(learner, warmup_steps=50, decay_steps=40, lengths=(200, 500, 1000), max_lr=3e-4, min_lr=0.0)


def test_decay_over_the_whole_run_after_warmup(learner):
    check_wsd(learner, warmup_steps=5, decay_steps=45, max_steps=50, max_lr=0.01, min_lr=0.001, steps=range(0, 60))


def test_no_warmup(learner):
    check_wsd(learner, warmup_steps=0, decay_steps=10, max_steps=40, max_lr=0.1, min_lr=0.01, steps=range(0, 45))
