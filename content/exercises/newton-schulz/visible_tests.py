from ns_checks import check_against_svd, check_ns


def test_a_square_matrix(learner):
    G, yours = check_ns(learner, (16, 16), seed=0)
    check_against_svd(G, yours)
