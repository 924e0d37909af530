"""At start-up the web process renders the result fragments a class asks for first.

A cached result still costs the web process about 10 ms to render (its figure as JSON, its
tables, its highlighted code) the first time a setting is asked for; the widget jobs' memo
keeps it after that (app/serving/jobs.py). When a class arrives together, those first renders
all land in the same seconds: under the 100-learner load bench, pages slower than 100 ms
were almost all first renders. So once the server is up, a thread renders the fragment (and the
stream's `result` event that carries it to a moved slider) of every precomputed setting that is already in the shared cache, nearest first (the order of
`app.serving.precompute.moves.moves`), PRERENDER_RADIUS slider positions out from each placement. Nothing
is computed: a setting whose result is not cached is skipped. `GET /api/engine` says how
far it has got ("prerendered").

A served process then asks itself once for every page (the course, each chapter, the
glossary...) as a visitor without a cookie, who writes nothing: a chapter's first render
highlights its code, parses its exercises and renders its waiting widgets, two to four times
the cost of the next, and without this a class arriving on a fresh server paid for all of them
in its first seconds. Last, the heap is settled (settle_heap); only then is the server
"finished", ready as a teacher's server is before the class.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time

import httpx

from app.serving.precompute.moves import moves
from app.web.views.widget import result_event

log = logging.getLogger(__name__)
WARM_PAGES = ("/glossary", "/widgets", "/review", "/learning", "/search?q=warmup")  # besides the chapters
PRERENDER_RADIUS = 1  # what `python -m app precompute` fills by default, and the load bench moves


class Prerender:
    def __init__(self, app, radius: int = PRERENDER_RADIUS):
        self.app = app
        self.radius = radius
        self.rendered = 0
        self.finished = False
        self.frozen = 0  # objects settle_heap put out of the collector's reach
        self.visited = 0  # pages asked for once at start-up
        self.seconds = 0.0
        self._stop = threading.Event()
        self._task: asyncio.Future | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._main())

    async def _main(self) -> None:
        engine = self.app.state.engine
        if engine.mode == "cluster":  # its workers' profiles name the cached results: wait for them
            try:
                await engine.started()
            except Exception:
                log.warning("no engine: the precomputed settings are not pre-rendered", exc_info=True)
                self.finished = True
                return
        # embedded and in-process engines compute with this machine's own profile: no need to
        # wait for (or, in-process, to start) Dask
        try:
            await asyncio.to_thread(self._run)
            if engine.mode != "inprocess":  # a served process (the tests' apps skip both)
                await self.visit_pages()
                self.frozen = await asyncio.to_thread(settle_heap)
        finally:
            # finished once the heap is settled too: its full collection holds the GIL for a
            # few hundred milliseconds, and a class let in before it would wait for it
            self.finished = True

    async def stop(self) -> None:
        """After engine.close() (which cancels a cluster connection still being made): a
        rendering thread finishes its setting, about 10 ms, so nothing reads the cache after
        it is closed."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):  # _run logged any failure
                await self._task

    async def visit_pages(self) -> None:
        """Every page once, through the whole app, as a visitor without a cookie."""
        course = self.app.state.course.course()
        paths = ["/", *(f"/chapters/{chapter.slug}" for chapter in course.chapters), *WARM_PAGES]
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 0))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for path in paths:
                if self._stop.is_set():
                    return
                client.cookies.clear()  # each page as a first visit: a returning visitor's would be recorded
                try:
                    response = await client.get(path)
                    if response.status_code != 200:
                        log.warning("warming %s at start-up: status %d", path, response.status_code)
                except Exception:
                    log.exception("warming %s at start-up failed", path)
                self.visited += 1

    def status(self) -> dict:
        return {"rendered": self.rendered, "visited": self.visited, "finished": self.finished,
                "seconds": round(self.seconds, 2),
                "frozen_objects": self.frozen}

    def _run(self) -> None:
        state = self.app.state
        started = time.monotonic()
        try:
            for move in moves(state.course.course(), state.widgets, radius=self.radius):
                if self._stop.is_set():
                    return
                instance = instance_of(move.origin, move.widget)
                if instance is None:
                    continue
                widget = state.widgets[move.widget]
                values = widget.canonicalize(move.values)
                item = state.jobs.cached(widget, values)
                if item is not None:  # the fragment (for pages) and the stream's event (for moves)
                    result_event(state.templates, state.jobs, widget, values, instance, item)
                    self.rendered += 1
        except Exception:
            log.exception("pre-rendering the precomputed settings stopped")
        finally:
            self.seconds = time.monotonic() - started
            log.info("pre-rendered %d fragments in %.1f s", self.rendered, self.seconds)


def settle_heap() -> int:
    """Put what start-up built out of the cyclic collector's reach (gc.freeze): the course, the
    modules of torch, Dask and FastAPI, the pre-rendered fragments. Without it, every full
    collection walks all of it: under the 100-learner load bench the web process stopped for
    150-280 ms every few seconds (30-70 ms at most with it). Also called by the load bench for
    its own client. Not with the in-process
    engine: that is the tests' and scripts' (many apps in one process; freezing each would keep
    its cycles for good)."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()  # counted by walking them all: once, here, not per status request
    log.info("froze %d start-up objects out of the collector's reach", frozen)
    return frozen


def instance_of(origin: str, widget: str) -> str | None:
    """The widget instance a setting of this origin is shown in: a chapter's placement, or the
    widget's own page (its defaults). Predict runs are rendered by the quiz, not here."""
    if origin == "defaults":
        return widget
    _, _, instance = origin.partition("#")
    return None if not instance or instance.startswith("predict-") else instance
