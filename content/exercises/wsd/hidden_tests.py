from wsd_checks import check_wsd


def test_branches_off_one_stable_phase(learner):
    for max_steps in (200, 500, 1000):
        check_wsd(learner, warmup_steps=50, decay_steps=max_steps // 5, max_steps=max_steps, max_lr=3e-4,
                  min_lr=0.0, steps=range(0, max_steps + 5))


def test_decay_over_the_whole_run_after_warmup(learner):
    check_wsd(learner, warmup_steps=5, decay_steps=45, max_steps=50, max_lr=0.01, min_lr=0.001, steps=range(0, 60))
