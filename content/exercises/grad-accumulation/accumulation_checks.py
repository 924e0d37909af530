"""The accumulation tests' shared part: yours against PyTorch's full-batch step, called twice
in a row (so that gradients left over from the first call show), and the common bugs
simulated to name the cause."""
import copy

import torch

from checks import close, fail, show_difference

LOSS = torch.nn.functional.cross_entropy


def make_model(seed, width=6):
    generator = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(width, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    return model


def make_batches(seed, k, micro, width=6):
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(micro, width, generator=generator) * 2, torch.randint(0, 3, (micro,), generator=generator))
            for _ in range(k)]


def full_batch_step(model, optimizer, batches, max_norm):
    """PyTorch on the whole batch at once: the gradients and loss accumulation must equal."""
    optimizer.zero_grad()
    loss = LOSS(model(torch.cat([b[0] for b in batches])), torch.cat([b[1] for b in batches]))
    loss.backward()
    if max_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    grads = [p.grad.clone() for p in model.parameters()]
    optimizer.step()
    return grads, loss.item()


def buggy_step(model, optimizer, batches, max_norm, bug):
    """The solution with one known bug."""
    k = len(batches)
    if bug != "no-zero-grad":
        optimizer.zero_grad()
    for x, y in batches:
        if bug == "zero-inside":
            optimizer.zero_grad()
        loss = LOSS(model(x), y)
        (loss if bug == "no-divide" else loss / k).backward()
        if bug == "clip-inside" and max_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    if max_norm is not None and bug != "clip-inside":
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    grads = [p.grad.clone() for p in model.parameters()]
    optimizer.step()
    return grads


CAUSES = {
    "no-zero-grad": "the gradients were not zeroed before the loop, so the previous call's gradient "
                    "was added to this one (the first call passes, the second does not): "
                    "optimizer.zero_grad() once, before the loop",
    "no-divide": "each micro-batch's loss was not divided by k, so the gradient is k times too "
                 "large: backward on loss / k",
    "zero-inside": "the gradients were zeroed inside the loop, so only the last micro-batch counts: "
                   "zero them once, before the loop",
    "clip-inside": "the gradient was clipped inside the loop, micro-batch by micro-batch; clip once, "
                   "after the loop, the accumulated (full-batch) gradient",
}


def sgd(model, lr):
    return torch.optim.SGD(model.parameters(), lr=lr)


def check_accumulation(learner, seed, k, micro, lr=0.1, max_norm=None, calls=2):
    """`calls` steps in a row, each on k fresh micro-batches, compared after every call."""
    start = make_model(seed)
    reference, mine = copy.deepcopy(start), copy.deepcopy(start)
    ref_opt, my_opt = sgd(reference, lr), sgd(mine, lr)
    suspects = {bug: copy.deepcopy(start) for bug in CAUSES}
    suspect_opts = {bug: sgd(model, lr) for bug, model in suspects.items()}
    steps = {"count": 0}
    original_step = my_opt.step

    def counting_step(*args, **kwargs):
        steps["count"] += 1
        return original_step(*args, **kwargs)

    my_opt.step = counting_step
    for call in range(calls):
        batches = make_batches(seed * 100 + call, k, micro)
        theirs_grads, theirs_loss = full_batch_step(reference, ref_opt, batches, max_norm)
        suspect_grads = {bug: buggy_step(suspects[bug], suspect_opts[bug], batches, max_norm, bug)
                         for bug in CAUSES}
        steps["count"] = 0
        args = (mine, LOSS, [(x.clone(), y.clone()) for x, y in batches], my_opt)
        loss = learner.accumulate_and_step(*args) if max_norm is None else \
            learner.accumulate_and_step(*args, max_norm=max_norm)
        which = f"call {call + 1} of {calls}"
        if steps["count"] != 1:
            fail(f"{which}: the optimizer stepped {steps['count']} times for {k} micro-batches: step once, "
                 f"after the loop (stepping per micro-batch is not accumulation)")
        for index, (p, g) in enumerate(zip(mine.parameters(), theirs_grads)):
            if p.grad is None or not close(p.grad, g, rtol=1e-5, atol=1e-7):
                cause = next((text for bug, text in CAUSES.items()
                              if p.grad is not None and close(p.grad, suspect_grads[bug][index], rtol=1e-5, atol=1e-7)),
                             "")
                yours = show_difference(p.grad, g) if p.grad is not None else "yours is None (zeroed after the step?)"
                fail(f"{which}: the accumulated gradient of parameter {index} differs from PyTorch's full-batch "
                     f"gradient{' clipped to ' + str(max_norm) if max_norm is not None else ''}: {yours}"
                     + (f". Likely cause: {cause}" if cause else ""))
        for index, (p, q) in enumerate(zip(mine.parameters(), reference.parameters())):
            if not close(p, q, rtol=1e-5, atol=1e-7):
                fail(f"{which}: after the step, parameter {index} differs: {show_difference(p, q)}")
        if not isinstance(loss, float) or not close(loss, theirs_loss, rtol=1e-5):
            fail(f"{which}: return the mean loss as a float: you returned {loss!r}, the full batch's loss "
                 f"is {theirs_loss:.6g}")
