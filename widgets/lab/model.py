"""A tiny character-level GPT whose weights can hold several runs side by side.

Every parameter has a leading "runs" dimension R. Run r uses slice [r] of every
tensor, so R separate models train in one forward/backward pass: the matmuls
become batched matmuls, which is much faster on a small CPU than R separate
loops, and the runs cannot influence each other (their losses are summed, and the
gradient of a sum splits into each run's own gradient).

With R = 1 this is an ordinary GPT (nanoGPT's layout: learned positions, GELU
MLP, optional biases, optional tied input/output embeddings). Shapes in comments:
R runs, B batch, T time, C channels (n_embd), H heads, V vocabulary.

The stability switches of 2024-2026 practice are GPTConfig fields whose defaults keep
GPT-2's model exactly: QK-norm, an extra norm on each sublayer's output (sandwich or
peri-LN), tanh soft-capping of the attention and output logits (Gemma 2), the residual
projections' init scaling (GPT-2) and scaled token embeddings (Gemma, "Spike No More").
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 65  # tiny Shakespeare has 65 distinct characters
    block_size: int = 64  # context length in characters
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.0  # modern pretraining uses none; the overfitting lab turns it up
    bias: bool = True  # GPT-2 has biases in every linear layer and norm
    tie_weights: bool = True  # output head shares the token-embedding matrix (GPT-2 does)
    post_ln: bool = False  # Post-LN (original Transformer) instead of Pre-LN (GPT-2)
    qk_norm: bool = False  # normalise queries and keys: caps attention logits
    sandwich_norm: bool = False  # peri-LN: Pre-LN plus a norm on each sublayer's output (Gemma 2, OLMo-2)
    attn_softcap: float = 0.0  # attention logits -> cap * tanh(logits / cap) (Gemma 2: 50); 0 = off
    logit_softcap: float = 0.0  # the same on the output logits (Gemma 2: 30); 0 = off
    residual_init_scale: bool = True  # GPT-2: residual projections start at std 0.02 / sqrt(2 n_layer)
    embed_scale: bool = False  # token embeddings times sqrt(n_embd) (Gemma; Takase et al.'s scaled embed)

    def with_(self, **changes) -> "GPTConfig":
        return replace(self, **changes)


def softcap(x: torch.Tensor, cap: float) -> torch.Tensor:
    """Gemma 2's soft cap: cap * tanh(x / cap). Near x for |x| << cap, never beyond +-cap."""
    return cap * torch.tanh(x / cap) if cap else x


def _stacked(runs: int, *shape: int) -> nn.Parameter:
    return nn.Parameter(torch.empty(runs, *shape))


def dropout(x: torch.Tensor, p: float, training: bool, generator: torch.Generator | None) -> torch.Tensor:
    """Inverted dropout whose mask comes from `generator`, never from torch's global RNG.

    Each job owns its generator (the trainer makes one from the spec's seed), so two jobs
    running at the same moment in two threads draw the same masks as each run alone.
    """
    if not training or p == 0.0:
        return x
    if generator is None:
        raise ValueError("dropout needs a generator: nothing in the lab reads torch's global RNG")
    keep = torch.empty_like(x).bernoulli_(1.0 - p, generator=generator).div_(1.0 - p)
    return x * keep


class StackedLayerNorm(nn.Module):
    def __init__(self, runs: int, dim: int, bias: bool):
        super().__init__()
        self.weight = _stacked(runs, dim)
        self.bias = _stacked(runs, dim) if bias else None

    def forward(self, x):  # x: (R, ..., C)
        shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        y = F.layer_norm(x, x.shape[-1:]) * self.weight.view(shape)
        return y + self.bias.view(shape) if self.bias is not None else y


