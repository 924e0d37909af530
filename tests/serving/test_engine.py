"""The engine's promises, on Dask workers in this process (the cheap mode; the embedded and
cluster modes are tested end to end in test_engine_embedded.py and test_engine_cluster.py):
identical jobs are shared, a job nobody wants stops at its next report, a learner's newer
request supersedes the older, the queue is bounded, learners go ahead of background filling."""
from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest

import engine_jobs
from aio import run_async
from app.serving.engine import Engine, JobCancelled, JobFailed, QueueFull, Superseded
from app.settings import Settings

CANCEL_WITHIN_S = 0.5


@pytest.fixture
def engine_settings(tmp_path) -> Settings:
    return Settings(database_path=tmp_path / "p.sqlite3", warm_cache=False, scheduler="inprocess",
                    cache_url="memory://")


def run(scenario, settings):
    """Run `scenario(engine)` on a fresh engine and event loop; returns what it returns."""
    async def main():
        engine = Engine(settings)
        try:
            return await scenario(engine)
        finally:
            await engine.close()

    return run_async(main)


async def first_event(handle, timeout: float = 60) -> dict:
    async def first():
        async for event in handle.events():
            return event

    return await asyncio.wait_for(first(), timeout)


def stopped_at(path: Path, timeout: float = 5) -> tuple[str, float]:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, "the job never stopped"
        time.sleep(0.01)
    how, when, _ = path.read_text().split()
    return how, float(when)


def test_identical_jobs_share_one_computation(engine_settings):
    async def scenario(engine):
        a = await engine.submit("share-1", engine_jobs.count_up, 5, 0.01)
        b = await engine.submit("share-1", engine_jobs.count_up, 5, 0.01)
        results = await asyncio.gather(a.result(), b.result())
        a.release(), b.release()
        return results, dict(engine.counts)

    results, counts = run(scenario, engine_settings)
    assert results == [5, 5]
    assert counts["submitted"] == 1 and counts["shared"] == 1


def test_a_job_nobody_wants_stops_at_its_next_report(engine_settings, tmp_path):
    stopped = tmp_path / "stopped"

    async def scenario(engine):
        handle = await engine.submit("cancel-1", engine_jobs.count_up, 10_000, 0.02, str(stopped))
        await first_event(handle)
        released = time.time()
        handle.release()
        with pytest.raises(JobCancelled):
            await handle.result()
        return released

    released = run(scenario, engine_settings)
    how, when = stopped_at(stopped)
    assert how == "cancelled" and when - released < CANCEL_WITHIN_S


def test_a_late_follower_replays_the_events_from_the_first(engine_settings):
    async def scenario(engine):
        first = await engine.submit("replay-1", engine_jobs.count_up, 30, 0.02)
        seen = []
        async for event in first.events():
            seen.append(event["done"])
            if len(seen) == 3:
                break
        late = await engine.submit("replay-1", engine_jobs.count_up, 30, 0.02)
        replayed = [event["done"] async for event in late.events()]
        first.release(), late.release()
        return replayed

    assert run(scenario, engine_settings) == list(range(1, 31))


def test_a_newer_request_of_the_same_learner_and_widget_supersedes_the_older(engine_settings, tmp_path):
    stopped = tmp_path / "stopped"

    async def scenario(engine):
        old = await engine.submit("old", engine_jobs.count_up, 10_000, 0.02, str(stopped), owner=("ann", "warmup"))
        await first_event(old)
        other = await engine.submit("other", engine_jobs.count_up, 3, 0.01, owner=("bob", "warmup"))
        new = await engine.submit("new", engine_jobs.count_up, 3, 0.01, owner=("ann", "warmup"))
        with pytest.raises(Superseded):
            await old.result()
        results = await new.result(), await other.result()
        new.release(), other.release()
        return results, engine.counts["superseded"]

    results, superseded = run(scenario, engine_settings)
    assert results == (3, 3) and superseded == 1, "another learner's run is not touched"
    assert stopped_at(stopped)[0] == "cancelled"


