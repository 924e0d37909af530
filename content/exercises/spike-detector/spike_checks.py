import math

import torch

from checks import fail


def curve(seed, steps, spikes=(), shift_at=None, nan_at=None):
    """A decaying, noisy loss curve with spikes, an optional permanent jump and a nan."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(steps, generator=generator, dtype=torch.float64) * 0.02
    out = []
    for t in range(steps):
        loss = 4.0 * math.exp(-t / 150) + 1.5 + float(noise[t])
        if t in spikes:
            loss += 2.5
        if shift_at is not None and t >= shift_at:
            loss += 3.0
        if nan_at is not None and t == nan_at:
            loss = float("nan")
        out.append(loss)
    return out


def reference(losses, window, threshold, max_skips, bug=None):
    kept, in_a_row, out = [], 0, []
    for loss in losses:
        if not math.isfinite(loss) and bug != "nan-ok":
            in_a_row = 0
            out.append("rollback")
            continue
        if len(kept) >= window:
            w = torch.tensor(kept[-window:], dtype=torch.float64)
            std = w.std(correction=1 if bug == "unbiased" else 0)
            if loss > float(w.mean() + threshold * std):
                in_a_row += 1
                if bug == "spikes-kept":
                    kept.append(loss)
                if in_a_row >= max_skips:
                    in_a_row = 0
                    out.append("rollback")
                else:
                    out.append("skip")
                continue
        if bug != "count-not-reset":
            in_a_row = 0
        kept.append(loss)
        out.append("ok")
    return out


CAUSES = {
    "spikes-kept": "spikes were added to the window: a skipped loss must not move the mean and std "
                   "that judge the next one",
    "unbiased": "the std is the sample std (divides by n - 1); use the population std, correction=0",
    "count-not-reset": "the count of spikes was not reset by a normal loss: only spikes in a row "
                       "lead to a rollback",
    "nan-ok": "a nan loss was accepted: nan > limit is False, so test math.isfinite(loss) first",
}


def check_detector(learner, losses, window=20, threshold=4.0, max_skips=3):
    detector = learner.SpikeDetector(window=window, threshold=threshold, max_skips=max_skips)
    yours = [detector.observe(loss) for loss in losses]
    expected = reference(losses, window, threshold, max_skips)
    for step, (a, b) in enumerate(zip(yours, expected)):
        if a != b:
            cause = ""
            for bug, text in CAUSES.items():
                if yours == reference(losses, window, threshold, max_skips, bug)[:len(yours)]:
                    cause = f". Likely cause: {text}"
                    break
            fail(f"the first different decision is at step {step} (loss {losses[step]:.4g}): yours "
                 f"{a!r}, the reference's {b!r}{cause}")
