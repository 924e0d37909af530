"""Each widget's real run at given parameters, trained once per test session and shared by
every test that reads it: the contract, the widget tests, the chapter claims, the predict checks.

A run is deterministic given its run key (app/serving/keys.py: the widget sources and the
corpus, the canonical parameters and seed, torch, the device and ATen's CPU kernel set), so a
run recorded under the very same key in var/check-runs (by `python -m app check`, or by an
earlier session) is that run, and is reused (app/tools/check/run_cache.py). Under another
kernel set the key differs and the run trains again (and is recorded under its own key).
COURSE_CHECK_FRESH=1 trains every run again and records nothing.

Every caller gets its own deep copy, so no test can change what another one reads.
"""
from __future__ import annotations

import copy
import os
from functools import lru_cache
from pathlib import Path

from app.settings import Settings
from app.tools.check.run_cache import RecordedRuns
from widgets.registry import all_widgets

# widgets that compute in well under a second at any setting (measured: at most 0.7 s): the
# fuzzer trains only these, and the short review load moves only these
QUICK_WIDGETS = frozenset({"bias-correction", "config-reader", "lr-schedule", "optimizer-race", "param-ladder"})


def cache_dir() -> Path | None:
    if os.environ.get("COURSE_CHECK_FRESH") == "1":
        return None
    return Settings().database_path.parent / "check-runs"


@lru_cache(maxsize=1)
def recorded() -> RecordedRuns:
    """The recorded runs, keyed on the lab as tests/conftest.py configured it."""
    return RecordedRuns(cache_dir())


@lru_cache(maxsize=None)
def _data(name: str, frozen: tuple) -> dict:
    return recorded().run(all_widgets()[name], dict(frozen))[0]


def widget_run(name: str, overrides: dict | None = None) -> tuple[dict, dict]:
    """(canonical values, data) of widget `name` at `overrides` (the defaults for the rest)."""
    widget = all_widgets()[name]
    values = widget.canonicalize(dict(overrides or {}))
    return values, copy.deepcopy(_data(name, tuple(sorted(values.items()))))


def widget_data(name: str, overrides: dict | None = None) -> dict:
    return widget_run(name, overrides)[1]
