"""The exercises' HTTP interface, graded for real in the sandbox (short limits)."""
from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from app.course.exercises import load_exercises
from app.exercises.sandbox import bwrap_works
from app.settings import Settings

EXERCISES = load_exercises(Settings().content_dir)
needs_bwrap = pytest.mark.skipif(not bwrap_works()[0], reason="bwrap cannot run here")


@pytest.fixture
def settings(settings):
    return replace(settings, grading_cpu_s=4, grading_wall_s=20.0, grading_memory_bytes=1536 * 1024**2)


def test_list_and_detail(client):
    listed = client.get("/api/exercises").json()
    assert {e["id"] for e in listed} == set(EXERCISES)
    assert all(e["status"] == {"attempts": 0, "passes": 0, "solved": False, "hint_level": 0} for e in listed)
    detail = client.get("/api/exercises/adamw").json()
    assert detail["starter"] == EXERCISES["adamw"].starter and "NotImplementedError" in detail["starter"]
    assert detail["solution"] is None and detail["hidden_test_count"] == len(EXERCISES["adamw"].hidden_names)
    assert detail["hint"] is None and detail["recipe"] is None, "hints come only when asked for"
    assert client.get("/api/exercises/nope").status_code == 404


def test_hints_come_in_two_tiers_and_each_is_recorded(client, app):
    exercise = EXERCISES["wsd"]
    first = client.post("/api/exercises/wsd/hint", json={"level": 1})
    assert first.status_code == 200
    assert first.json() == {"hint_level": 1, "hint": exercise.hint, "recipe": None}
    detail = client.get("/api/exercises/wsd").json()
    assert detail["hint"] == exercise.hint and detail["recipe"] is None and detail["status"]["hint_level"] == 1
    second = client.post("/api/exercises/wsd/hint", json={"level": 2}).json()
    assert second["recipe"] == exercise.recipe and second["hint_level"] == 2
    again = client.post("/api/exercises/wsd/hint", json={"level": 1}).json()
    assert again["hint_level"] == 2 and again["recipe"] == exercise.recipe, "a tier once opened stays recorded"
    from app.learning.progress import ProgressStore

    store = ProgressStore(app.state.progress_db)
    assert store.exercises(client.cookies["learner"])["wsd"].hint_level == 2
    exported = store.export(client.cookies["learner"])["exercise_attempts"]
    store.close()
    assert exported[0]["hint_level"] == 2 and exported[0]["attempts"] == 0
    assert client.get("/api/exercises").json()[0]["status"]["attempts"] == 0


@pytest.mark.parametrize("body", [{"level": 3}, {"level": 0}, {"level": "2"}, {}])
def test_a_bad_hint_level_is_a_422_naming_the_field(client, body):
    response = client.post("/api/exercises/wsd/hint", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "level"]
    assert client.post("/api/exercises/nope/hint", json={"level": 1}).status_code == 404


def test_the_page_shows_the_nudge_and_keeps_the_recipe_for_a_second_ask(client):
    """Nested <details>: the recipe opens only inside the opened nudge, with no script needed."""
    import re

    page = client.get("/chapters/learning-rate").text
    exercise = EXERCISES["warmup-cosine"]
    section = page[page.index('id="exercise-warmup-cosine"'):page.index('id="exercise-wsd"')]
    hint = re.search(r'<details class="exercise-hint"[^>]*data-hint-level="1".*?</details>\s*</details>', section, re.S)
    assert hint, section[:2000]
    outer = hint.group(0)
    assert outer.index("exercise-nudge") < outer.index('<details class="exercise-recipe"')
    assert 'data-hint-level="2"' in outer and ' open' not in outer.split(">")[0]
    import html

    assert html.escape(exercise.hint, quote=False)[:60] in outer and html.escape(exercise.recipe, quote=False)[:60] in outer


@pytest.mark.parametrize("body, kind", [({"code": "x" * 20_001}, "string_too_long"), ({"code": 5}, "string_type"),
                                        ({"code": ["a"]}, "string_type"), ({}, "missing")])
