"""The start-up visit (app/web/views/prerender.py: Prerender.visit_pages): a served process asks
itself once for every page before it says it is ready. Each request is a first visit, so it
renders everything a class's first requests would and records nothing."""
from __future__ import annotations

import sqlite3

from aio import run_async
from app.web.views.prerender import WARM_PAGES, Prerender


def rows_by_table(path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        tables = [name for (name,) in db.execute("select name from sqlite_master where type = 'table'")]
        return {t: db.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}


def test_every_page_is_visited_once_and_nothing_is_recorded(app, client, settings, caplog):
    before = rows_by_table(settings.database_path)
    warm = Prerender(app)
    with caplog.at_level("WARNING", logger="app.web.views.prerender"):
        run_async(warm.visit_pages)  # not asyncio.run: the browser tests' worker has a loop running
    chapters = app.state.course.course().chapters
    assert warm.visited == 1 + len(chapters) + len(WARM_PAGES)
    assert not caplog.records, [r.getMessage() for r in caplog.records]  # every page answered 200
    assert rows_by_table(settings.database_path) == before, "a first visit writes nothing"
    # what it rendered is what a learner's first request now finds: the chapters' waiting widgets
    assert len(app.state.jobs.memo) > 0
