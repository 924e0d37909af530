# The three bugs, fixed: the peak LR, clipping, and max_steps from the token budget.
CONFIG = dict(
    optimizer="adamw", betas=(0.9, 0.95), eps=1e-8,
    weight_decay=0.1,             # on the weight matrices only
    lr=3e-3, warmup_steps=20, schedule="cosine", min_lr=3e-4,
    grad_clip=1.0,
    micro_batch=8, seq_len=32, grad_accum=1,
    total_tokens=51_200,          # 51,200 / (8 x 32 x 1) = 200 steps
    max_steps=200,                # the schedule decays over the run's real length
)