def test_bad_code_is_a_422_naming_the_field(client, body, kind):
    response = client.post("/api/exercises/wsd", json=body)
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert problem["loc"] == ["body", "code"] and problem["type"] == kind


def test_form_without_code_is_a_422(client):
    response = client.post("/exercises/wsd", data={"other": "1"})
    assert response.status_code == 422 and "code" in response.text


@needs_bwrap
def test_the_solution_passes_in_the_sandbox_and_is_kept(client):
    exercise = EXERCISES["spike-detector"]
    response = client.post(f"/api/exercises/{exercise.id}", json={"code": exercise.solution})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["passed"] and len(body["tests"]) == len(exercise.visible_names) + len(exercise.hidden_names)
    assert body["solution"] == exercise.solution and body["wall_time_s"] > 0
    detail = client.get(f"/api/exercises/{exercise.id}").json()
    assert detail["status"] == {"attempts": 1, "passes": 1, "solved": True, "hint_level": 0}
    assert detail["last_code"] == exercise.solution


def test_the_solution_unlocks_after_five_failures(client, app):
    client.get("/")  # a learner cookie
    learner = client.cookies["learner"]
    from app.learning.progress import ProgressStore

    store = ProgressStore(app.state.progress_db)
    for attempt in range(5):
        assert (client.get("/api/exercises/wsd").json()["solution"] is None) == True  # noqa: E712
        store.record_attempt(learner, "wsd", "def wsd(): pass", False)
    store.close()
    assert client.get("/api/exercises/wsd").json()["solution"] == EXERCISES["wsd"].solution


def pages_answer_while(client, action) -> tuple[object, float]:
    """Run action() in a thread; meanwhile fetch pages; (its result, the slowest page)."""
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("result", action()))
    worker.start()
    slowest = 0.0
    while worker.is_alive():
        started = time.perf_counter()
        assert client.get("/api/exercises").status_code == 200
        slowest = max(slowest, time.perf_counter() - started)
        time.sleep(0.2)
    worker.join()
    return box["result"], slowest


HOSTILE = {
    "infinite loop": ("while True:\n    pass\n", "CPU time"),
    # untouched tensors reach the address-space limit in milliseconds; a bytearray bomb zeroes
    # every page, which on a slow VM costs more CPU than the limit allows (then CPU time is the truth)
    "memory bomb": ("import torch\nblocks = []\nwhile True:\n    blocks.append(torch.empty(2**27))\n",
                    "ran out of memory"),
    "one huge tensor": ("import torch\nx = torch.zeros(100_000, 100_000)\n", "ran out of memory"),
    "fork bomb": ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", ""),
    "kill the parent": ("import os, signal\nfor pid in (1, os.getppid()):\n    try:\n        os.kill(pid, signal.SIGKILL)\n"
                        "    except OSError as e:\n        print('refused', pid, e.errno)\n", ""),
    "print 100 MB": ("import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1_000_000)\n", ""),
    "read secrets": ("print(open('/etc/passwd').read())\n", "No such file"),
    "write outside tmp": ("import sys\nopen(sys.prefix + '/evil.py', 'w').write('x')\n", "Read-only file system"),
    "open a socket": ("import socket\nsocket.create_connection(('10.0.0.5', 80), timeout=2)\n", "Network is unreachable"),
}


@needs_bwrap
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_code_is_a_graded_failure_and_pages_keep_answering(client, name):
    code, expected = HOSTILE[name]
    response, slowest = pages_answer_while(
        client, lambda: client.post("/api/exercises/warmup-cosine", json={"code": code}))
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body["passed"]
    assert expected in " ".join(t["message"] for t in body["tests"]) + body["stdout"]
    assert len(body["stdout"]) < 70_000
    assert "root:x:0:0" not in body["stdout"]
    assert slowest < 3.0  # generous (the target, 200 ms, is measured by app/tools/bench/exercises.py)
    assert client.get("/").status_code == 200


