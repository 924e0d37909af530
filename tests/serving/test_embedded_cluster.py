"""The embedded cluster's process lives exactly as long as the web process that started it:
closed, it takes its workers with it; and when the web process is killed outright (SIGKILL:
nothing of it runs any more), the scheduler's process and every worker still go."""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from app.serving.embedded import EmbeddedCluster

GONE_WITHIN_S = 30.0
# Stands in for the web process: starts the cluster, prints the pids under it, then waits.
OWNER = """
import asyncio, json, psutil, sys
from app.serving.embedded import EmbeddedCluster

async def main():
    cluster = await EmbeddedCluster.start(1)
    for _ in range(600):  # until the worker process is up
        below = psutil.Process().children(recursive=True)
        if len(below) >= 2:
            break
        await asyncio.sleep(0.1)
    print(json.dumps({"address": cluster.address, "pids": [p.pid for p in below]}), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pids: list[int]) -> list[int]:
    deadline = time.monotonic() + GONE_WITHIN_S
    while time.monotonic() < deadline and any(map(alive, pids)):
        time.sleep(0.2)
    return [pid for pid in pids if alive(pid)]


def test_a_killed_web_process_takes_the_scheduler_and_workers_with_it():
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True,
                             cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    try:
        started = json.loads(owner.stdout.readline())
        assert len(started["pids"]) >= 2, "the scheduler's process and one worker"
        host_port = started["address"].removeprefix("tcp://")
        assert host_port.startswith("127.0.0.1:")
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
        assert wait_gone(started["pids"]) == []
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


def test_what_the_workers_print_never_reaches_the_pipe_the_address_came_through():
    """Nothing reads the child's stdout after the address: a worker that printed there would
    fill the pipe (64 KiB) and block. They print to stderr: the pipe stays empty."""

    async def start_print_and_close():
        from distributed import Client

        cluster = await EmbeddedCluster.start(1)
        try:
            async with Client(cluster.address, asynchronous=True) as client:
                await client.wait_for_workers(1)
                await client.run(lambda: print("x" * 10_000, flush=True))  # fits a pipe: never blocks here
            return await asyncio.wait_for(cluster.process.stdout.read(1), 0.5)
        except asyncio.TimeoutError:
            return b""
        finally:
            await cluster.close()

    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        assert thread.submit(asyncio.run, start_print_and_close()).result() == b""


def test_closing_it_stops_the_scheduler_and_its_workers():
    import psutil

    async def start_and_close():
        cluster = await EmbeddedCluster.start(1)
        below = psutil.Process(cluster.process.pid)
        for _ in range(600):  # until the worker process is up
            if below.children(recursive=True):
                break
            await asyncio.sleep(0.1)
        pids = [cluster.process.pid] + [p.pid for p in below.children(recursive=True)]
        await cluster.close()
        return cluster, pids

    # in a thread of its own: a module run before this one on the same xdist worker may have
    # left an event loop running in the main thread, where asyncio.run refuses to start
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        cluster, pids = thread.submit(asyncio.run, start_and_close()).result()
    assert len(pids) >= 2
    assert cluster.process.returncode == 0
    assert wait_gone(pids) == []
    host, port = cluster.address.removeprefix("tcp://").rsplit(":", 1)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=2).close()
