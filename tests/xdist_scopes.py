"""How `make test` splits the suite between its two pytest-xdist workers.

xdist's `loadscope` sends a module's tests to one worker, so its module fixtures (a Dask
cluster, Redis, a server of its own) start once. One thing more is wanted: every test on the
session's live server (the `live_server` fixture: the browser tests and a few others) goes to
one worker, so one server and one Chromium serve them all and the charts one test trains are
cached for the next, instead of a second server training them again on the other worker.

xdist's own `loadgroup` would do that from a mark, but it renames the tests (`...@group`), which
pytest 9 no longer lets a plugin do. So the workers, which know each test's fixtures, list the
live tests in a file of the session's shared folder when they have collected, and the
controller's scheduler (made by tests/conftest.py's pytest_xdist_make_scheduler) reads it once
it starts scheduling, after every worker has collected.
"""
from __future__ import annotations

import os
from pathlib import Path

from xdist.scheduler import LoadScopeScheduling

LIVE = "live"  # the scope of every test on the live server
LIVE_TESTS = "live-tests.txt"


def write_live_tests(folder: str, items) -> None:
    """In a worker, once collected: the ids of the tests that use the live server."""
    path = Path(folder) / LIVE_TESTS
    aside = path.with_name(f"{path.name}.{os.getpid()}")
    aside.write_text("".join(f"{item.nodeid}\n" for item in items
                             if "live_server" in getattr(item, "fixturenames", ())))
    os.replace(aside, path)  # every worker writes the same list: the last one wins, whole


class ModulesAndTheLiveServer(LoadScopeScheduling):
    """loadscope, except that the tests on the live server are one scope."""

    def __init__(self, config, log, folder: str) -> None:
        super().__init__(config, log)
        self.folder = Path(folder)
        self._live: set[str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._live is None:
            try:
                self._live = set((self.folder / LIVE_TESTS).read_text().split("\n")) - {""}
            except OSError:
                self._live = set()
        return LIVE if nodeid in self._live else super()._split_scope(nodeid)