def test_without_bwrap_grading_is_refused_off_loopback(app, client):
    app.state.settings = replace(app.state.settings, sandbox="rlimits")  # TestClient: host "testserver"
    response = client.post("/api/exercises/wsd", json={"code": "x = 1"})
    assert response.status_code == 503
    assert "COURSE_SANDBOX_UNSAFE_OK=1" in response.json()["detail"]


def test_the_operator_may_allow_limits_alone(app, client):
    app.state.settings = replace(app.state.settings, sandbox="rlimits", sandbox_unsafe_ok=True)
    exercise = EXERCISES["spike-detector"]
    client.post(f"/api/exercises/{exercise.id}/hint", json={"level": 1})
    response = client.post(f"/api/exercises/{exercise.id}", json={"code": "raise NotImplementedError\n"})
    assert response.status_code == 200 and not response.json()["passed"]
    assert response.json()["hint_level"] == 1, "the grading result says the learner used a hint"


def test_loopback_detection():
    from app.exercises.grading import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5") and not is_loopback(None)


def train_events(client, exercise_id: str) -> str:
    with client.stream("GET", f"/exercises/{exercise_id}/train/stream") as response:
        assert response.status_code == 200
        return "".join(response.iter_text())


def passed_with(app, client, exercise_id: str, code: str) -> None:
    """Record `code` as this learner's passing code (grading itself is tested above)."""
    from app.learning.progress import ProgressStore

    client.get("/")
    store = ProgressStore(app.state.progress_db)
    store.record_attempt(client.cookies["learner"], exercise_id, code, True)
    store.close()


def test_training_needs_code_that_ran_once_passing_or_not(client, app):
    client.get("/")  # a learner cookie
    assert client.get("/exercises/adamw/train/stream").status_code == 409
    assert "Run the tests on your code" in client.get("/exercises/adamw/train").text
    assert client.get("/exercises/wsd/train").status_code == 404  # nothing to train with
    from app.learning.progress import ProgressStore

    store = ProgressStore(app.state.progress_db)
    store.record_attempt(client.cookies["learner"], "adamw", "class AdamW: pass\n", False,
                         [{"name": "test_twenty_steps_on_three_parameter_groups", "hidden": False},
                          {"name": "test_another_start", "hidden": True}])
    store.close()
    page = client.get("/exercises/adamw/train").text
    assert 'id="train-chart"' in page and "fails 2 tests" in page
    assert "test_twenty_steps_on_three_parameter_groups" in page and "1 hidden test" in page
    assert "test_another_start" not in page


def test_the_capstone_trains_the_broken_config_before_any_attempt(client):
    page = client.get("/exercises/debug-this-run/train").text
    assert 'id="train-chart"' in page and "the broken config as given" in page
    assert 'data-reference-name="the healthy fix"' in page


NAN_ADAMW = EXERCISES["adamw"].solution.replace(
    'p.sub_(lr * m_hat / (v_hat.sqrt() + group["eps"]))', 'p.sub_(lr * m_hat / (v_hat.sqrt() * 0.0))')


def result_of(text: str) -> dict:
    import json as jsonlib

    return jsonlib.loads(text.split("event: result\ndata: ")[1].split("\n")[0])


@needs_bwrap
@pytest.mark.slow
def test_a_failing_optimizer_trains_and_its_nan_arrives_as_json(app, client):
    """Code that fails its tests trains too; a loss that becomes NaN is null in valid JSON
    (Python's json would write NaN, which a browser's JSON.parse refuses) and a diverged step."""
    import json as jsonlib

    wrong = client.post("/api/exercises/adamw", json={"code": NAN_ADAMW})
    assert wrong.status_code == 200 and not wrong.json()["passed"]
    text = train_events(client, "adamw")
    assert "NaN" not in text and "Infinity" not in text
    progress = [jsonlib.loads(line[len("data: "):]) for line in text.splitlines()
                if line.startswith("data: ") and '"yours"' in line]
    yours = [v for event in progress for v in event["yours"]]
    assert None in yours and all(v is None or v > 0 for v in yours)
    result = result_of(text)
    assert result["diverged_at"] is not None and result["parted_at"] <= result["diverged_at"]
    assert result["final"][0] is None and result["final"][1] > 0


