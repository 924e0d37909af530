"""The class-load benchmark: N simulated learners on loopback, for about a minute each.

    python -m app bench --load                        # 10, 50 and 100 learners, 60 s each
    python -m app bench --load --learners 100 --seconds 60 --precompute-radius 1
    python -m app bench --load --url http://127.0.0.1:8000   # a server you started yourself
    python -m app bench --load --cold                 # 40 learners, fresh server, empty cache, 45 s
    python -m app bench --load --cold --arrival 0     # ... every first request in the same millisecond

Each learner has its own cookie and loops: load a chapter page, move one control of one of
the chapter's widgets and wait for the complete chart (one request, as the page makes it: the
widget's stream, one `result` event when cached, the run's events otherwise), answer one of the
chapter's questions (following a predict run's stream as a browser does), open /review and
answer the question due there, if any, then think for 1-3 s. The bench's server runs its review
clock a day ahead every review_load.CLOCK_S_PER_DAY seconds (COURSE_CLOCK_FILE), so the cards learners make
fall due during the load. Four moves in five are one slider position
(or one toggle or choice) from the placement, which `precompute` covers; the rest jump to a
random far position, which nothing has computed ("cold"). A 503 is waited out for its
Retry-After, as the widget does. Everything stops by itself at the end of the period.

With the class (unless --no-class; app/tools/bench/class_load.py) every learner joins a class,
asks for the poll banner every 2 s and votes in the teacher's polls; a teacher keeps the live
view open and opens a question every 15 s. `--cold` is the class of a teacher who did not
precompute: a fresh server, an empty cache, nothing loaded before the class (every page's first
render is measured). Learners arrive within `--arrival` seconds of each other (3 by default, as
a class told to open the link does); `--arrival 0` sends every learner's first request in the
same millisecond, a queue of first requests on one event loop that no class sends.

Printed per load: page p50/p95/p99 (and again once the class has arrived), slider move to complete chart p50/p95 for precomputed and
for cold moves, answers, /review pages and review answers, errors by status, the engine's queue depth (of one web process), and the memory of the
server and its workers. Before the loads, the bench's own server precomputes the moves it
will make (radius 1 by default) and prints the count and CPU time.
Targets on a 2-core machine at 100 learners after precompute: page p95 < 100 ms, precomputed
moves p95 < 150 ms, /review and review answers p95 < 100 ms, no errors other than honest 503s.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.serving.precompute.moves import far_move, form_values, near_moves
from app.settings import ROOT, Settings
from app.tools.bench import class_load, review_load
from app.tools.bench.watch import own_lateness, watch
from app.tools.bench.class_server import WEB_PROCESSES, precompute_for, server
from app.web.views.prerender import settle_heap
from app.web.views.widget import query_string

REQUEST_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 180.0
ARRIVAL_S = 3.0  # learners start within this many seconds of each other
# Pages are also reported from this long into the load on: the class has arrived (every
# learner started and made its first round: page, join, move, answer, review), so the burst of
# first requests is apart from the steady state of a lesson
ARRIVED_S = 10.0


# --- what learners do ---------------------------------------------------------------------
@dataclass
class Placement:
    chapter: str
    url: str
    widget: str
    instance: str
    base: dict  # what the page's form sends at the placement's own parameters


@dataclass
class Plan:
    pages: list[str]
    placements: dict[str, list[Placement]]  # chapter slug -> its widgets
    questions: dict[str, list[str]]  # chapter slug -> question ids
    near: dict[str, list[dict]]  # instance key -> precomputed one-control moves


def make_plan(content_dir: Path, radius: int) -> Plan:
    from app.course.content import load_course
    from widgets.registry import all_widgets

    widgets = all_widgets()
    course = load_course(content_dir)
    plan = Plan(pages=[c.url for c in course.chapters], placements={}, questions={}, near={})
    for chapter in course.chapters:
        plan.questions[chapter.slug] = list(chapter.quizzes)
        for use in chapter.widgets:
            widget = widgets[use.name]
            base = form_values(widget, widget.canonicalize(use.overrides))
            plan.placements.setdefault(chapter.slug, []).append(
                Placement(chapter.slug, chapter.url, use.name, use.instance, base))
    for slug, placements in plan.placements.items():
        for p in placements:
            plan.near[f"{slug}#{p.instance}"] = near_moves(widgets[p.widget], p.base, radius)
    return plan


# --- measurements -------------------------------------------------------------------------
@dataclass
class Results:
    pages: list[float] = field(default_factory=list)
    moves_near: list[float] = field(default_factory=list)
    moves_cold: list[float] = field(default_factory=list)  # far moves that had to train
    near_trained: int = 0  # precomputed moves that were not in the cache after all
    far_cached: int = 0  # far moves an earlier load (or learner) had already computed
    answers: list[float] = field(default_factory=list)
    review_pages: list[float] = field(default_factory=list)
    first_chart: list[float] = field(default_factory=list)  # a run that trained: until a chart is on screen
    review_answers: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    busy_503: int = 0
    queue: list[int] = field(default_factory=list)
    memory_mb: list[float] = field(default_factory=list)
    client_late: list[float] = field(default_factory=list)  # the bench's own loop, woken late
    arrived_at: float = float("inf")  # time.monotonic() once the class has arrived (ARRIVED_S)
    pages_arrived: list[float] = field(default_factory=list)  # pages asked for after that
    unfinished: int = 0

    def error(self, what: str) -> None:
        self.statuses[what] = self.statuses.get(what, 0) + 1


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(value: float) -> str:
    return f"{value * 1000:7.0f} ms" if value == value else "      - ms"


def loopback_client(base: str, timeout: float) -> httpx.AsyncClient:
    """A learner's client. verify=False because the bench speaks plain HTTP to 127.0.0.1:
    httpx otherwise builds a TLS context per client, 20 ms of CPU each, and 100 learners
    arriving together spent 2 s of this machine's two cores on contexts they never use."""
    return httpx.AsyncClient(base_url=base, timeout=timeout, verify=False)


