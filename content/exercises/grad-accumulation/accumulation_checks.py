import torch

from checks import close, fail, short


def make(seed, k, micro, width=6):
    generator = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(width, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    batches = [(torch.randn(micro, width, generator=generator), torch.randint(0, 3, (micro,), generator=generator))
               for _ in range(k)]
    return model, batches


def copy_of(model):
    import copy
    return copy.deepcopy(model)


def full_batch(model, batches, lr):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    optimizer.zero_grad()
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    optimizer.step()
    return grads, loss.item()


def buggy_grads(model, batches, bug):
    model = copy_of(model)
    k = len(batches)
    for p in model.parameters():
        p.grad = None
    for x, y in batches:
        if bug == "zero-inside":
            for p in model.parameters():
                p.grad = None
        loss = torch.nn.functional.cross_entropy(model(x), y)
        (loss if bug == "no-divide" else loss / k).backward()
    return [p.grad.clone() for p in model.parameters()]


CAUSES = {
    "no-divide": "each micro-batch's loss was not divided by k, so the gradient is k times too "
                 "large: backward on loss / k",
    "zero-inside": "the gradients were zeroed inside the loop, so only the last micro-batch counts: "
                   "zero them once, before the loop",
}


def check_accumulation(learner, seed, k, micro, lr=0.1):
    model, batches = make(seed, k, micro)
    reference = copy_of(model)
    theirs_grads, theirs_loss = full_batch(reference, batches, lr)
    mine = copy_of(model)
    optimizer = torch.optim.SGD(mine.parameters(), lr=lr)
    calls = {"step": 0}
    original_step = optimizer.step

    def counting_step(*args, **kwargs):
        calls["step"] += 1
        return original_step(*args, **kwargs)

    optimizer.step = counting_step
    loss = learner.accumulate_and_step(mine, torch.nn.functional.cross_entropy, batches, optimizer)
    if calls["step"] != 1:
        fail(f"the optimizer stepped {calls['step']} times for {k} micro-batches: step once, after "
             f"the loop (stepping per micro-batch is not accumulation)")
    for index, (p, g) in enumerate(zip(mine.parameters(), theirs_grads)):
        if p.grad is None or not close(p.grad, g, rtol=1e-5, atol=1e-7):
            cause = ""
            for bug, text in CAUSES.items():
                if p.grad is not None and close(p.grad, buggy_grads(model, batches, bug)[index], rtol=1e-5, atol=1e-7):
                    cause = f". Likely cause: {text}"
                    break
            fail(f"the accumulated gradient of parameter {index} differs from PyTorch's full-batch "
                 f"gradient: yours starts {short(p.grad) if p.grad is not None else None}, PyTorch's {short(g)}{cause}")
    for index, (p, q) in enumerate(zip(mine.parameters(), reference.parameters())):
        if not close(p, q, rtol=1e-5, atol=1e-7):
            fail(f"after the step, parameter {index} differs: yours {short(p)}, PyTorch's {short(q)}")
    if not isinstance(loss, float) or not close(loss, theirs_loss, rtol=1e-5):
        fail(f"return the mean loss as a float: you returned {loss!r}, the full batch's loss is {theirs_loss:.6g}")
