"""The embedded cluster in a process of its own: a Dask scheduler and its worker processes.

    cluster = await EmbeddedCluster.start(workers=2)   # from the web process
    cluster.address                                    # tcp://127.0.0.1:PORT
    await cluster.close()

`make serve` trains on the machine that serves the pages. The scheduler used to run as a
thread of the web process, and under a class's load it took about a fifth of that process's
Python time (its heartbeats, task transitions and messages hold the GIL the pages need). Here
it runs in a child process (`python -m app.serving.embedded N`) which holds a LocalCluster: the
scheduler, and one worker process per core, as before.

The child lives exactly as long as the web process: it reads its stdin until end of file, and
end of file comes when the web process closes it or dies, even by SIGKILL (the kernel closes
the pipe). It then exits, and each worker, whose parent-alive pipe that closes, exits with it
(distributed's AsyncProcess). Nothing is left to a process that nobody owns.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0
# The scheduler serves its HTTP routes even without a dashboard, on 8787 unless told otherwise:
# any free loopback port, so two clusters on one machine never collide
LOOPBACK_ANY_PORT = "127.0.0.1:0"


class EmbeddedCluster:
    def __init__(self, process: asyncio.subprocess.Process, address: str):
        self.process = process
        self.address = address

    @classmethod
    async def start(cls, workers: int) -> "EmbeddedCluster":
        """The child started and its scheduler listening, its workers starting."""
        project = str(Path(__file__).resolve().parents[2])  # where `app` is found, installed or not
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [project, os.environ.get("PYTHONPATH")]))}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.serving.embedded", str(workers),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        try:
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)
            address = json.loads(line)["address"]
        except Exception as exc:
            process.kill()
            await process.wait()
            raise RuntimeError(f"the embedded Dask cluster did not start (exit code {process.returncode})") from exc
        return cls(process, address)

    async def close(self, timeout: float = 10.0) -> None:
        """End of file on the child's stdin: it closes its cluster and exits (killed if it has not
        within `timeout`)."""
        if self.process.returncode is None:
            self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except asyncio.TimeoutError:
                self.process.kill()
                await self.process.wait()


# --- the child ------------------------------------------------------------------------------
def local_cluster(workers: int):
    """A LocalCluster of worker processes on loopback, one thread each."""
    import dask
    from distributed import LocalCluster

    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536: glibc then hands freed
    # memory back at once, and torch's per-step tensors are mapped and faulted in again every
    # step; a widget's training ran 2.5x slower in a worker than in a plain process (warmup:
    # 3.9 s against 1.55 s). Unset (None), glibc keeps its adaptive default.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, protocol="tcp",
            host="127.0.0.1", dashboard_address=LOOPBACK_ANY_PORT, silence_logs=logging.ERROR,
            env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})


def main(argv: list[str]) -> int:
    workers = int(argv[0])
    # stdout is the pipe the web process reads the address from, and reads nothing after: the
    # workers inherit it, and one that printed would fill it and block. Everything this process
    # and its workers print goes to stderr (the server's log); the address to the pipe, alone.
    report = os.dup(1)
    os.dup2(2, 1)
    cluster = local_cluster(workers)
    with os.fdopen(report, "w") as pipe:
        pipe.write(json.dumps({"address": cluster.scheduler_address}) + "\n")
    sys.stdin.buffer.read()  # until the web process closes the pipe, or dies
    try:
        cluster.close(timeout=5)
    finally:
        os._exit(0)  # no lingering thread keeps the child, whatever close left behind


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