async def follow_stream(client: httpx.AsyncClient, url: str, results: Results) -> bool | None:
    """Read a run's stream to its last event: True when it ended with a result that trained
    (a `queued` event came first), False with a cached result (one `result` event), None
    when it ended otherwise (a 503, an error). For a run that trained, the time until the
    page has a chart to show (the nearest ready setting, the run's first points, or its
    result) goes to results.first_chart."""
    trained = False
    started, shown = time.perf_counter(), False
    async with client.stream("GET", url, timeout=RUN_TIMEOUT_S) as response:
        if response.status_code == 503:
            results.busy_503 += 1
            await asyncio.sleep(float(response.headers.get("Retry-After", "5")))
            return None
        if response.status_code != 200:
            results.error(str(response.status_code))
            return None
        async for line in response.aiter_lines():
            if line.startswith("event: queued"):
                trained = True
            elif trained and not shown and line.startswith(("event: nearest", "event: progress", "event: result")):
                shown = True
                results.first_chart.append(time.perf_counter() - started)
            if line.startswith("event: result"):
                return trained
            if line.startswith(("event: failed", "event: cancelled")):
                results.error(line[7:])
                return None
    results.error("stream ended early")
    return None


async def move(client: httpx.AsyncClient, placement: Placement, values: dict,
               results: Results) -> tuple[float, bool] | None:
    """(seconds from the request to the complete chart, whether it trained), or None (a 503,
    an error). As the page does it: one request, the widget's stream, which answers a cached
    setting with one `result` event (static/course.js)."""
    started = time.perf_counter()
    trained = await follow_stream(
        client, f"/widgets/{placement.widget}/stream?{query_string(values, instance=placement.instance)}", results)
    if trained is None:
        return None
    return time.perf_counter() - started, trained


async def learner(base: str, plan: Plan, radius: int, until: float, seed: int, results: Results,
                  arrival_s: float = ARRIVAL_S, klass: class_load.ClassLoad | None = None) -> None:
    from widgets.registry import all_widgets

    rng = random.Random(seed)
    # learners arrive over the first think time, not all in the same millisecond (unless
    # --arrival 0): a burst of 100 page loads at once is a queue of 100 renders no class sends
    await asyncio.sleep(rng.uniform(0.0, arrival_s))
    async with loopback_client(base, REQUEST_TIMEOUT_S) as client:
        if klass:  # the learner's cookie first: two first requests at once would get two learners
            await client.get("/")  # a page sets the learner cookie (the JSON routes do not)
        side = asyncio.ensure_future(class_load.learner_side(client, klass, until, random.Random(seed + 1))
                                     if klass else asyncio.sleep(0))
        while time.monotonic() < until:
            try:
                slug = rng.choice(list(plan.placements))
                started, arrived = time.perf_counter(), time.monotonic() > results.arrived_at
                page = await client.get(f"/chapters/{slug}")
                if page.status_code == 200:
                    results.pages.append(time.perf_counter() - started)
                    if arrived:
                        results.pages_arrived.append(results.pages[-1])
                else:
                    results.error(str(page.status_code))
                placement = rng.choice(plan.placements[slug])
                near = plan.near.get(f"{slug}#{placement.instance}", [])
                cold = rng.random() < 0.2 or not near
                values = (far_move(all_widgets()[placement.widget], placement.base, radius, rng) if cold
                          else rng.choice(near))
                if values is not None:
                    moved = await move(client, placement, values, results)
                    if moved is not None:
                        took, trained = moved
                        if cold and trained:
                            results.moves_cold.append(took)
                        elif cold:  # the far position had been computed before: not a cold move
                            results.far_cached += 1
                        else:
                            results.moves_near.append(took)
                            results.near_trained += trained
                if plan.questions.get(slug):
                    qid = rng.choice(plan.questions[slug])
                    started = time.perf_counter()
                    reply = await client.post(f"/quiz/{slug}/{qid}", data={"choice": "0"},
                                              headers={"HX-Request": "true"})
                    results.answers.append(time.perf_counter() - started)
                    if reply.status_code not in (200, 422):
                        results.error(str(reply.status_code))
                    stream = re.search(r'data-stream-url="([^"]+)"', reply.text)
                    if stream:
                        await follow_stream(client, stream.group(1).replace("&amp;", "&"), results)
                await review_load.review(client, results)
                await asyncio.sleep(rng.uniform(1.0, 3.0))
            except httpx.TimeoutException:
                results.error("timeout")
            except httpx.HTTPError as exc:
                results.error(type(exc).__name__)
        side.cancel()
        await asyncio.gather(side, return_exceptions=True)


