"""The checkpoint tests' shared part: a small language model with dropout, AdamW, a warmup
and decay schedule and a data stream, trained without a break and with a save, a fresh
start (new objects, another seed) and a resume in between; the two runs must agree bit for
bit. Reference save and load functions that forget one piece each name the common bugs."""
import math
import os
import tempfile

import torch
import torch.nn.functional as F

from checks import compare_series, fail

VOCAB, WIDTH, LENGTH, ROWS = 24, 32, 12, 6
TOKENS = 2000


class Data:
    """A stream of batches. `position` counts the batches served: the next batch is window
    number `position` of the data's fixed, pre-shuffled order. `generator` draws each batch's
    random crop inside its window. A resumed run needs both to see the same batches."""

    def __init__(self, seed=0):
        fixed = torch.Generator().manual_seed(12345)  # the data set itself: the same for every run
        self.tokens = torch.randint(0, VOCAB, (TOKENS,), generator=fixed)
        self.order = torch.randperm(TOKENS // 64 - 1, generator=fixed)
        self.generator = torch.Generator().manual_seed(seed)
        self.position = 0

    def next(self):
        window = int(self.order[self.position % len(self.order)]) * 64
        crops = torch.randint(0, 64 - LENGTH - 1, (ROWS,), generator=self.generator)
        self.position += 1
        starts = window + crops
        offsets = torch.arange(LENGTH)
        return self.tokens[starts[:, None] + offsets], self.tokens[starts[:, None] + offsets + 1]


class TinyLM(torch.nn.Module):
    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.tok = torch.nn.Embedding(VOCAB, WIDTH)
        self.pos = torch.nn.Embedding(LENGTH, WIDTH)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(WIDTH, 64), torch.nn.GELU(), torch.nn.Dropout(0.2),
                                       torch.nn.Linear(64, VOCAB))

    def forward(self, x):
        return self.mlp(self.tok(x) + self.pos(torch.arange(x.shape[1])))


def build(seed):
    """Everything a run has, made from scratch: a fresh process would do exactly this."""
    model = TinyLM(seed)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                                  lr=3e-3, betas=(0.9, 0.95))
    warmup, total = 4, 40
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min((s + 1) / warmup, 0.5 * (
        1 + math.cos(math.pi * min(1.0, s / total)))))
    return model, optimizer, scheduler, Data(seed)


def train(model, optimizer, scheduler, data, steps, record):
    for _ in range(steps):
        x, y = data.next()
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())  # dropout draws from the global RNG
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        record.append((loss.item(), torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()))


def run(save, load, total, stop_at, seed=0):
    """(losses, weights) per step: `stop_at` steps, save, a fresh start, load, the rest."""
    record = []
    torch.manual_seed(seed)
    model, optimizer, scheduler, data = build(seed)
    if save is None:
        train(model, optimizer, scheduler, data, total, record)
    else:
        train(model, optimizer, scheduler, data, stop_at, record)
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "checkpoint.pt")
            save(path, model=model, optimizer=optimizer, scheduler=scheduler, data=data, step=stop_at)
            del model, optimizer, scheduler, data
            model, optimizer, scheduler, data = build(seed + 1)  # another process, another seed
            torch.manual_seed(seed + 99)
            step = load(path, model=model, optimizer=optimizer, scheduler=scheduler, data=data)
        if step != stop_at:
            fail(f"load_checkpoint returned step {step!r}; the checkpoint was saved at step {stop_at}")
        train(model, optimizer, scheduler, data, total - stop_at, record)
    return [r[0] for r in record], [r[1] for r in record]


def reference_save(path, *, model, optimizer, scheduler, data, step, forget=None):
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(),
             "data_position": data.position, "data_generator": data.generator.get_state(), "step": step}
    state.pop(forget, None)
    torch.save(state, path)


def reference_load(path, *, model, optimizer, scheduler, data):
    state = torch.load(path)
    model.load_state_dict(state["model"])
    if "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    if "scheduler" in state:
        scheduler.load_state_dict(state["scheduler"])
    if "rng" in state:
        torch.set_rng_state(state["rng"])
    if "data_position" in state:
        data.position = state["data_position"]
    if "data_generator" in state:
        data.generator.set_state(state["data_generator"])
    return state["step"]


CAUSES = {
    "optimizer": "the optimizer's state was not restored: AdamW restarted with empty moments and step "
                 "counts (save optimizer.state_dict(), load it with optimizer.load_state_dict)",
    "scheduler": "the scheduler's state was not restored: the LR schedule restarted from its first step "
                 "(save scheduler.state_dict())",
    "rng": "the global RNG was not restored: the dropout masks after the resume differ "
           "(save torch.get_rng_state(), restore it with torch.set_rng_state)",
    "data_position": "the data position was not restored: the resumed run read the first batches again "
                     "(save data.position)",
    "data_generator": "the data's generator was not restored: the resumed run drew other crops "
                      "(save data.generator.get_state(), restore it with data.generator.set_state)",
}


def check_resume(learner, total=12, stop_at=5, seed=0):
    yours = run(learner.save_checkpoint, learner.load_checkpoint, total, stop_at, seed)
    theirs = run(None, None, total, stop_at, seed)
    bugs = {text: run(lambda *a, f=piece, **k: reference_save(*a, forget=f, **k), reference_load, total, stop_at, seed)
            for piece, text in CAUSES.items()}
    at = list(range(1, total + 1))
    compare_series("the loss of the resumed run", yours[0], theirs[0], rtol=0.0, atol=0.0,
                   bugs={t: v[0] for t, v in bugs.items()}, reference="the uninterrupted run", at=at)
    compare_series("the weights of the resumed run", yours[1], theirs[1], rtol=0.0, atol=0.0,
                   bugs={t: v[1] for t, v in bugs.items()}, reference="the uninterrupted run", at=at)
