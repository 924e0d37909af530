"""Several web processes on one machine (`make serve WEB_PROCESSES=2`, uvicorn --workers):
each has its own event loop and embedded cluster with its share of the cores, each is ready
only once it has pre-rendered and visited its pages, a learner's progress and a class's votes
are one store whichever process answers, and the idle background fill is split between them
so no setting trains twice."""
from __future__ import annotations

import time

import httpx
import pytest

import services
from app.serving.precompute.background import Share
from app.settings import Settings
from shared_course import shared_course

PROCESSES = 2


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("web-processes")
    with services.Stack(workdir) as stack:
        yield stack.web(uvicorn_args=("--workers", str(PROCESSES)), COURSE_WEB_PROCESSES=str(PROCESSES),
                        COURSE_CACHE_URL=f"sqlite:///{workdir / 'results.sqlite3'}",
                        COURSE_DB=str(workdir / "progress.sqlite3"))


def statuses(base: str, timeout: float = 120) -> dict[int, dict]:
    """/api/engine of every web process once each is ready (new connections reach either)."""
    seen: dict[int, dict] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < PROCESSES:
        assert time.monotonic() < deadline, f"ready within {timeout:.0f} s: {sorted(seen)}"
        status = httpx.get(base + "/api/engine", timeout=10).json()
        if status["engine"]["connected"] and status["engine"]["threads"] and status["prerendered"]["finished"]:
            seen[status["process"]["pid"]] = status
        time.sleep(0.05)
    return seen


def test_each_web_process_has_its_own_engine_with_its_share_of_the_cores(base):
    found = statuses(base)
    share = Settings(web_processes=PROCESSES).worker_count
    assert len({s["engine"]["scheduler"] for s in found.values()}) == PROCESSES, "one embedded cluster each"
    for status in found.values():
        assert status["process"]["web_processes"] == PROCESSES
        assert status["engine"]["mode"] == "embedded" and status["engine"]["workers"] == share
        assert status["prerendered"]["visited"] == len(shared_course().chapters) + 6


def test_a_learner_is_one_learner_whichever_process_answers(base):
    statuses(base)
    chapters = [c.slug for c in shared_course().chapters]
    close = {"Connection": "close"}  # a new connection each time: either process may take it
    with httpx.Client(base_url=base, timeout=30) as learner:
        learner.get("/", headers=close)
        for slug in chapters:
            assert learner.get(f"/chapters/{slug}", headers=close).status_code == 200
        for _ in range(4):
            progress = learner.get("/api/progress", headers=close).json()
            assert [slug for slug in chapters if not progress[slug]["visited"]] == []


def test_the_background_fill_is_split_between_the_processes(tmp_path):
    shares = [Share.claim(tmp_path, 2) for _ in range(3)]
    try:
        assert [s.index for s in shares[:2]] == [0, 1] and shares[2] is None, "two shares, no third"
        positions = range(10)
        assert sorted(p for s in shares[:2] for p in positions if s.mine(p)) == list(positions)
        shares[0].release()  # a process gone: the one that replaces it takes its share
        again = Share.claim(tmp_path, 2)
        assert again is not None and again.index == 0
        again.release()
    finally:
        for share in shares:
            if share is not None:
                share.release()
    assert Share.claim(tmp_path, 1).mine(7), "one web process fills everything"
