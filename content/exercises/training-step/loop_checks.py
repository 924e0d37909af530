"""The training-step tests' shared part: a tiny language model (token and position
embeddings, one hidden layer), a batch it can memorise, the three planted bugs a sanity
harness must flag, and your step compared with the reference loop step by step."""
import copy
import math
import warnings

import torch
import torch.nn.functional as F

from checks import close, compare_series, fail

VOCAB, LENGTH, ROWS, WIDTH = 16, 8, 4, 32


class TinyLM(torch.nn.Module):
    """logits (B, T, V) from tokens (B, T); `bug` plants one of the harness's three bugs."""

    def __init__(self, seed=0, dropout=0.0, bug=None, out_std=0.02):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.bug = bug
        self.tok = torch.nn.Parameter(torch.randn(VOCAB, WIDTH, generator=generator) * 0.5)
        self.pos = torch.nn.Parameter(torch.randn(LENGTH, WIDTH, generator=generator) * 0.5)
        self.hidden = torch.nn.Linear(WIDTH, 4 * WIDTH)
        self.out = torch.nn.Linear(4 * WIDTH, VOCAB)
        self.drop = torch.nn.Dropout(dropout)
        with torch.no_grad():
            self.hidden.weight.copy_(torch.randn(self.hidden.weight.shape, generator=generator) / math.sqrt(WIDTH))
            self.hidden.bias.zero_()
            scale = out_std * (60 if bug == "big-init" else 1)  # planted: an output layer initialised 60x too large
            self.out.weight.copy_(torch.randn(self.out.weight.shape, generator=generator) * scale)
            self.out.bias.zero_()

    def forward(self, x):
        tokens = self.tok[x]
        if self.bug == "ignores-input":  # planted: the forward pass reads the wrong tensor
            tokens = torch.zeros_like(tokens)
        h = F.gelu(self.hidden(tokens + self.pos[: x.shape[1]]))
        return self.out(self.drop(h))


def make_batch(seed=0):
    """ROWS sequences of LENGTH tokens whose (token, position) pairs are all different, so a
    model that reads its input can memorise the batch."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.stack([torch.randperm(VOCAB, generator=generator)[:ROWS] for _ in range(LENGTH)], dim=1)
    return x, torch.randint(0, VOCAB, (ROWS, LENGTH), generator=generator)


def loss_of(model, batch):
    x, y = batch
    return F.cross_entropy(model(x).flatten(0, 1), y.flatten())


PLANTED = {
    "big-init": "a model whose output layer is initialised 60x too large (its first loss is far above ln V)",
    "ignores-input": "a model whose forward pass ignores its input tokens (it cannot memorise the batch)",
    "zero-lr": "an optimizer whose learning rate is 0 (a warmup that starts at 0 and was never stepped)",
}


def adam(model, lr=3e-3):
    return torch.optim.Adam(model.parameters(), lr=lr)


def zero_lr_adam(model):
    optimizer = adam(model)
    torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: step / 100)  # sets lr to 0 at step 0
    return optimizer


# --- the training step ------------------------------------------------------------------------
def reference_step(model, batch, optimizer, scheduler, max_norm, bug=None):
    """Chapter 1's order (bug=None), or the step with one known bug."""
    if bug == "no-zero-grad":
        pass
    else:
        optimizer.zero_grad(set_to_none=True)
    if bug == "scheduler-first":
        scheduler.step()
    loss = loss_of(model, batch)
    loss.backward()
    if bug == "zero-before-step":
        optimizer.zero_grad(set_to_none=True)
    if bug != "no-clip":
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    if bug not in ("scheduler-first", "no-scheduler"):
        scheduler.step()
    return loss.item()


STEP_CAUSES = {
    "no-zero-grad": "the gradients were never zeroed, so each step added its gradient to all the earlier "
                    "ones: zero_grad once per step (before the forward pass, or after the update)",
    "scheduler-first": "scheduler.step() ran before optimizer.step(), so every update used the next "
                       "step's LR (and the first LR of the schedule was skipped)",
    "no-scheduler": "the scheduler was never stepped: the LR stayed at its first value",
    "no-clip": "the gradients were not clipped between backward() and optimizer.step() (clipping after "
               "the step, before backward, or not at all leaves this step's update unclipped)",
    "zero-before-step": "zero_grad ran between backward() and optimizer.step(): the step had no gradients",
}


def setup(seed):
    model = TinyLM(seed, out_std=0.3)  # gradient norms of about 2: clipping at 1.0 acts
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 4))
    return model, optimizer, scheduler


def step_trajectory(step_fn, seed, steps, max_norm, quiet=False):
    model, optimizer, scheduler = setup(seed)
    batches = [make_batch(seed * 100 + s) for s in range(steps)]
    weights, losses = [], []
    for batch in batches:
        with warnings.catch_warnings():
            if quiet:  # a simulated bug may be one PyTorch warns about (the scheduler first)
                warnings.simplefilter("ignore")
            losses.append(step_fn(model, batch, optimizer, scheduler, max_norm))
        weights.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone())
    return weights, losses


