"""Running a coroutine from a synchronous test.

The browser tests keep Playwright's sync API alive for the whole session, and it leaves an
event loop running in the main thread; `asyncio.run` there raises "cannot be called from a
running event loop". A fresh thread has no loop, so the coroutine gets one of its own."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor


def run_async(make_coro):
    """Run `make_coro()` to completion on a new event loop in a new thread; return its result."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-loop") as pool:
        return pool.submit(lambda: asyncio.run(make_coro())).result()
