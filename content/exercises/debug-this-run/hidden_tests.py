from capstone_checks import check_other_values_kept, check_trains_healthily

BROKEN = dict(optimizer="adamw", betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, lr=1e-1, warmup_steps=20,
              schedule="cosine", min_lr=3e-4, grad_clip=0.0, micro_batch=8, seq_len=32, grad_accum=1,
              total_tokens=51_200, max_steps=2_000)


def test_the_other_values_are_kept(learner):
    check_other_values_kept(learner, BROKEN)


def test_the_fixed_config_trains_healthily(learner):
    check_trains_healthily(learner)
