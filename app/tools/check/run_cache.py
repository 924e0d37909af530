"""Recorded runs of predict widgets (var/check-runs), so `python -m app check` and the tests
need not train the same run twice.

A recorded run is filed under the one run key of app/serving/keys.py, as the result cache
files a result: RunKey (widget, canonical parameters, seed, code version of the widget and
lab sources and the corpus, torch's thread count) on the Profile of this process (torch,
device, CPU kernel set). All of it is taken from this process as it will compute the run
(the lab as Settings.configure_lab set it up, torch's thread count now): a run recorded with
AVX-512 kernels, on another device, with two threads or from another corpus never answers
for this one.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from filelock import FileLock

from app.serving.keys import Profile, RunKey, code_version, local_profile
from widgets.lab import runtime


class RecordedRuns:
    """The runs recorded in `cache_dir` (None: nothing is recorded or reused)."""

    def __init__(self, cache_dir: Path | None, code: str | None = None, profile: Profile | None = None):
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.code = code or code_version(runtime.current().corpus_path)
        self.profile = profile or local_profile(runtime.default_device())

    def path(self, widget, values: dict) -> Path:
        run = RunKey.of(widget.name, values, widget.seed, self.code, torch.get_num_threads())
        key = run.on(self.profile)
        return self.cache_dir / f"{widget.name}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"

    def load(self, widget, values: dict) -> dict | None:
        """The recorded run, or None (no cache, never recorded, or unreadable)."""
        if self.cache_dir is None:
            return None
        try:
            return json.loads(self.path(widget, values).read_text())
        except (OSError, ValueError):
            return None

    def save(self, widget, values: dict, data: dict) -> None:
        """Record a run; a cache that cannot be written is skipped, not an error."""
        if self.cache_dir is None:
            return
        path = self.path(widget, values)
        # written aside, then renamed: a process reading the same run at once (the check, the
        # tests, their rerun on another kernel set) sees the whole record or none
        aside = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            aside.write_text(json.dumps(data))
            os.replace(aside, path)
        except (OSError, ValueError):
            aside.unlink(missing_ok=True)

    def run(self, widget, values: dict) -> tuple[dict, bool]:
        """(the run's data, whether it was recorded already): trained and recorded if not. A
        process that finds another one training the same run waits for its record (the test
        suite's xdist workers ask for many of the same runs)."""
        data = self.load(widget, values)
        if data is not None:
            return data, True
        if self.cache_dir is None:
            return widget.compute(values), False
        path = self.path(widget, values)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(path.with_name(path.name + ".lock")):
            data = self.load(widget, values)
            if data is not None:
                return data, True
            data = widget.compute(values)
            self.save(widget, values, data)
        return data, False
