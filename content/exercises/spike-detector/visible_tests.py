from spike_checks import check_detector, curve


def test_lone_spikes_are_skipped(learner):
    check_detector(learner, curve(0, 200, spikes=(60, 120, 170)))


def test_a_nan_rolls_back(learner):
    check_detector(learner, curve(1, 80, nan_at=50))
