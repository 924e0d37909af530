"""How often the course's files are checked for edits.

Chapters and exercises are reloaded when a file changes, so an author sees an edit on the
next page. Finding out means a stat of every file (about 75 of them), and each page asks
twice, once for its body and once for its sidebar: under a class's load that was a fifth of
the web process's CPU. So a directory is checked at most once every RECHECK_S seconds
(COURSE_CONTENT_RECHECK_S; 1 s by default, 0 checks on every call, as the tests do, which
edit files and read them back at once).
"""
from __future__ import annotations

import os
import threading
import time
from typing import Callable, Hashable, TypeVar

RECHECK_S = float(os.environ.get("COURSE_CONTENT_RECHECK_S", "1.0"))

T = TypeVar("T")
_checked: dict[Hashable, tuple[float, object]] = {}
_lock = threading.Lock()


def checked(key: Hashable, look: Callable[[], T]) -> T:
    """look(), or what it returned for `key` less than RECHECK_S seconds ago."""
    now = time.monotonic()
    with _lock:
        hit = _checked.get(key)
    if hit is not None and now - hit[0] < RECHECK_S:
        return hit[1]  # type: ignore[return-value]
    value = look()
    with _lock:
        _checked[key] = (now, value)
    return value
