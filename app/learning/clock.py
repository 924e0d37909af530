"""The review schedule's clock: the real time in UTC, or, for tests, the real time moved ahead
by a number of seconds read from a file (Settings.clock_file, COURSE_CLOCK_FILE), so a test
can make cards due without sleeping, even in a server running in another process.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path


class Clock:
    def __init__(self, offset_file: Path | None = None):
        self.offset_file = offset_file

    def offset_s(self) -> float:
        """Seconds ahead of the real time: the file's number (0 when there is no file, or it is
        empty or not a number: a test clock never stops the server)."""
        if self.offset_file is None:
            return 0.0
        try:
            return float(self.offset_file.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0.0

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.offset_s())

    __call__ = now
