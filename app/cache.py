"""An in-memory LRU cache of widget results, keyed by what determines them.

The key is (widget, canonical parameters, seed, code version): computation is
deterministic, so the same key always means the same numbers.
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

WIDGETS_DIR = Path(__file__).resolve().parents[1] / "widgets"


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the widget and lab sources: editing them invalidates cached results."""
    digest = hashlib.sha1()
    for path in sorted(WIDGETS_DIR.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cache_key(widget: str, values: dict, seed: int) -> str:
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return f"{widget}|{canonical}|{seed}|{code_version()}"


class ResultCache:
    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self._items: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> dict | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: str, item: dict) -> None:
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
