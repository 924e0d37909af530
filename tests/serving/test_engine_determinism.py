"""Two dropout jobs run through the engine at the same moment give bit-identical numbers to
each run alone. The in-process engine runs both in threads of one process, which is where a
shared random generator would mix them up (worker processes alone would hide that)."""
from __future__ import annotations

import asyncio
import json

from aio import run_async
from app.serving.keys import code_version
from app.serving.engine import Engine
from app.settings import Settings
from app.serving.worker.widget_task import run_widget
from widgets.registry import all_widgets

SETTINGS = [{"steps": 60, "dropout": 0.2, "slice_chars": 2000}, {"steps": 60, "dropout": 0.35, "slice_chars": 2000}]


def canonical(data: dict) -> str:
    return json.dumps(data, sort_keys=True)  # NaN prints as NaN: equal runs give equal text


def test_two_dropout_jobs_at_once_equal_each_run_alone(tmp_path):
    widget = all_widgets()["overfitting"]
    values = [widget.canonicalize(params) for params in SETTINGS]
    alone = [canonical(widget.compute(v)) for v in values]
    settings = Settings(database_path=tmp_path / "p.sqlite3", warm_cache=False, scheduler="inprocess",
                        cache_url="memory://")

    async def together():
        engine = Engine(settings)
        try:
            await engine.started()
            assert engine.threads >= 2, "two worker threads, so both jobs run at the same moment"
            handles = [await engine.submit(f"determinism-{i}", run_widget, widget.name, v,
                                                 code_version(settings.corpus_path))
                       for i, v in enumerate(values)]
            for handle in handles:  # both report before either ends: they really overlap
                while not handle.take(0)[0]:
                    await handle.wait(30)
            assert not any(handle.done for handle in handles)
            items = await asyncio.gather(*(h.result() for h in handles))
            for handle in handles:
                handle.release()
            return items
        finally:
            await engine.close()

    items = run_async(together)
    assert [canonical(item["data"]) for item in items] == alone
    assert alone[0] != alone[1]
