"""How often the course's files are checked for edits.

Chapters and exercises are reloaded when a file changes, so an author sees an edit on the
next page. Finding out means a stat of every file (about 75 of them), and each page asks
twice, once for its body and once for its sidebar: under a class's load that was a fifth of
the web process's CPU. So a directory is checked at most once every `recheck_s` seconds
(Settings.content_recheck_s, COURSE_CONTENT_RECHECK_S; 1 s by default, 0 checks on every
call, as the tests do, which edit files and read them back at once).
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Hashable, TypeVar

T = TypeVar("T")


class Freshness:
    def __init__(self, recheck_s: float = 1.0):
        self.recheck_s = recheck_s
        self._checked: dict[Hashable, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def checked(self, key: Hashable, look: Callable[[], T]) -> T:
        """look(), or what it returned for `key` less than recheck_s seconds ago."""
        now = time.monotonic()
        with self._lock:
            hit = self._checked.get(key)
        if hit is not None and now - hit[0] < self.recheck_s:
            return hit[1]  # type: ignore[return-value]
        value = look()
        with self._lock:
            self._checked[key] = (now, value)
        return value
