"""Module-level jobs for the engine tests (workers import them: tests/ is on their path)."""
from __future__ import annotations

import time
from pathlib import Path

from app.serving.worker.job_context import JobCancelled, report


def count_up(steps: int, pause: float, stopped_file: str | None = None) -> int:
    """Reports every `pause` seconds; writes when and why it stopped to `stopped_file`."""
    done = 0
    try:
        for done in range(1, steps + 1):
            time.sleep(pause)
            report({"done": done, "total": steps})
    except JobCancelled:
        if stopped_file:
            Path(stopped_file).write_text(f"cancelled {time.time()!r} {done}")
        raise
    if stopped_file:
        Path(stopped_file).write_text(f"finished {time.time()!r} {done}")
    return done


def fail(message: str) -> None:
    raise ValueError(message)
