"""Run identity: what a run's numbers depend on. One key for every cache of runs: the result
cache (app/serving/jobs.py), the content checker's recorded runs (app/tools/check/run_cache.py)
and the tests' shared runs (tests/shared_runs.py).

    code = code_version(settings.corpus_path)          # once per process
    run = RunKey.of(widget.name, values, widget.seed, code, settings.torch_threads)
    run.job                      # the engine's name for the computation
    run.on(profile)              # the key of its result as computed on `profile`

A run is named by the widget, its canonical parameters, the seed, the code version (a hash
of the widget and lab sources *and of the corpus they train on*: an edited corpus gives new
keys) and torch's thread count. Its result is filed under that name plus the Profile of what
computed it: torch's version, the device, and the CPU kernel set (ATen's, plus the
instruction-set limits of MKL and oneDNN where MKL_ENABLE_INSTRUCTIONS or ONEDNN_MAX_CPU_ISA
set them): processors round differently and training amplifies it, so a result of one kernel
set never answers for another.

The thread count is in the key because torch's intra-op threads (COURSE_TORCH_THREADS) change
the numbers. Measured on this project's machine (x86-64, AVX-512 kernels, torch 2.13, CPU),
eleven widgets at their defaults (warmup, lr-sweep, clip-norm, batch-noise, precision, muon,
spikes, param-ladder, scaling-demo, optimizer-race-gpt, grad-accumulation), 1 thread against
2: eight gave bit-identical data, but batch-noise, muon and scaling-demo did not (their
larger reductions are split between threads and summed in another order: batch-noise's noise
scale moved by about 2e-8 relative), while batch-noise run twice on one thread was identical.
tests/serving/test_run_identity.py checks that the key follows both the corpus and the threads.

The worker imports this module to stamp its results; the engine, the cache and the checker
import it to look them up.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from app.settings import ROOT

WIDGETS_DIR = ROOT / "widgets"
# instruction-set limits of the math libraries: set, they make this processor compute like an older one
ISA_LIMITS = ("MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")


def code_version(corpus_path: Path) -> str:
    """A hash of the widget and lab sources as they are on disk now, and of the corpus. A
    process computes it once, at start-up (app.state.code_version; a worker as it joins): a
    restart after an edit gives new keys, so results of the old code are never served for
    the new."""
    digest = hashlib.sha1()
    for path in sorted(WIDGETS_DIR.rglob("*.py")):
        digest.update(path.relative_to(WIDGETS_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    digest.update(b"corpus\0" + Path(corpus_path).read_bytes())
    return digest.hexdigest()[:12]


def canonical_json(values: dict) -> str:
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Profile:
    """What computes a result: torch version, device, and the CPU kernel set."""

    torch: str
    device: str
    cpu: str

    @property
    def token(self) -> str:
        return f"{self.torch}/{self.device}/{self.cpu}"

    @classmethod
    def parse(cls, token: str) -> "Profile":
        torch, device, cpu = token.split("/", 2)
        return cls(torch, device, cpu)


def cpu_kernels() -> str:
    """ATen's CPU kernel set, with MKL's and oneDNN's instruction-set limits when set."""
    import torch

    limits = [f"{name}={os.environ[name]}" for name in ISA_LIMITS if os.environ.get(name)]
    return "+".join([torch.backends.cpu.get_cpu_capability(), *limits])


def local_profile(device: str) -> Profile:
    """The profile of this process computing on `device` ("cpu", "cuda"; resolved, not "")."""
    import torch

    return Profile(torch.__version__, device, cpu_kernels())


@dataclass(frozen=True)
class RunKey:
    """One run: the widget, its canonical parameters, the seed, the code version and the
    number of torch threads it trains with."""

    widget: str
    params: str  # canonical JSON of the compute parameters
    seed: int
    code: str
    threads: int

    @classmethod
    def of(cls, widget: str, values: dict, seed: int, code: str, threads: int) -> "RunKey":
        return cls(widget, canonical_json(values), seed, code, threads)

    @property
    def text(self) -> str:
        return f"{self.widget}|{self.params}|{self.seed}|{self.code}|{self.threads}"

    @property
    def job(self) -> str:
        """The engine's name for the computation: identical requests share it, wherever they
        come from. Short and safe, because the parameters can be long text."""
        return f"widget-{self.widget}-{hashlib.sha256(self.text.encode()).hexdigest()[:24]}"

    def on(self, profile: Profile) -> str:
        """The key of this run's result as computed on `profile`."""
        return result_key(self.job, profile)


def result_key(job: str, profile: Profile) -> str:
    return f"{job}@{hashlib.sha256(profile.token.encode()).hexdigest()[:12]}"
