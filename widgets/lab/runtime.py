"""Where the lab runs and what it reads: the device and the corpus file.

The lab reads no environment variable. Whoever runs it says where, once per process:

    from widgets.lab import runtime
    runtime.configure(device="cpu", corpus_path=Path("content/data/tinyshakespeare.txt"))

The app does so from its Settings (COURSE_DEVICE, COURSE_CORPUS) in each of its processes:
a Dask worker as it joins, the content checker, the precompute command. A script or a test
that configures nothing gets the defaults: CUDA when present, else the CPU, and the corpus
of this checkout.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

BUNDLED_CORPUS = Path(__file__).resolve().parents[2] / "content" / "data" / "tinyshakespeare.txt"


@dataclass(frozen=True)
class LabRuntime:
    device: str = ""  # "cpu", "cuda", "cuda:1"...; "" picks CUDA when present, else the CPU
    corpus_path: Path = BUNDLED_CORPUS

    def resolved_device(self) -> str:
        if self.device:
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


_current = LabRuntime()


def current() -> LabRuntime:
    return _current


def configure(device: str | None = None, corpus_path: Path | str | None = None) -> LabRuntime:
    """Set this process's device and/or corpus (None keeps what is set); returns the runtime
    that was in effect before, so a caller can put it back."""
    global _current
    before = _current
    changes = {}
    if device is not None:
        changes["device"] = device
    if corpus_path is not None:
        changes["corpus_path"] = Path(corpus_path)
    _current = replace(_current, **changes)
    return before


def restore(runtime: LabRuntime) -> None:
    """Put back a runtime that configure() returned."""
    global _current
    _current = runtime


def default_device() -> str:
    """The device a trainer uses when its caller names none (see the module docstring)."""
    return _current.resolved_device()