async def warm_up(base: str, plan: Plan) -> None:
    """One request for every page first: the first ones load the course, not what we measure."""
    async with loopback_client(base, REQUEST_TIMEOUT_S) as client:
        for url in plan.pages:
            await client.get(url)


async def load(base: str, plan: Plan, learners: int, seconds: float, radius: int, pid: int | None,
               arrival_s: float = ARRIVAL_S, klass: class_load.ClassLoad | None = None,
               clock_file: Path | None = None, warm: bool = True) -> Results:
    if warm:  # --cold measures the first requests too: nothing loaded before the class
        await warm_up(base, plan)
    results = Results(arrived_at=time.monotonic() + ARRIVED_S)
    until = time.monotonic() + seconds
    run = int(time.time())  # new far positions every load, so "cold" moves stay cold
    tasks = [asyncio.ensure_future(learner(base, plan, radius, until, run * 1000 + i, results, arrival_s, klass))
             for i in range(learners)]
    if klass:
        tasks.append(asyncio.ensure_future(class_load.teacher(base, klass, until, run)))
    watcher = asyncio.ensure_future(watch(base, pid, until, results))
    lateness = asyncio.ensure_future(own_lateness(until, results))
    clock = asyncio.ensure_future(review_load.run_clock(clock_file, until) if clock_file else asyncio.sleep(0))
    # past the period, give the requests already sent a grace period, then stop them
    done, pending = await asyncio.wait(tasks, timeout=seconds + 30)
    results.unfinished = len(pending)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, watcher, lateness, clock, return_exceptions=True)
    return results



def report(learners: int, seconds: float, results: Results) -> None:
    print(f"\n{learners} learners, {seconds:.0f} s:")
    print(f"  pages    {len(results.pages):5d}  p50 {ms(quantile(results.pages, .5))}  p95 {ms(quantile(results.pages, .95))}"
          f"  p99 {ms(quantile(results.pages, .99))}   (target p95 < 100 ms)")
    print(f"  pages once the class has arrived ({ARRIVED_S:.0f} s in) {len(results.pages_arrived):5d}"
          f"  p50 {ms(quantile(results.pages_arrived, .5))}  p95 {ms(quantile(results.pages_arrived, .95))}")
    print(f"  moves, precomputed {len(results.moves_near):5d}  p50 {ms(quantile(results.moves_near, .5))}"
          f"  p95 {ms(quantile(results.moves_near, .95))}   (target p95 < 150 ms)")
    print(f"  (of the precomputed moves, {results.near_trained} were not in the cache and trained)")
    print(f"  moves, cold        {len(results.moves_cold):5d}  p50 {ms(quantile(results.moves_cold, .5))}"
          f"  p95 {ms(quantile(results.moves_cold, .95))}   (far positions that trained; "
          f"{results.far_cached} more were cached already)")
    print(f"  chart on screen while a move trains {len(results.first_chart):5d}  p50 {ms(quantile(results.first_chart, .5))}"
          f"  p95 {ms(quantile(results.first_chart, .95))}   (target p95 < 300 ms: the nearest ready setting first)")
    print(f"  answers  {len(results.answers):5d}  p50 {ms(quantile(results.answers, .5))}  p95 {ms(quantile(results.answers, .95))}")
    print(f"  /review  {len(results.review_pages):5d}  p50 {ms(quantile(results.review_pages, .5))}"
          f"  p95 {ms(quantile(results.review_pages, .95))}   (target p95 < 100 ms)")
    print(f"  review answers {len(results.review_answers):5d}  p50 {ms(quantile(results.review_answers, .5))}"
          f"  p95 {ms(quantile(results.review_answers, .95))}   (target p95 < 100 ms)")
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(results.statuses.items())) or "none"
    print(f"  errors: {errors}; honest 503 (busy, queued): {results.busy_503}; learners still waiting at the end: "
          f"{results.unfinished}")
    if results.queue:
        print(f"  queue depth (runs waiting or training in the web process that answered): mean {statistics.mean(results.queue):.1f}, max {max(results.queue)}")
    memory = [m for m in results.memory_mb if m == m]
    if memory:
        print(f"  memory of the server (every web process) and its workers: max {max(memory):.0f} MiB")
    if results.client_late:
        print(f"  the bench's own event loop woke late by p50 {ms(quantile(results.client_late, .5))}, "
              f"p95 {ms(quantile(results.client_late, .95))} (every latency above includes its share of that)")


