from resume_checks import check_resume


def test_a_resumed_run_matches_an_uninterrupted_one_bit_for_bit(learner):
    check_resume(learner, total=12, stop_at=5)
