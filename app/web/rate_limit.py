"""Rate limits: a token bucket per key (a learner, a client address), in memory, bounded.

Each web process counts its own requests: with several processes behind one port a client
may get up to that many times the limit, still bounded. The map of buckets keeps at most
`max_keys` keys, forgetting the least recently used, so a flood of new keys (new cookies on
every request) costs a fixed amount of memory; a forgotten key starts again with a full
bucket, which the per-address limit beside it bounds. (pyrate-limiter, installed with the
tests, keeps a log of every hit per key and a leak thread; a bucket is two numbers.)

    limit = RateLimit(10, per_s=60)     # 10 at once, then one every 6 s
    wait = limit.hit(key)               # 0.0: allowed; otherwise seconds until allowed
    if wait: raise too_many(wait, "joining")
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

from fastapi import HTTPException


class RateLimit:
    def __init__(self, burst: int, per_s: float, max_keys: int = 10_000):
        self.burst = burst
        self.rate = burst / per_s  # tokens per second
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()  # routes run on the event loop and in worker threads

    def hit(self, key: str, now: float | None = None) -> float:
        """Take one token for `key`: 0.0 if there was one, else the seconds until there is."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens - 1.0 if not wait else tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait


class TooMany(HTTPException):
    """429 with Retry-After (whole seconds, rounded up)."""

    def __init__(self, wait_s: float, what: str):
        seconds = max(1, math.ceil(wait_s))
        super().__init__(429, f"too many {what} from you: try again in {seconds} s",
                         headers={"Retry-After": str(seconds)})


def check(limits: list[tuple[RateLimit, str]], what: str) -> None:
    """Take a token from every (limit, key); TooMany (429) with the longest wait if one is empty."""
    wait = max((limit.hit(key) for limit, key in limits), default=0.0)
    if wait:
        raise TooMany(wait, what)
