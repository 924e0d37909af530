"""Recorded runs of predict widgets (var/check-runs), so `python -m app check` and the tests
need not train the same run twice.

A run is deterministic given its key: the widget, its canonical parameters and seed, the
hash of every widget source file, torch's version, the device, ATen's CPU kernel set and
the corpus. The kernel set matters because processors round differently and training
amplifies it: a run recorded with AVX-512 kernels must never answer for the unvectorised ones.
MKL's and oneDNN's own instruction-set limits (MKL_ENABLE_INSTRUCTIONS, ONEDNN_MAX_CPU_ISA:
set, they make this processor compute like an older one) are part of the key for the same reason.
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

import torch

from app.serving.keys import cache_key
from widgets.lab.data import CORPUS_PATH
from widgets.lab.trainer import default_device


@lru_cache(maxsize=1)
def corpus_hash() -> str:
    return hashlib.sha1(CORPUS_PATH.read_bytes()).hexdigest()[:12]


def run_key(widget, values: dict) -> str:
    return "|".join([cache_key(widget.name, values, widget.seed), torch.__version__, default_device(),
                     torch.backends.cpu.get_cpu_capability(), str(torch.get_num_threads()), corpus_hash(),
                     *(os.environ.get(name, "") for name in ("MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA"))])


def recorded_path(widget, values: dict, cache_dir: Path) -> Path:
    digest = hashlib.sha1(run_key(widget, values).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{widget.name}-{digest}.json"


def load(widget, values: dict, cache_dir: Path | None) -> dict | None:
    """The recorded run, or None (no cache, never recorded, or unreadable)."""
    if cache_dir is None:
        return None
    path = recorded_path(widget, values, cache_dir)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def save(widget, values: dict, cache_dir: Path | None, data: dict) -> None:
    """Record a run; a cache that cannot be written is skipped, not an error."""
    if cache_dir is None:
        return
    path = recorded_path(widget, values, cache_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
    except (OSError, ValueError):
        pass
