"""The review part of the load bench (app/tools/bench/load.py): /review and its answers.

Every simulated learner, after its page, slider move and answer, opens /review and answers the
question due there (if any), as the page does with htmx. The bench's server reads its review
clock from COURSE_CLOCK_FILE, which `run_clock` moves a day ahead every CLOCK_S_PER_DAY seconds,
so the cards the learners make during the load fall due during it.
"""
from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from app.tools.bench.load import Results

CLOCK_S_PER_DAY = 5.0  # the bench server's review clock gains a day every this many seconds
REVIEW_FORM = re.compile(r'<form class="quiz-question review-card" method="post" action="(/review/[a-z0-9-]+/[a-z0-9-]+)"')


async def review(client: httpx.AsyncClient, results: Results) -> None:
    """Open /review and answer the question due there (the first option), as htmx does."""
    started = time.perf_counter()
    page = await client.get("/review")
    if page.status_code != 200:
        results.error(f"review {page.status_code}")
        return
    results.review_pages.append(time.perf_counter() - started)
    due = REVIEW_FORM.search(page.text)
    if due is None:
        return
    started = time.perf_counter()
    reply = await client.post(due.group(1), data={"choice": "0", "confidence": "think", "done": "0"},
                              headers={"HX-Request": "true"})
    results.review_answers.append(time.perf_counter() - started)
    if reply.status_code != 200:
        results.error(f"review answer {reply.status_code}")


async def run_clock(clock_file: Path, until: float) -> None:
    """The bench server's review clock: a day ahead every CLOCK_S_PER_DAY seconds."""
    started = time.monotonic()
    while time.monotonic() < until:
        clock_file.write_text(str((time.monotonic() - started) / CLOCK_S_PER_DAY * 86400))
        await asyncio.sleep(0.5)
