"""Run identity: what a run's numbers depend on, as the engine's job name and the cache's key.

A result is named by the widget, its canonical parameters, the seed and the code version (a
hash of the widget and lab sources), and stored under that name plus the *profile* of what
computed it: torch version, device and ATen's CPU kernel set. The worker imports this module
to stamp its results; the engine, the cache and the checker import it to look them up.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache

from app.settings import ROOT

WIDGETS_DIR = ROOT / "widgets"


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the widget and lab sources as this process loaded them (a restart after an
    edit gives new keys, so results of the old code are never served for the new)."""
    digest = hashlib.sha1()
    for path in sorted(WIDGETS_DIR.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def canonical_json(values: dict) -> str:
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


def cache_key(widget: str, values: dict, seed: int) -> str:
    """What a run's numbers depend on apart from the machine: widget|params|seed|code."""
    return f"{widget}|{canonical_json(values)}|{seed}|{code_version()}"


@dataclass(frozen=True)
class Profile:
    """What computes a result: torch version, device, and ATen's CPU kernel set."""

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


def local_profile() -> Profile:
    """The profile of this process: what an embedded worker on this machine computes with."""
    import torch

    from widgets.lab.trainer import default_device

    return Profile(torch.__version__, default_device(), torch.backends.cpu.get_cpu_capability())


def job_key(widget: str, values: dict, seed: int) -> str:
    """The engine's name for the computation: identical requests share it, wherever they come
    from. Short and safe, because the parameters can be long text."""
    digest = hashlib.sha256(cache_key(widget, values, seed).encode()).hexdigest()[:24]
    return f"widget-{widget}-{digest}"


def result_key(job: str, profile: Profile) -> str:
    """The cache's key for a job's result as computed on `profile`."""
    return f"{job}@{hashlib.sha256(profile.token.encode()).hexdigest()[:12]}"