def at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} web processes: at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app bench --load", description=__doc__.split("\n")[0])
    parser.add_argument("--learners", default=None, help="comma-separated learner counts (10,50,100; --cold: 40)")
    parser.add_argument("--seconds", type=float, default=None, help="how long each load lasts (60; --cold: 45)")
    parser.add_argument("--precompute-radius", type=int, default=1,
                        help="slider positions precomputed around each placement (the near moves)")
    parser.add_argument("--skip-precompute", action="store_true", help="use the cache as it is")
    parser.add_argument("--cache-url", default=None, help="default: a sqlite file under var/ kept between runs")
    parser.add_argument("--url", default=None, help="load an already running server instead of starting one")
    parser.add_argument("--no-class", action="store_true", help="leave out the class: no teacher, no polls")
    parser.add_argument("--cold", action="store_true",
                        help="a teacher who did not precompute: a fresh server with an empty cache, nothing "
                             "loaded before the learners (see --arrival)")
    parser.add_argument("--web-processes", type=at_least_one, default=WEB_PROCESSES,
                        help=f"web processes of the bench's server ({WEB_PROCESSES}, as the README serves a class: "
                             "make serve WEB_PROCESSES=2); 1 is `make serve`'s default")
    parser.add_argument("--arrival", type=float, default=ARRIVAL_S,
                        help=f"learners start within this many seconds of each other ({ARRIVAL_S:g}; "
                             "0: every first request in the same millisecond)")
    args = parser.parse_args(argv)
    os.environ.setdefault("COURSE_DEVICE", "cpu")
    counts = [int(n) for n in (args.learners or ("40" if args.cold else "10,50,100")).split(",")]
    seconds = args.seconds or (45.0 if args.cold else 60.0)
    settings = Settings.from_env()
    cache_url = args.cache_url or f"sqlite:///{ROOT / 'var' / 'bench-load-results.sqlite3'}"
    plan = make_plan(settings.content_dir, args.precompute_radius)
    settle_heap()  # the bench's own collection pauses would count as the server's
    print(f"machine: {os.cpu_count()} cores (shared with whatever else runs here: the figures are noisy); "
          f"{sum(len(v) for v in plan.placements.values())} placements in {len(plan.placements)} chapters")
    if args.url:
        for learners in counts:
            report(learners, seconds, asyncio.run(load(args.url, plan, learners, seconds,
                                                       args.precompute_radius, None)))
        return 0
    if not args.skip_precompute and not args.cold:
        precompute_for(cache_url, args.precompute_radius)
    for learners in counts:
        if args.cold:  # an empty cache of its own each time
            cache_url = f"sqlite:///{tempfile.mkdtemp(prefix='course-cold-')}/results.sqlite3"
            print(f"cold: {learners} learners arriving within {args.arrival:g} s, empty cache {cache_url}", flush=True)
        with server(cache_url, args.web_processes) as (base, pid, database, clock_file):  # a fresh server each time: no run left over
            klass = None
            if not args.no_class:
                class_id, token = class_load.create_class(database, ROOT)
                klass = class_load.ClassLoad(class_id, token, [f"{c}/{q}" for c, qs in plan.questions.items() for q in qs])
            results = asyncio.run(load(base, plan, learners, seconds, args.precompute_radius, pid,
                                       args.arrival, klass, clock_file, warm=not args.cold))
        report(learners, seconds, results)
        if klass:
            class_load.report(klass, quantile, ms)
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
