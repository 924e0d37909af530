import torch

from checks import fail, forbid, short, show_difference

QUINTIC = (3.4445, -4.7750, 2.0315)


def iterate(G, steps=5, eps=1e-7, coefficients=QUINTIC, norm="frobenius"):
    a, b, c = coefficients
    X = G.float()
    tall = G.size(0) > G.size(1)
    if tall:
        X = X.T
    if norm == "frobenius":
        X = X / (X.norm() + eps)
    elif norm == "spectral":
        X = X / (torch.linalg.matrix_norm(X, ord=2) + eps)
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X if c else a * X + b * A @ X
    return X.T if tall else X


CAUSES = [
    (dict(norm="none"), "G was not normalised first: divide by its Frobenius norm (G.norm()) so the "
                        "singular values start at most 1, or the iteration blows up"),
    (dict(norm="spectral"), "the normalisation used the spectral norm; Muon divides by the "
                            "Frobenius norm, X / (X.norm() + eps)"),
    (dict(coefficients=(1.5, -0.5, 0.0)), "these are the cubic coefficients (1.5, -0.5); use the "
                                          "quintic (3.4445, -4.7750, 2.0315)"),
    (dict(coefficients=(3.4445, 2.0315, -4.7750)), "b and c are swapped: b = -4.7750 multiplies A, "
                                                   "c = 2.0315 multiplies A @ A"),
]


def relative(a, b):
    return float((a.float() - b.float()).norm() / b.float().norm())


F32_TOLERANCE = 1e-4
# bfloat16 keeps about 3 significant digits, and five iterations amplify its rounding: chapter
# 9's own bf16 code lands 2-4% (relative) from the float32 iteration, two bf16 runs that only
# order their operations differently up to 5% apart; every named bug is 17% away or more
BF16_TOLERANCE = 0.08
LOW_PRECISION = (torch.bfloat16, torch.float16)


def torch_newton_schulz():
    """torch.optim.Muon's own iteration (where its class and its function both call it)."""
    import torch.optim._muon as muon

    return [(muon, "_zeropower_via_newtonschulz")]


def learners(learner, G, **kwargs):
    with forbid(torch_newton_schulz(), "Newton-Schulz (torch.optim.Muon's)", learner):
        return learner.newton_schulz(G, **kwargs)


def known_bug(yours, G, steps, low) -> str | None:
    """The cause whose simulated iteration yours matches (None: none does)."""
    if not bool(torch.isfinite(yours).all()):
        return None
    for kwargs, text in CAUSES:
        with torch.no_grad():
            candidate = iterate(G, steps, **kwargs)
        if torch.isfinite(candidate).all() and relative(yours, candidate) < (BF16_TOLERANCE if low else F32_TOLERANCE):
            return text
    return None


def check_ns(learner, shape, seed, steps=5):
    G = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    yours = learners(learner, G.clone(), steps=steps)
    if not isinstance(yours, torch.Tensor) or tuple(yours.shape) != tuple(shape):
        fail(f"return a tensor of G's shape {tuple(shape)} (got {getattr(yours, 'shape', type(yours).__name__)})")
    expected = iterate(G, steps)
    finite = bool(torch.isfinite(yours).all())
    error = relative(yours, expected) if finite else float("inf")
    low = yours.dtype in LOW_PRECISION
    if error <= (BF16_TOLERANCE if low else F32_TOLERANCE):
        return G, yours
    cause = known_bug(yours, G, steps, low)
    if cause is None and not finite:  # blown up: one iteration shows which bug it was
        cause = known_bug(learners(learner, G.clone(), steps=1), G, 1, low)
    if cause is not None:
        fail(f"{shape}: yours differs from the quintic iteration{' (it overflows to inf or nan)' if not finite else ''}. "
             f"Likely cause: {cause}")
    if error <= BF16_TOLERANCE:  # float32 out, 16-bit rounding inside
        fail(f"{shape}: yours differs from the float32 iteration by {error:.3g} (relative), the size of "
             f"bfloat16 rounding. Likely cause: the iteration ran in bfloat16 (or float16) and was converted "
             f"back to float32 at the end. Either return the bfloat16 result, as chapter 9's code does (a "
             f"16-bit result is accepted within {BF16_TOLERANCE:.0%}), or run every step in float32 (held to "
             f"{F32_TOLERANCE:g})")
    precision = (f" Your result is {str(yours.dtype).replace('torch.', '')}, so {BF16_TOLERANCE:.0%} is "
                 f"allowed for its rounding; this is more than rounding" if low else "")
    fail(f"{shape}: yours differs from the quintic iteration by {error:.3g} (relative): "
         f"{show_difference(yours, expected, 'the float32 iteration')}.{precision}")


def check_against_svd(G, yours):
    U, S, Vh = torch.linalg.svd(G, full_matrices=False)
    polar = U @ Vh
    values = torch.linalg.svdvals(yours.float())
    if values.min() < 0.5 or values.max() > 1.3:
        fail(f"the singular values of yours run from {values.min():.3f} to {values.max():.3f}; five "
             f"quintic steps leave them between about 0.6 and 1.2")
    cosine = float((yours * polar).sum() / (yours.norm() * polar.norm()))
    if cosine < 0.97:
        fail(f"yours points away from the SVD's U @ V.T (cosine {cosine:.3f}, expected above 0.97)")


def check_against_muon(learner, shape, seed):
    generator = torch.Generator().manual_seed(seed)
    W = torch.nn.Parameter(torch.randn(shape, generator=generator))
    G = torch.randn(shape, generator=generator)
    before = W.detach().clone()
    W.grad = G.clone()
    lr = 0.1
    torch.optim.Muon([W], lr=lr, weight_decay=0.0, momentum=0.0, nesterov=False).step()
    adjusted = lr * max(1.0, shape[0] / shape[1]) ** 0.5  # Muon's default learning-rate adjustment
    muon_update = (before - W.detach()) / adjusted
    yours = learners(learner, G.clone())
    error = relative(yours, muon_update)
    if error > 0.06:
        fail(f"{shape}: one step of torch.optim.Muon moved the weights by -lr * {short(muon_update)}; yours "
             f"gives {short(yours)} (relative difference {error:.3f}; bfloat16 explains up to about 0.03)")
