"""The teacher's live view as Server-Sent Events, bounded.

Every CHECK_EVERY_S the stream asks the database for the class's version (a few counts and
latest times: ClassRecords.class_version); only when it moved (and at most every
RENDER_EVERY_S), or every REFRESH_S (members
stop being "active now" with time alone), are the parts of the view rendered again, and only
the parts whose HTML changed are sent: `event: update`, data {element id: html}. When the open
poll itself changed (a new poll, a second vote, a reveal), `event: reload` asks the page to
reload, so the poll panel and a revealed run are drawn by the page, not patched in.

The state lives in the shared progress database, so a view served by one web process sees
the votes sent through another (README, "Serving a class"); nothing is kept between requests
in the process except the count of open views.

Bounds: at most MAX_VIEWS_PER_CLASS streams per class in each web process (one more gets 429
with Retry-After); each stream ends after MAX_SECONDS, and EventSource reconnects by itself
after `retry` ms, so a forgotten tab costs a reconnect every MAX_SECONDS, not a stream forever.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from contextlib import contextmanager
from typing import AsyncIterator, Callable, Iterator

from fastapi import Request

from app.web.rate_limit import TooMany

MAX_VIEWS_PER_CLASS = 4
MAX_SECONDS = 600.0
CHECK_EVERY_S = 0.25
# While a class answers, the version moves at every check: the view is rendered again at most
# this often (rendering it takes tens of milliseconds of the web process's time; under the
# 100-learner load bench four renders a second were 8 % of it)
RENDER_EVERY_S = 0.5
REFRESH_S = 20.0
HEARTBEAT_S = 15.0
RECONNECT_MS = 1000


class LiveViews:
    """How many live views each class has open in this process."""

    def __init__(self, per_class: int = MAX_VIEWS_PER_CLASS):
        self.per_class = per_class
        self.open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def check_room(self, class_id: str) -> None:
        """TooMany (429) when the class has its most live views open in this process."""
        with self._lock:
            if self.open[class_id] >= self.per_class:
                raise TooMany(30, f"live views of this class (at most {self.per_class} at once; close one)")

    @contextmanager
    def slot(self, class_id: str) -> Iterator[None]:
        """Counts one open view while the stream runs (taken inside the stream, so a stream that
        never starts holds nothing; two views starting at once may pass check_room together)."""
        with self._lock:
            self.open[class_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self.open[class_id] -= 1
                if not self.open[class_id]:
                    del self.open[class_id]


def live_views(request: Request) -> LiveViews:
    found = getattr(request.app.state, "class_live_views", None)
    if found is None:
        found = request.app.state.class_live_views = LiveViews()
    return found


def sse(event: str, payload) -> str:
    return f"event: {event}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"


async def live_events(request: Request, version: Callable[[], tuple],
                      fragments: Callable[[], tuple[str, dict[str, str]]],
                      max_seconds: float | None = None) -> AsyncIterator[str]:
    """The stream's body: `version()` is cheap and says whether to call `fragments()`, which
    gives the open poll's version and the parts (both run in a worker thread: they read
    SQLite and render templates)."""
    max_seconds = MAX_SECONDS if max_seconds is None else max_seconds
    yield f"retry: {RECONNECT_MS}\n\n"
    started = last_beat = time.monotonic()
    sent: dict[str, str] = {}
    seen, rendered_at, poll_shown = None, 0.0, None
    while time.monotonic() - started < max_seconds:
        now = time.monotonic()
        current = await asyncio.to_thread(version)
        due = now - rendered_at >= RENDER_EVERY_S
        if (current != seen and due) or now - rendered_at > REFRESH_S:
            poll, parts = await asyncio.to_thread(fragments)
            seen, rendered_at = current, now
            if poll_shown is not None and poll != poll_shown:
                yield sse("reload", {"reason": "the poll changed"})
                return
            changed = {k: v for k, v in parts.items() if sent.get(k) != v}
            if changed or poll_shown is None:
                sent.update(changed)
                yield sse("update", {"parts": changed, "poll": poll, "at": time.time()})
                last_beat = now
            poll_shown = poll
        if now - last_beat > HEARTBEAT_S:
            yield ": still here\n\n"  # a comment: keeps proxies from closing an idle stream
            last_beat = now
        if await request.is_disconnected():
            return
        await asyncio.sleep(CHECK_EVERY_S)
    yield sse("bye", {"reason": f"a live view lasts {max_seconds:.0f} s; the page reconnects"})
