"""The embedded workers' CPU priority (Settings.worker_priority): "idle" puts every thread of a
worker under Linux's SCHED_IDLE (threads it starts later too), so a waking web process takes
the CPU from training at once; "nice" lowers them by 10. The suite itself serves with "nice"
(tests/conftest.py says why); these tests ask for each explicitly."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from aio import run_async
from app.settings import ROOT, Settings, SettingsError

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")

# a thread started before the priority is lowered and one started after, then every thread's
# scheduling policy and nice value
REPORT = """
import json, os, sys, threading
from app.serving.worker.job_context import lower_priority
stop = threading.Event()
threading.Thread(target=stop.wait, daemon=True).start()
lower_priority(10, idle=sys.argv[1] == "idle")
threading.Thread(target=stop.wait, daemon=True).start()
tids = [int(t) for t in os.listdir("/proc/self/task")]
print(json.dumps([[os.sched_getscheduler(t), os.getpriority(os.PRIO_PROCESS, t)] for t in tids]))
"""


def thread_priorities(priority: str) -> list[list[int]]:
    done = subprocess.run([sys.executable, "-c", REPORT, priority], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_idle_puts_every_thread_and_every_later_one_under_sched_idle():
    threads = thread_priorities("idle")
    assert len(threads) >= 3
    assert all(policy == os.SCHED_IDLE for policy, _ in threads), threads


def test_nice_lowers_every_thread_by_ten_and_keeps_the_normal_policy():
    base = os.getpriority(os.PRIO_PROCESS, 0)
    threads = thread_priorities("nice")
    assert all(policy == os.SCHED_OTHER and nice == min(19, base + 10) for policy, nice in threads), threads


def test_the_default_is_idle_and_another_value_is_refused_by_name(monkeypatch):
    monkeypatch.delenv("COURSE_WORKER_PRIORITY", raising=False)
    assert Settings.from_env().worker_priority == "idle"
    monkeypatch.setenv("COURSE_WORKER_PRIORITY", "Nice ")
    assert Settings.from_env().worker_priority == "nice"
    monkeypatch.setenv("COURSE_WORKER_PRIORITY", "realtime")
    with pytest.raises(SettingsError, match="COURSE_WORKER_PRIORITY='realtime': expected one of idle, nice"):
        Settings.from_env()


@pytest.mark.serving
def test_an_embedded_cluster_set_to_idle_trains_under_sched_idle():
    from app.serving.cluster import Cluster

    async def worker_policies() -> dict:
        cluster = Cluster(dataclasses.replace(Settings.from_env(), scheduler="", workers=1, worker_priority="idle"))
        client = await cluster.connect()
        try:
            return await client.run(os.sched_getscheduler, 0)
        finally:
            await cluster.close()

    policies = run_async(worker_policies)  # not asyncio.run: tests/aio.py says why
    assert list(policies.values()) == [os.SCHED_IDLE], policies
