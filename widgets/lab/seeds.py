"""Several seeds of every curve, trained in the same lockstep pass.

A TrainSpec with `seeds=3` trains each of its RunConfigs three times, as more stacked runs
of the one model: seed k starts from its own initial weights and reads its own batches, so
the spread between a curve's seeds is what another seed would have shown. Seed 0 is the
spec's own seed: its runs are exactly the runs `seeds=1` trains (except where dropout is on:
the masks come from the trainer's one generator, drawn for the whole stack, so a dropout run's
seed 0 starts from the same weights and reads the same batches, under other masks).

Stacked runs are seed-major: runs [0, C) are seed 0's C curves, [C, 2C) seed 1's, and so on,
so a result's first C runs are the one-seed result, whatever the count of seeds.

Whatever a widget gives per curve (an optimizer block, a recovery policy, Muon or not) it
gives for one seed: `per_seed` repeats it for every seed, in the same seed-major order. Batches
a widget chooses itself come as a factory, seed -> stream (`batch_source`), so each seed
reads its own stream of the widget's own data.

Curves that cannot share one stacked model (other shapes, dropout, dtypes, batch sizes or a
bug in the model) each have their own trainer: its spec's `seeds` stacks that curve's seeds
in it, and run_together steps the trainers side by side, so every seed of every curve still
trains in the same pass. `seed_major` then orders their runs as one trainer's result would be.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from widgets.lab.data import BatchStream

SEED_STRIDE = 1000  # seed k is spec.seed + 1000 k: clear of the spec.seed + 1 the validation batch uses
SEED_COUNTS = (1, 3, 5)  # what a widget offers: one run per curve, or enough for a spread and a test


def seed_values(base: int, count: int) -> tuple[int, ...]:
    """The seeds of a spec with `count` seeds, its own first."""
    if count < 1:
        raise ValueError(f"seeds={count}: at least one seed")
    return tuple(base + SEED_STRIDE * k for k in range(count))


def stacked(runs: Sequence, base: int, count: int) -> tuple[tuple, tuple[int, ...]]:
    """(every run once per seed, seed-major; the seed of each stacked run)."""
    seeds = seed_values(base, count)
    return tuple(r for _ in seeds for r in runs), tuple(s for s in seeds for _ in runs)


def per_seed(items: Sequence, runs: int) -> list:
    """A per-curve sequence (one entry per curve of one seed) repeated for each seed of `runs`
    stacked runs, seed-major; unchanged with one seed."""
    if not items or runs % len(items):
        raise ValueError(f"{len(items)} entries per seed do not divide {runs} stacked runs")
    return list(items) * (runs // len(items))


def per_seed_blocks(blocks: Sequence[tuple[int, object]], runs: int, seeds: int | None = None) -> list:
    """Optimizer blocks [(n_runs, make), ...] given for one seed's curves, repeated for each
    seed: every seed's curves get the same optimizers, each over its own runs. With `seeds`
    known, the blocks must hold exactly runs / seeds curves (too few is a mistake, not seeds)."""
    curves = sum(n for n, _ in blocks)
    if not curves or runs % curves or (seeds is not None and curves * seeds != runs):
        raise ValueError(f"the blocks hold {curves} runs, the spec {runs}")
    return list(blocks) * (runs // curves)


def seed_major(curves: Sequence[Sequence[dict]]) -> list[dict]:
    """The runs of trainers that each train one curve under every seed (one list per curve, in
    seed order), seed-major: seed 0's curves, then seed 1's, ... With one seed: one run per
    curve, in curve order, as before."""
    counts = {len(runs) for runs in curves}
    if len(counts) != 1:
        raise ValueError(f"every curve needs the same seeds, got {sorted(len(r) for r in curves)} runs")
    return [runs[k] for k in range(counts.pop()) for runs in curves]


StreamFactory = Callable[[int], object]  # seed -> a batch stream (anything with next() -> (x, y))


def batch_source(batches, tokens: torch.Tensor, batch_size: int, block_size: int, run_seeds: Sequence[int]):
    """The trainer's batches: `batches` as given (one stream, or a factory seed -> stream), by
    default the training split's stream; with several seeds, one stream per seed."""
    if batches is None:
        batches = lambda seed: BatchStream(tokens, batch_size, block_size, seed)  # noqa: E731
    several = len(set(run_seeds)) > 1
    if hasattr(batches, "next"):
        if several:
            raise ValueError("a spec of several seeds draws each seed's own batches: pass a factory "
                             "seed -> stream, not one stream")
        return batches
    return SeededBatches(batches, run_seeds) if several else batches(run_seeds[0])


class SeededBatches:
    """One batch stream per seed: each step, every stacked run reads its own seed's batch,
    as (R, B, T) tensors (the model gives run r its row r). Seed s's stream is the one a
    one-seed trainer of seed s reads (make_stream(s))."""

    def __init__(self, make_stream: StreamFactory, run_seeds: Sequence[int]):
        distinct = list(dict.fromkeys(run_seeds))
        self.streams = [make_stream(s) for s in distinct]
        self.rows = torch.tensor([distinct.index(s) for s in run_seeds])

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = zip(*(stream.next() for stream in self.streams))
        return torch.stack(xs)[self.rows], torch.stack(ys)[self.rows]
