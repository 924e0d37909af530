from ns_checks import check_against_muon, check_against_svd, check_ns


def test_a_tall_matrix(learner):
    G, yours = check_ns(learner, (48, 12), seed=1)
    check_against_svd(G, yours)


def test_a_wide_matrix(learner):
    G, yours = check_ns(learner, (10, 40), seed=2)
    check_against_svd(G, yours)


def test_other_step_counts(learner):
    check_ns(learner, (20, 20), seed=3, steps=3)
    check_ns(learner, (20, 20), seed=3, steps=8)


def test_matches_torch_muon(learner):
    check_against_muon(learner, (24, 24), seed=4)
    check_against_muon(learner, (32, 16), seed=5)