@needs_bwrap
@pytest.mark.slow
def test_the_capstone_trains_the_broken_config_beside_the_fix(client):
    import json as jsonlib

    client.get("/")
    text = train_events(client, "debug-this-run")
    result = result_of(text)
    assert result["steps"] == 200 and result["parted_at"] is not None and result["error"] is None
    events = [jsonlib.loads(line[len("data: "):]) for line in text.splitlines()
              if line.startswith("data: ") and '"lr_yours"' in line]
    lr_yours = [v for e in events for v in e["lr_yours"]]
    lr_fix = [v for e in events for v in e["lr_torch"]]
    assert len(lr_yours) == 200 and lr_yours[-1] > 0.9 * max(lr_yours), "max_steps 2000: the broken LR never decays"
    assert lr_fix[-1] < 0.2 * max(lr_fix), "the fix's LR has decayed by the last step"


@needs_bwrap
@pytest.mark.slow
def test_train_with_your_adamw_coincides_and_a_buggy_one_parts(app, client):
    import json as jsonlib

    passed_with(app, client, "adamw", EXERCISES["adamw"].solution)
    text = train_events(client, "adamw")
    assert text.count("event: progress") >= 10
    result = jsonlib.loads(text.split("event: result\ndata: ")[1].split("\n")[0])
    assert result["steps"] == 100 and result["parted_at"] is None and result["error"] is None
    buggy = EXERCISES["adamw"].solution.replace("m_hat = m / (1 - beta1 ** t)", "m_hat = m")
    passed_with(app, client, "adamw", buggy)
    text = train_events(client, "adamw")
    result = jsonlib.loads(text.split("event: result\ndata: ")[1].split("\n")[0])
    assert result["parted_at"] is not None and result["parted_at"] < 10


def test_the_chapter_twin_and_page_list_its_exercises(client):
    body = client.get("/api/chapters/learning-rate").json()
    assert {e["id"] for e in body["exercises"]} == {"warmup-cosine", "wsd"}
    page = client.get("/chapters/learning-rate").text
    assert 'id="exercise-warmup-cosine"' in page and 'id="exercise-wsd"' in page
    assert 'src="/vendor/editor.js"' in page
    assert 'src="/vendor/editor.js"' not in client.get("/").text  # only pages with an exercise load it


@needs_bwrap
@pytest.mark.slow
def test_chapter_threes_warmup_trains_like_the_reference(app, client):
    """The training page compares a schedule with PyTorch's in the learner's own warmup
    convention: chapter 3's (t+1)/t_w code coincides with it."""
    from exercise_helpers import chapter_warmup_cosine

    passed_with(app, client, "warmup-cosine", chapter_warmup_cosine())
    result = result_of(train_events(client, "warmup-cosine"))
    assert result["steps"] == 100 and result["parted_at"] is None and result["error"] is None


@needs_bwrap
@pytest.mark.slow
def test_the_capstone_is_graded_in_the_sandbox_within_its_limits(client, settings):
    """Its hidden test trains the tiny GPT for 200 steps: under the real sandbox, with the
    exercise's cpu_factor, the fix passes and the broken config fails naming its three bugs."""
    exercise = EXERCISES["debug-this-run"]
    fixed = client.post(f"/api/exercises/{exercise.id}", json={"code": exercise.solution}).json()
    assert fixed["passed"], [t for t in fixed["tests"] if not t["passed"]]
    broken = client.post(f"/api/exercises/{exercise.id}", json={"code": exercise.starter}).json()
    messages = " ".join(t["message"] for t in broken["tests"])
    for name in ("the peak LR is too high", "clipping is off", "does not match the token budget"):
        assert name in messages
    healthy = next(t for t in broken["tests"] if t["name"] == "test_the_fixed_config_trains_healthily")
    assert "the run did not train well" in healthy["message"], healthy["message"]
