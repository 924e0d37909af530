"""The corpus: tiny Shakespeare as characters, split 90/10 into train and validation.

Which file is read is the lab's runtime setting (widgets/lab/runtime.py): the app passes its
Settings' corpus path; a script gets the copy in this checkout's content/data/."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from widgets.lab import runtime

TRAIN_FRACTION = 0.9


@dataclass(frozen=True)
class Corpus:
    chars: str  # the vocabulary, sorted; index = token id
    train: torch.Tensor  # int64 token ids, first 90% of the text
    val: torch.Tensor  # the last 10%

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        lookup = {c: i for i, c in enumerate(self.chars)}
        return [lookup[c] for c in text]

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def load_corpus(path: Path | None = None) -> Corpus:
    """The corpus at `path`, by default the runtime's (read once per file and process)."""
    return _load(Path(path or runtime.current().corpus_path))


@lru_cache(maxsize=4)
def _load(path: Path) -> Corpus:
    text = path.read_text(encoding="utf-8")
    chars = "".join(sorted(set(text)))
    lookup = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([lookup[c] for c in text], dtype=torch.long)
    cut = int(TRAIN_FRACTION * len(ids))
    return Corpus(chars=chars, train=ids[:cut], val=ids[cut:])


class BatchStream:
    """A deterministic stream of (x, y) batches: the same seed gives the same batches.

    Every run trained in lockstep reads the same stream, so two curves differ only by
    the knob that was moved, never by the data they saw.
    """

    def __init__(self, tokens: torch.Tensor, batch_size: int, block_size: int, seed: int):
        self.tokens = tokens
        self.batch_size = batch_size
        self.block_size = block_size
        self.generator = torch.Generator().manual_seed(seed)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        starts = torch.randint(len(self.tokens) - self.block_size - 1, (self.batch_size,),
                               generator=self.generator)
        offsets = torch.arange(self.block_size)
        x = self.tokens[starts[:, None] + offsets]
        y = self.tokens[starts[:, None] + offsets + 1]
        return x, y


def fixed_batch(tokens: torch.Tensor, batch_size: int, block_size: int, seed: int):
    """One reproducible batch (used for validation and single-batch checks)."""
    return BatchStream(tokens, batch_size, block_size, seed).next()


class RepeatBatch:
    """A batch source that gives the same batch every step (the single-batch overfit check)."""

    def __init__(self, batch: tuple[torch.Tensor, torch.Tensor]):
        self.batch = batch

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.batch