def test_the_queue_is_bounded(engine_settings):
    async def scenario(engine):
        long = await engine.submit("long", engine_jobs.count_up, 10_000, 0.02)
        with pytest.raises(QueueFull) as full:
            await engine.submit("another", engine_jobs.count_up, 1, 0.01)
        same = await engine.submit("long", engine_jobs.count_up, 10_000, 0.02)  # no new work: fine
        long.release(), same.release()
        return full.value

    full = run(scenario, replace(engine_settings, max_queue=1))
    assert full.retry_after >= 1 and "limit is 1" in full.reason


def test_one_learner_cannot_fill_the_queue(engine_settings):
    async def scenario(engine):
        mine = await engine.submit("a", engine_jobs.count_up, 10_000, 0.02, owner=("ann", "w1"))
        with pytest.raises(QueueFull, match="already have 1"):
            await engine.submit("b", engine_jobs.count_up, 1, 0.01, owner=("ann", "w2"))
        theirs = await engine.submit("c", engine_jobs.count_up, 1, 0.01, owner=("bob", "w2"))
        result = await theirs.result()
        mine.release(), theirs.release()
        return result

    assert run(scenario, replace(engine_settings, max_jobs_per_learner=1)) == 1


def test_a_failing_job_is_reported_and_the_engine_goes_on(engine_settings):
    async def scenario(engine):
        bad = await engine.submit("bad", engine_jobs.fail, "boom")
        with pytest.raises(JobFailed, match="ValueError: boom"):
            await bad.result()
        bad.release()
        good = await engine.submit("good", engine_jobs.count_up, 2, 0.01)
        result = await good.result()
        good.release()
        return result

    assert run(scenario, engine_settings) == 2


def test_a_learner_goes_ahead_of_background_filling(engine_settings, tmp_path):
    """Both worker threads fill in the background; a learner's run releases one of them,
    which stops at its next report, so the learner's run starts at once."""
    async def scenario(engine):
        await engine.started()
        fills = [await engine.submit(f"fill-{i}", engine_jobs.count_up, 10_000, 0.02,
                                     str(tmp_path / f"fill-{i}"), background=True) for i in range(engine.threads)]
        for fill in fills:
            await first_event(fill)
        started = time.monotonic()
        learner = await engine.submit("learner", engine_jobs.count_up, 1, 0.01)
        await learner.result()
        waited = time.monotonic() - started
        outcomes = []
        for fill in fills:
            try:
                await asyncio.wait_for(fill.result(), 0.01)
            except asyncio.TimeoutError:
                outcomes.append("running")
            except JobCancelled:
                outcomes.append("cancelled")
            fill.release()
        learner.release()
        return waited, outcomes

    waited, outcomes = run(scenario, engine_settings)
    assert outcomes.count("cancelled") == 1 and outcomes.count("running") == len(outcomes) - 1
    assert waited < 5, f"the learner waited {waited:.1f} s behind background work"


# --- through HTTP --------------------------------------------------------------------------
@pytest.fixture
def busy_client(settings):
    """A client of an app whose queue holds one run, already taken by a long one."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    app = create_app(replace(settings, max_queue=1))
    with TestClient(app) as client:
        engine = app.state.engine
        handle = client.portal.call(engine.submit, "long", engine_jobs.count_up, 10_000, 0.02)

        async def release():
            handle.release()

        yield client
        client.portal.call(release)


def test_a_full_queue_is_a_503_with_retry_after_everywhere(busy_client):
    query = {"steps": 20, "warmup": 5}
    twin = busy_client.get("/api/widgets/warmup", params=query)
    assert twin.status_code == 503 and int(twin.headers["Retry-After"]) >= 1
    assert "busy, queued" in twin.json()["detail"]
    stream = busy_client.get("/widgets/warmup/stream", params=query)
    assert stream.status_code == 503 and int(stream.headers["Retry-After"]) >= 1
    fragment = busy_client.get("/widgets/warmup", params={**query, "instance": "warmup"})
    assert fragment.status_code == 503 and int(fragment.headers["Retry-After"]) >= 1
    assert "busy, queued" in fragment.text and "data-retry-after" in fragment.text
    assert "data-stream-url" not in fragment.text, "the browser retries instead of hanging"
    assert busy_client.get("/chapters/learning-rate").status_code == 200, "pages still answer"


def test_engine_status_names_mode_workers_queue_and_cache(client):
    status = client.get("/api/engine").json()
    assert status["engine"]["mode"] == "inprocess" and status["engine"]["max_queue"] == 32
    assert status["cache"]["url"] == "memory://"
