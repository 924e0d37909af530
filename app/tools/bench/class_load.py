"""The class part of the load bench (app/tools/bench/load.py): a teacher's live view and polls.

Before the load, a class is created the way a teacher does it (`python -m app class create`
against the server's database). Every simulated learner joins it and, beside its usual loop
of pages, slider moves and answers, does what the banner script does: asks /api/classes/me
every 2 s; when a poll is open and it has not voted, it reads for 1-4 s and votes.
The teacher opens the teacher link, keeps the live view's event stream open (reconnecting
when it ends or the poll changes, as the page does) and opens a new question every
POLL_EVERY_S seconds.

Measured: the banner request and the vote request (p50/p95), and poll answer to teacher's
view: from the moment a learner sends its vote to the first live-view event whose count of
first-round votes includes it (the k-th vote to be stored against the first event counting k).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

POLL_EVERY_S = 15.0
CLASS_ARRIVES_S = 5.0  # the teacher opens the first poll this long after the load starts
BANNER_EVERY_S = 2.0
VOTES_RE = re.compile(r'id="poll-round-1".*?class="class-dist-note">(\d+) votes?', re.S)


@dataclass
class ClassLoad:
    class_id: str
    token: str
    questions: list[str]  # "chapter/question" values the teacher opens
    banner: list[float] = field(default_factory=list)
    votes: list[float] = field(default_factory=list)
    sent: dict[int, list[tuple[float, float]]] = field(default_factory=dict)  # poll -> (sent, stored)
    seen: dict[int, list[tuple[float, int]]] = field(default_factory=dict)  # poll -> (when, count shown)
    polls: int = 0
    updates: int = 0
    reconnects: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    def to_teacher(self) -> tuple[list[float], int]:
        """(seconds from each vote sent to the teacher's view counting it, votes never shown)."""
        latencies, unseen = [], 0
        for poll, votes in self.sent.items():
            events = sorted(self.seen.get(poll, []))
            for rank, (sent, _) in enumerate(sorted(votes, key=lambda v: v[1]), start=1):
                shown = next((when for when, count in events if count >= rank and when >= sent), None)
                if shown is None:
                    unseen += 1
                else:
                    latencies.append(shown - sent)
        return latencies, unseen


def create_class(database: Path, root: Path) -> tuple[str, str]:
    """A class in the server's database, made with the command line, as a teacher would."""
    env = {**os.environ, "COURSE_DB": str(database), "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-m", "app", "class", "create", "Load bench"], cwd=root, env=env,
                          capture_output=True, text=True, check=True)
    link = re.search(r"/teach/([A-Za-z0-9_-]+)\?token=([A-Za-z0-9_-]+)", done.stdout)
    return link.group(1), link.group(2)


async def learner_side(client: httpx.AsyncClient, load: ClassLoad, until: float, rng: random.Random) -> None:
    """Join, then behave as the banner script and a learner who answers the teacher's polls."""
    joined = await client.post(f"/classes/{load.class_id}/join", data={"nickname": ""})
    if joined.status_code not in (200, 303):
        load.error(f"join {joined.status_code}")
        return
    voted: set[tuple[int, int]] = set()
    while time.monotonic() < until:
        await asyncio.sleep(BANNER_EVERY_S)
        started = time.perf_counter()
        try:
            reply = await client.get("/api/classes/me")
        except httpx.HTTPError as exc:
            load.error(type(exc).__name__)
            continue
        load.banner.append(time.perf_counter() - started)
        if reply.status_code != 200:
            load.error(f"banner {reply.status_code}")
            continue
        for entry in reply.json()["classes"]:
            poll = entry["poll"]
            if poll and poll["accepting"] and not poll["voted"] and (poll["id"], poll["round"]) not in voted:
                voted.add((poll["id"], poll["round"]))
                await asyncio.sleep(rng.uniform(1.0, 4.0))  # reading the question
                await vote(client, load, poll, rng)


async def vote(client: httpx.AsyncClient, load: ClassLoad, poll: dict, rng: random.Random) -> None:
    sent, started = time.monotonic(), time.perf_counter()
    reply = await client.post(f"/classes/{load.class_id}/vote",
                              data={"poll": poll["id"], "round": poll["round"], "choice": str(rng.randrange(2))})
    load.votes.append(time.perf_counter() - started)
    if reply.status_code == 303 and poll["round"] == 1:
        load.sent.setdefault(poll["id"], []).append((sent, time.monotonic()))
    elif reply.status_code != 303:
        load.error(f"vote {reply.status_code}")


async def follow_live(client: httpx.AsyncClient, load: ClassLoad, until: float) -> None:
    """The teacher's page: the live view's stream, reconnected whenever it ends."""
    poll_id = None
    while time.monotonic() < until:
        try:
            async with client.stream("GET", f"/teach/{load.class_id}/live", timeout=None) as stream:
                event = None
                async for line in stream.aiter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "update":
                        load.updates += 1
                        message = json.loads(line[6:])
                        parts = message["parts"]
                        if message.get("poll"):
                            poll_id = int(message["poll"].split("-")[0])
                        found = VOTES_RE.search(parts.get("poll-tally", ""))
                        if found and poll_id is not None:
                            load.seen.setdefault(poll_id, []).append((time.monotonic(), int(found.group(1))))
                    if time.monotonic() > until:
                        return
        except httpx.HTTPError as exc:
            load.error(f"live {type(exc).__name__}")
        load.reconnects += 1
        await asyncio.sleep(0.2)


async def teacher(base: str, load: ClassLoad, until: float, seed: int) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=60, verify=False, follow_redirects=True) as client:
        page = await client.get(f"/teach/{load.class_id}?token={load.token}")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        live = asyncio.ensure_future(follow_live(client, load, until))
        headers = {"origin": base}
        try:
            await asyncio.sleep(CLASS_ARRIVES_S)  # the class arrives first
            while time.monotonic() < until - 5:
                opened = await client.post(f"/teach/{load.class_id}/poll", headers=headers, follow_redirects=False,
                                           data={"csrf": csrf, "question": rng.choice(load.questions)})
                if opened.status_code == 303:
                    load.polls += 1
                else:
                    load.error(f"open poll {opened.status_code}")
                await asyncio.sleep(POLL_EVERY_S)
        finally:
            live.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await live


def report(load: ClassLoad, quantile, ms) -> None:
    """The class's lines of the load report."""
    latencies, unseen = load.to_teacher()
    votes = sum(len(v) for v in load.sent.values())
    print(f"  class: {load.polls} polls opened, {votes} first-round votes; live view: {load.updates} updates, "
          f"{load.reconnects} reconnects")
    print(f"  banner   {len(load.banner):5d}  p50 {ms(quantile(load.banner, .5))}  p95 {ms(quantile(load.banner, .95))}"
          f"   (/api/classes/me, every {BANNER_EVERY_S:.0f} s per learner)")
    print(f"  votes    {len(load.votes):5d}  p50 {ms(quantile(load.votes, .5))}  p95 {ms(quantile(load.votes, .95))}")
    print(f"  vote to teacher's view {len(latencies):5d}  p50 {ms(quantile(latencies, .5))}"
          f"  p95 {ms(quantile(latencies, .95))}   (target p95 < 2 s; {unseen} never shown)")
    if load.errors:
        print("  class errors: " + ", ".join(f"{k}: {v}" for k, v in sorted(load.errors.items())))
