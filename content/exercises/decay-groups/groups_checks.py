import torch
import torch.nn as nn

from checks import fail


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))


class TinyGPT(nn.Module):
    """nanoGPT's layout: token and position embeddings, blocks, a final norm, a tied head."""

    def __init__(self, vocab=17, width=8, layers=2, context=6, tie=True):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.lm_head = nn.Linear(width, vocab, bias=False)
        if tie:
            self.lm_head.weight = self.wte.weight

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            h = block.ln_1(x)
            q, k, v = block.attn(h).chunk(3, dim=-1)
            att = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)
            x = x + block.proj(att @ v)
            x = x + block.mlp(block.ln_2(x))
        return self.lm_head(self.ln_f(x))


def names_of(model):
    return {id(p): n for n, p in model.named_parameters()}


def check_groups(learner, tie=True, frozen=(), weight_decay=0.1, seed=0):
    torch.manual_seed(seed)
    model = TinyGPT(tie=tie)
    for name in frozen:
        model.get_parameter(name).requires_grad_(False)
    names = names_of(model)
    groups = learner.decay_groups(model, weight_decay)
    if not isinstance(groups, list) or len(groups) != 2 or not all(isinstance(g, dict) for g in groups):
        fail("return a list of two dicts: the decayed group, then the one without decay")
    decayed, plain = (list(groups[0]["params"]), list(groups[1]["params"]))
    if groups[0].get("weight_decay") != weight_decay or groups[1].get("weight_decay") != 0.0:
        fail(f"the first group's weight_decay must be {weight_decay}, the second's 0.0 "
             f"(yours: {groups[0].get('weight_decay')}, {groups[1].get('weight_decay')})")
    seen = [id(p) for p in decayed + plain]
    twice = {names.get(i, "?") for i in seen if seen.count(i) > 1}
    if twice:
        fail(f"{sorted(twice)} appear more than once (a tied weight is one parameter: use "
             f"model.named_parameters(), which lists it once)")
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    missing = [names[i] for i in trainable if i not in seen]
    if missing:
        fail(f"these trainable parameters are in no group: {sorted(missing)[:6]}")
    extra = [names.get(i, "?") for i in seen if i not in trainable]
    if extra:
        fail(f"frozen parameters (requires_grad=False) must be left out: {sorted(extra)}")
    wrong_decay = sorted(names[id(p)] for p in decayed if p.dim() < 2)
    if wrong_decay:
        kinds = "LayerNorm gains and shifts" if any("ln" in n for n in wrong_decay) else "biases"
        fail(f"{wrong_decay[:4]} are decayed, but 1-D parameters ({kinds}) must not be: pulling a "
             f"norm's gain or a bias towards 0 only hurts")
    missed = sorted(names[id(p)] for p in plain if p.dim() >= 2)
    if missed:
        hint = " (embeddings too: nanoGPT decays every 2-D tensor)" if any("wte" in n or "wpe" in n for n in missed) else ""
        fail(f"{missed[:4]} have 2 or more dimensions and must decay{hint}")
    # the groups train like the expected ones in torch.optim.AdamW
    mine = torch.optim.AdamW(groups, lr=1e-2)
    idx = torch.randint(0, 17, (4, 6), generator=torch.Generator().manual_seed(seed))
    losses = []
    for _ in range(3):
        mine.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(idx).flatten(0, 1), idx.roll(-1, 1).flatten())
        loss.backward()
        mine.step()
        losses.append(loss.item())
    if not all(torch.isfinite(torch.tensor(losses))):
        fail("training with your groups gave a non-finite loss")
