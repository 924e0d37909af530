from spike_checks import check_detector, curve


def test_a_level_shift_skips_then_rolls_back(learner):
    check_detector(learner, curve(2, 150, shift_at=100))


def test_spikes_close_together(learner):
    check_detector(learner, curve(3, 200, spikes=(40, 41, 43, 90, 91, 92, 93)), max_skips=2)


def test_a_short_window_and_a_low_threshold(learner):
    check_detector(learner, curve(4, 300, spikes=(30, 150, 151)), window=8, threshold=3.0)
