# The config of a run that went wrong. Train it ("Train the tiny GPT with your code") to see
# its real loss curve, read it with chapter 10's config reader, find the three bugs, and fix
# them here. Keep every key; change only what is wrong.
CONFIG = dict(
    optimizer="adamw", betas=(0.9, 0.95), eps=1e-8,
    weight_decay=0.1,             # on the weight matrices only
    lr=1e-1, warmup_steps=20, schedule="cosine", min_lr=3e-4,
    grad_clip=0.0,
    micro_batch=8, seq_len=32, grad_accum=1,
    total_tokens=51_200,          # the token budget: the run stops when it is spent
    max_steps=2_000,              # the schedule decays over this many steps
)
