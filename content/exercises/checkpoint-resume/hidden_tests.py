from resume_checks import check_resume


def test_resuming_during_warmup(learner):
    check_resume(learner, total=10, stop_at=2, seed=3)


def test_resuming_late_in_the_run(learner):
    check_resume(learner, total=30, stop_at=24, seed=5)
