"""What the load bench watches beside its learners (app/tools/bench/load.py): the engine's queue
and the memory of the server and its workers, once a second, and how late the bench's own event
loop wakes up (every latency it reports includes that)."""
from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:  # load.py imports this module
    from app.tools.bench.load import Results


def tree_rss_mb(pid: int) -> float:
    import psutil

    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20
    except psutil.Error:
        return float("nan")


async def watch(base: str, pid: int | None, until: float, results: Results) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10, verify=False) as client:
        while time.monotonic() < until:
            with contextlib.suppress(httpx.HTTPError):
                results.queue.append((await client.get("/api/engine")).json()["engine"]["pending"])
            if pid:
                results.memory_mb.append(tree_rss_mb(pid))
            await asyncio.sleep(1.0)


async def own_lateness(until: float, results: Results, every_s: float = 0.05) -> None:
    """How late the bench's own event loop wakes up: every latency it reports includes this
    (its learners share two cores with the server and its workers)."""
    while time.monotonic() < until:
        started = time.perf_counter()
        await asyncio.sleep(every_s)
        results.client_late.append(time.perf_counter() - started - every_s)