def check_train_step(learner, seed=0, steps=6, max_norm=1.0):
    yours_w, yours_l = step_trajectory(learner.train_step, seed, steps, max_norm)
    theirs_w, theirs_l = step_trajectory(reference_step, seed, steps, max_norm)
    bugs = {text: step_trajectory(lambda *a, b=bug: reference_step(*a, bug=b), seed, steps, max_norm, quiet=True)
            for bug, text in STEP_CAUSES.items()}
    at = list(range(1, steps + 1))
    if not all(isinstance(v, float) for v in yours_l):
        fail(f"train_step must return the loss as a Python float (loss.item()); it returned {yours_l[0]!r}")
    compare_series("the loss train_step returned", yours_l, theirs_l, label="call", rtol=1e-5, atol=1e-7,
                   bugs={t: v[1] for t, v in bugs.items()}, reference="the reference step", at=at)
    compare_series("the weights after train_step", yours_w, theirs_w, label="call", rtol=1e-5, atol=1e-7,
                   bugs={t: v[0] for t, v in bugs.items()}, reference="the reference step", at=at)


# --- the sanity harness -----------------------------------------------------------------------
def eval_loss(model, batch):
    model.eval()
    with torch.no_grad():
        value = loss_of(model, batch).item()
    model.train()
    return value


def check_initial_loss(learner, planted=None, seed=0):
    """Your initial_loss_check on a model with dropout: the loss it reports is the eval-mode
    loss, the model is back in training mode, and it flags a bad initialisation (and passes a
    model that starts well, even one with another bug)."""
    model, batch = TinyLM(seed, dropout=0.2, bug=planted), make_batch(seed)
    expected = eval_loss(copy.deepcopy(model), batch)
    torch.manual_seed(seed)
    ok, loss0 = learner.initial_loss_check(model, batch, VOCAB)
    if not close(loss0, expected, rtol=1e-5, atol=1e-6):
        cause = ""
        model_train = copy.deepcopy(model)
        torch.manual_seed(seed)
        with torch.no_grad():
            if close(loss0, loss_of(model_train, batch).item(), rtol=1e-5, atol=1e-6):
                cause = (". Likely cause: the loss was measured with dropout on: call model.eval() before the "
                         "measurement (and model.train() after)")
        fail(f"the initial loss you report is {loss0!r}; measured in eval mode without gradients it is "
             f"{expected:.6g}{cause}")
    if not model.training:
        fail("the model was left in eval mode after the check: call model.train() after measuring, or dropout "
             "stays off for the rest of training")
    ln_v = math.log(VOCAB)
    should_flag = planted == "big-init"  # the one planted bug a loss at initialisation can see
    if not should_flag and not ok:
        fail(f"your check flagged a model that starts well: its initial loss {expected:.3f} is within 0.5 of "
             f"ln V = ln {VOCAB} = {ln_v:.3f}. Likely cause: compare with the natural log of the vocabulary "
             f"size (math.log), not log10, log2 or V itself")
    if should_flag and ok:
        fail(f"your check passed {PLANTED[planted]}: its initial loss {expected:.3f} is {expected - ln_v:+.2f} "
             f"from ln V = {ln_v:.3f}; flag anything more than `tolerance` away")


def check_overfit(learner, planted=None, seed=0, steps=100):
    """Your overfit_check: the loop is the standard one (its final loss equals the reference
    loop's), a healthy model passes, and the planted bug is flagged."""
    bug = planted if planted in ("big-init", "ignores-input") else None
    make_optimizer = zero_lr_adam if planted == "zero-lr" else adam
    batch = make_batch(seed)
    yours_model, theirs_model = TinyLM(seed, bug=bug), TinyLM(seed, bug=bug)
    ok, final = learner.overfit_check(yours_model, batch, make_optimizer(yours_model), steps=steps)
    theirs = reference_overfit(theirs_model, batch, make_optimizer(theirs_model), steps)
    if not close(final, theirs, rtol=1e-4, atol=1e-6):
        def loop(n=steps, loop_bug=None):
            model = TinyLM(seed, bug=bug)
            return reference_overfit(model, batch, make_optimizer(model), n, loop_bug)

        suspects = {"the gradients were never zeroed inside the loop": [loop(loop_bug="no-zero-grad")],
                    f"the loop ran {steps - 1} or {steps + 1} steps instead of {steps}": [loop(steps - 1), loop(steps + 1)]}
        cause = next((text for text, values in suspects.items()
                      if any(close(final, v, rtol=1e-4, atol=1e-6) for v in values)), "")
        fail(f"after {steps} steps on the one batch your loop reports a loss of {final!r}; the standard loop "
             f"(forward, loss, backward, step, zero_grad) ends at {theirs:.6g}"
             + (f". Likely cause: {cause}" if cause else ""))
    if planted is None and not ok:
        fail(f"your check flagged a healthy model, whose loss on the batch falls to {theirs:.4f} in {steps} steps; "
             f"pass it when the final loss is below `target`")
    if planted is not None and ok:
        fail(f"your check passed {PLANTED[planted]}: its loss on the batch only reaches {theirs:.3f} after "
             f"{steps} steps; flag a final loss above `target`")


def reference_overfit(model, batch, optimizer, steps, bug=None):
    """The standard loop on one fixed batch (chapter 1's check 2); the last step's loss."""
    for _ in range(steps):
        loss = loss_of(model, batch)
        loss.backward()
        optimizer.step()
        if bug != "no-zero-grad":
            optimizer.zero_grad(set_to_none=True)
    return loss.item()
