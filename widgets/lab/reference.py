"""A plain, single-run GPT in nanoGPT's style, built from ordinary torch.nn layers.

It exists to check the run-stacked TinyGPT (model.py): copy one run's weights in
with `load_run`, and the two must compute the same logits and loss. Its stability
switches use torch's own pieces where torch has them: nn.RMSNorm for QK-norm and
nn.LayerNorm for the sandwich norms; the attention soft cap is written out here and
checked against flex_attention with a score_mod (Gemma 2's cap is its textbook example). It also gives
the benchmark a baseline: `plain_train_steps` trains one model at a time the
ordinary way (torch.optim.AdamW), to compare against training R runs in lockstep.
Shapes in comments: B batch, T time, C channels (n_embd), H heads, V vocabulary.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from widgets.lab.model import GPTConfig, TinyGPT


def capped_causal_attention(q, k, v, cap: float):
    """Causal attention whose logits go through cap * tanh(logits / cap), written out
    (flex_attention has no backward on CPU; the tests check this against it, forward)."""
    T = q.shape[-2]
    scores = cap * torch.tanh(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]) / cap)
    future = torch.triu(torch.full((T, T), -math.inf, device=q.device), diagonal=1)
    return torch.softmax(scores + future, dim=-1) @ v


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.n_head, self.softcap = config.n_head, config.attn_softcap
        head = config.n_embd // config.n_head
        self.q_norm = nn.RMSNorm(head, elementwise_affine=False) if config.qk_norm else None
        self.k_norm = nn.RMSNorm(head, elementwise_affine=False) if config.qk_norm else None
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v at once
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x):  # (B, T, C)
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, H, T, C/H)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if self.softcap:
            y = capped_causal_attention(q, k, v, self.softcap)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, C/H)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble the heads
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x):  # (B, T, C) -> (B, T, 4C) -> (B, T, C)
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.post_ln = config.post_ln
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)
        self.sandwich = config.sandwich_norm
        if self.sandwich:  # a second norm on each sublayer's output (Gemma 2's sandwich, peri-LN)
            self.ln_1_out = nn.LayerNorm(config.n_embd, bias=config.bias)
            self.ln_2_out = nn.LayerNorm(config.n_embd, bias=config.bias)

    def forward(self, x):
        if self.post_ln:  # original Transformer: normalise after each residual add
            x = self.ln_1(x + self.attn(x))
            return self.ln_2(x + self.mlp(x))
        if self.sandwich:
            x = x + self.ln_1_out(self.attn(self.ln_1(x)))
            return x + self.ln_2_out(self.mlp(self.ln_2(x)))
        x = x + self.attn(self.ln_1(x))  # GPT-2: normalise each branch's input only
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        # Post-LN already ends every block with a norm; Pre-LN needs one before the head
        self.ln_f = None if config.post_ln else nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_weights:
            self.lm_head.weight = self.wte.weight  # one (V, C) matrix reads and writes tokens
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2: scale the residual projections
            if name.endswith("c_proj.weight") and config.residual_init_scale:
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, 0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx, targets=None):  # idx, targets: (B, T)
        B, T = idx.shape
        # an oracle for dropout-free runs: it draws no random numbers at all
        assert not (self.training and self.config.dropout), "the reference GPT has no dropout"
        tokens = self.wte(idx) * (math.sqrt(self.config.n_embd) if self.config.embed_scale else 1.0)
        x = tokens + self.wpe(torch.arange(T, device=idx.device))  # (B, T, C)
        for block in self.h:
            x = block(x)
        if self.ln_f is not None:
            x = self.ln_f(x)
        logits = self.lm_head(x)  # (B, T, V)
        if self.config.logit_softcap:  # Gemma 2: the output logits never pass +-cap
            logits = self.config.logit_softcap * torch.tanh(logits / self.config.logit_softcap)
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


@torch.no_grad()
def load_run(model: GPT, stacked: TinyGPT, run: int = 0) -> GPT:
    """Copy run `run` of a TinyGPT into `model`. TinyGPT stores linear weights as
    (in, out) for x @ W; nn.Linear keeps (out, in), hence the transposes."""
    def linear(dst: nn.Linear, src):
        dst.weight.copy_(src.weight[run].T)
        if dst.bias is not None:
            dst.bias.copy_(src.bias[run])

    def norm(dst: nn.LayerNorm, src):
        dst.weight.copy_(src.weight[run])
        if dst.bias is not None:
            dst.bias.copy_(src.bias[run])

    model.wte.weight.copy_(stacked.wte[run])
    model.wpe.weight.copy_(stacked.wpe[run])
    for mine, theirs in zip(model.h, stacked.blocks, strict=True):
        norm(mine.ln_1, theirs.ln1)
        norm(mine.ln_2, theirs.ln2)
        if mine.sandwich:
            norm(mine.ln_1_out, theirs.ln1_out)
            norm(mine.ln_2_out, theirs.ln2_out)
        linear(mine.attn.c_attn, theirs.attn.qkv)
        linear(mine.attn.c_proj, theirs.attn.proj)
        linear(mine.mlp.c_fc, theirs.mlp.fc)
        linear(mine.mlp.c_proj, theirs.mlp.proj)
    if model.ln_f is not None:
        norm(model.ln_f, stacked.ln_f)
    if not model.config.tie_weights:
        model.lm_head.weight.copy_(stacked.lm_head[run].T)
    return model


def from_run(stacked: TinyGPT, run: int = 0) -> GPT:
    """A plain GPT holding a copy of run `run`'s weights."""
    return load_run(GPT(stacked.config), stacked, run)


def plain_train_steps(model: GPT, batches, lr: float, steps: int, betas=(0.9, 0.95),
                      weight_decay: float = 0.0) -> list[float]:
    """Train one model the ordinary way, one step per batch; returns the losses.

    `batches` is a BatchStream (anything with .next()) or a sequence of (x, y), reused
    in order if shorter than `steps`. The betas match the lockstep trainer's defaults.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
    model.train()
    losses = []
    for t in range(steps):
        x, y = batches.next() if hasattr(batches, "next") else batches[t % len(batches)]
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