class StackedLinear(nn.Module):
    def __init__(self, runs: int, fan_in: int, fan_out: int, bias: bool):
        super().__init__()
        self.weight = _stacked(runs, fan_in, fan_out)  # stored (in, out): y = x @ W
        self.bias = _stacked(runs, fan_out) if bias else None

    def forward(self, x):  # x: (R, B, T, in) -> (R, B, T, out)
        R, B, T, _ = x.shape
        y = torch.bmm(x.reshape(R, B * T, -1), self.weight).view(R, B, T, -1)
        return y + self.bias.view(R, 1, 1, -1) if self.bias is not None else y


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig, runs: int):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must divide into n_head heads"
        self.config = config
        self.qkv = StackedLinear(runs, config.n_embd, 3 * config.n_embd, config.bias)
        self.proj = StackedLinear(runs, config.n_embd, config.n_embd, config.bias)
        self.record_logits = False  # set by the spike lab to trace the largest attention logit
        self.max_logit = None  # (R,) tensor after a forward pass with record_logits
        self.causal = True  # lab/bugs.py switches it off to show what a missing mask does
        self.generator: torch.Generator | None = None  # dropout masks (set by TinyGPT.set_generator)
        self.qk_norm_runs: torch.Tensor | None = None  # (R,) bool: QK-norm per run, overriding the config

    def _qk_norm(self, q, k, R):  # (R*B, H, T, C/H) each
        if self.qk_norm_runs is None:
            if not self.config.qk_norm:
                return q, k
            return F.rms_norm(q, q.shape[-1:]), F.rms_norm(k, k.shape[-1:])
        on = self.qk_norm_runs.repeat_interleave(q.shape[0] // R).view(-1, 1, 1, 1)
        return (torch.where(on, F.rms_norm(q, q.shape[-1:]), q), torch.where(on, F.rms_norm(k, k.shape[-1:]), k))

    def _logits(self, q, k, T):
        """The attention logits the softmax sees: scaled, soft-capped, causally masked."""
        logits = softcap((q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1]), self.config.attn_softcap)
        if self.causal:
            logits = logits.masked_fill(~torch.ones(T, T, dtype=torch.bool, device=q.device).tril(), -math.inf)
        return logits

    def forward(self, x):  # (R, B, T, C)
        R, B, T, C = x.shape
        H = self.config.n_head
        q, k, v = self.qkv(x).split(C, dim=-1)
        # (R, B, T, C) -> (R*B, H, T, C/H): runs and batch are just more batch
        q, k, v = (t.reshape(R * B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        q, k = self._qk_norm(q, k, R)
        if self.record_logits:
            with torch.no_grad():
                self.max_logit = self._logits(q, k, T).view(R, -1).amax(1)
        p = self.config.dropout if self.training else 0.0
        if p == 0.0 and not self.config.attn_softcap:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        else:  # written out: the soft cap, and attention dropout drawn from the job's generator
            y = dropout(self._logits(q, k, T).softmax(-1), p, True, self.generator) @ v
        y = y.transpose(1, 2).reshape(R, B, T, C)
        return dropout(self.proj(y), self.config.dropout, self.training, self.generator)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig, runs: int):
        super().__init__()
        self.fc = StackedLinear(runs, config.n_embd, 4 * config.n_embd, config.bias)
        self.proj = StackedLinear(runs, 4 * config.n_embd, config.n_embd, config.bias)
        self.dropout = config.dropout
        self.generator: torch.Generator | None = None

    def forward(self, x):
        return dropout(self.proj(F.gelu(self.fc(x))), self.dropout, self.training, self.generator)


class Block(nn.Module):
    def __init__(self, config: GPTConfig, runs: int):
        super().__init__()
        if config.post_ln and config.sandwich_norm:
            raise ValueError("sandwich_norm adds norms to Pre-LN's sublayers: it does not combine with post_ln")
        self.post_ln = config.post_ln
        self.ln1 = StackedLayerNorm(runs, config.n_embd, config.bias)
        self.attn = CausalSelfAttention(config, runs)
        self.ln2 = StackedLayerNorm(runs, config.n_embd, config.bias)
        self.mlp = MLP(config, runs)
        if config.sandwich_norm:  # each sublayer's output is normalised before it joins the residual stream
            self.ln1_out = StackedLayerNorm(runs, config.n_embd, config.bias)
            self.ln2_out = StackedLayerNorm(runs, config.n_embd, config.bias)
        else:
            self.ln1_out = self.ln2_out = None

    def forward(self, x):
        if self.post_ln:  # normalise after the residual add: the classic warmup-hungry layout
            x = self.ln1(x + self.attn(x))
            return self.ln2(x + self.mlp(x))
        if self.ln1_out is not None:  # sandwich / peri-LN: a norm on each side of every sublayer
            x = x + self.ln1_out(self.attn(self.ln1(x)))
            return x + self.ln2_out(self.mlp(self.ln2(x)))
        x = x + self.attn(self.ln1(x))  # Pre-LN: the residual stream is never normalised
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    """A GPT with `runs` independent copies of its weights, initialised identically (or one
    draw per seed, see init_weights)."""

    def __init__(self, config: GPTConfig, runs: int = 1):
        super().__init__()
        self.config = config
        self.runs = runs
        self.wte = _stacked(runs, config.vocab_size, config.n_embd)  # token embeddings
        self.wpe = _stacked(runs, config.block_size, config.n_embd)  # learned positions
        self.blocks = nn.ModuleList(Block(config, runs) for _ in range(config.n_layer))
        self.ln_f = None if config.post_ln else StackedLayerNorm(runs, config.n_embd, config.bias)
        self.lm_head = None if config.tie_weights else _stacked(runs, config.n_embd, config.vocab_size)
        self.generator: torch.Generator | None = None

    def set_generator(self, generator: torch.Generator | None) -> "TinyGPT":
        """The generator every dropout mask of this model is drawn from (one per job)."""
        for module in self.modules():
            if hasattr(module, "generator"):
                module.generator = generator
        return self

    # --- initialisation --------------------------------------------------------
    def init_weights(self, seed: int, run_seeds: Sequence[int] | None = None) -> "TinyGPT":
        """GPT-2's init (std 0.02, residual projections scaled by 1/sqrt(2 n_layer) unless
        residual_init_scale is off; norm gains 1, biases 0).

        Drawn once for run 0 and copied to every run: lockstep runs start identical. With
        `run_seeds` (one per run), each run starts from its own seed's draw instead; runs of
        the same seed start identical, and a run of seed s starts where init_weights(s) does.
        """
        seeds = list(run_seeds) if run_seeds is not None else [seed] * self.runs
        if len(seeds) != self.runs:
            raise ValueError(f"run_seeds names {len(seeds)} seeds for {self.runs} runs")
        generators = {s: torch.Generator().manual_seed(s) for s in dict.fromkeys(seeds)}
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer) if self.config.residual_init_scale else 0.02
        gains = {f"{name}.weight" for name, m in self.named_modules() if isinstance(m, StackedLayerNorm)}
        with torch.no_grad():
            for name, p in self.named_parameters():
                draws = {}
                for s, generator in generators.items():  # every seed draws its tensors in the same order
                    one = torch.empty(p.shape[1:])
                    if name in gains:
                        one.fill_(1.0)
                    elif name.endswith("bias"):
                        one.zero_()
                    else:
                        std = residual_std if name.endswith("proj.weight") else 0.02
                        one.normal_(0.0, std, generator=generator)
                    draws[s] = one
                p.copy_(torch.stack([draws[s] for s in seeds]))
        return self

    # --- forward -----------------------------------------------------------------
    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """idx, targets: (B, T) shared by every run, or (R, B, T), each run its own batch (runs
        of different seeds read different batches). Returns logits (R, B, T, V), loss (R,)."""
        B, T = idx.shape[-2:]
        assert T <= self.config.block_size, f"sequence of {T} exceeds block_size {self.config.block_size}"
        if idx.dim() == 3:  # run r's tokens from run r's embedding table
            tokens = self.wte[torch.arange(self.runs, device=idx.device).view(-1, 1, 1), idx]
        else:
            tokens = self.wte[:, idx]
        tokens = tokens * math.sqrt(self.config.n_embd) if self.config.embed_scale else tokens
        x = tokens + self.wpe[:, :T].unsqueeze(1)  # (R, B, T, C)
        x = dropout(x, self.config.dropout, self.training, self.generator)
        for block in self.blocks:
            x = block(x)
        if self.ln_f is not None:
            x = self.ln_f(x)
        head = self.wte.transpose(1, 2) if self.lm_head is None else self.lm_head  # (R, C, V)
        logits = torch.bmm(x.reshape(self.runs, B * T, -1), head).view(self.runs, B, T, -1)
        logits = softcap(logits, self.config.logit_softcap)
        if targets is None:
            return logits, None
        per_token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                    (targets if targets.dim() == 3 else targets.repeat(self.runs, 1)).reshape(-1),
                                    reduction="none")
        return logits, per_token.view(self.runs, -1).mean(1)

    def set_record_logits(self, on: bool) -> None:
        for block in self.blocks:
            block.attn.record_logits = on

    def set_qk_norm_runs(self, runs: list[bool] | None) -> None:
        """QK-norm in some runs only (the layer-health lab's fault); None: as the config says."""
        mask = None if runs is None else torch.tensor(runs, dtype=torch.bool, device=self.wte.device)
        for block in self.blocks:
            block.attn.qk_norm_runs = mask

    def max_attention_logit(self) -> torch.Tensor | None:
        """Largest attention logit per run from the last recorded forward pass."""
        values = [b.attn.max_logit for b in self.blocks if b.attn.max_logit is not None]
        return torch.stack(values).amax(0) if values else None


# --- parameter bookkeeping ---------------------------------------------------------
def is_embedding(name: str) -> bool:
    return name in ("wte", "wpe")


def is_decayed(name: str, param: torch.Tensor) -> bool:
    """Weight decay goes on the weight matrices only: not embeddings, norm gains or biases."""
    return param.dim() - 1 >= 2 and not is_embedding(name)


def count_parameters(model: TinyGPT) -> dict:
    """Parameters of ONE run, split by embedding/other and decayed/not decayed."""
    counts = {"total": 0, "embedding": 0, "non_embedding": 0, "decayed": 0, "not_decayed": 0}
    for name, p in model.named_parameters():
        n = p[0].numel()
        counts["total"] += n
        counts["embedding" if is_embedding(name) else "non_embedding"] += n
        counts["decayed" if is_decayed(name, p) else "not_decayed"] += n
    return counts


def run_slice(model: TinyGPT, run: int) -> dict[str, torch.Tensor]:
    """The weights of one run, as a name -> tensor dict (views, not copies)."""
    return {name: p[run] for name, p in model.named_parameters()}
