"""Hand-made hostile input: every widget parameter, cookies and paths. Never a 5xx; bad
input is a 422 in the one shape, naming the field, never echoing more than a few dozen
characters. (Quiz answers: tests/web/test_web_errors.py; the schema-driven fuzzer:
tests/web/test_web_fuzz.py.)"""
from __future__ import annotations

import math

import pytest

from widgets.registry import all_widgets

WIDGETS = all_widgets()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """One app for the whole module: each test here sends many requests, none changes state
    another test reads."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings

    where = tmp_path_factory.mktemp("hostile")
    settings = Settings(database_path=where / "progress.sqlite3", warm_cache=False,
                        scheduler="inprocess", cache_url="memory://")
    with TestClient(create_app(settings)) as test_client:
        yield test_client
HOSTILE_STRINGS = ["NaN", "inf", "-Infinity", "-1e309", "1_0", "٣", "１", "0x1", "", " 1", "1\x00", "‮1",
                   "<script>alert(1)</script>", "1" * 10_000, "é" * 3000, "[]", "True"]


def past_the_bounds(p) -> list[str]:
    """One step past each bound (the slider's step, or the smallest step of the kind)."""
    if p.kind not in ("float", "int"):
        return []
    step = 1 if p.kind == "int" else (p.step or max(abs(p.max - p.min) * 1e-6, 1e-12))
    out = []
    if p.min is not None:
        out.append(repr(p.min - step))
    if p.max is not None:
        out.append(repr(p.max + step))
    return out


def assert_422_naming(response, field: str):
    assert response.status_code == 422, (field, response.status_code, response.text[:200])
    detail = response.json()["detail"][0]
    assert set(detail) == {"loc", "msg", "type", "input", "allowed"}
    assert detail["loc"][-1] == field and detail["allowed"], detail
    assert len(str(detail["input"])) <= 70, "never echoes a huge value"
    assert len(detail["msg"]) <= 410


def params():
    for name in sorted(WIDGETS):
        for p in WIDGETS[name].params:
            yield pytest.param(name, p, id=f"{name}.{p.name}")


def valid_for(p, raw: str) -> bool:
    """Whether a hostile string happens to be a valid value of this parameter."""
    if p.kind == "text":
        return len(raw) <= 1000  # a URL carries at most 1000 characters of text
    if p.kind == "bool":
        return raw in ("true", "false")
    if p.kind == "choice":
        return raw in p.choices
    return False


@pytest.mark.parametrize("name, p", list(params()))
def test_every_parameter_refuses_hostile_values_in_the_query(client, name, p):
    for raw in HOSTILE_STRINGS + past_the_bounds(p):
        if valid_for(p, raw):
            continue
        assert_422_naming(client.get(f"/api/widgets/{name}", params={p.name: raw}), p.name)
    default = str(p.default).lower() if p.kind == "bool" else str(p.default)
    repeated = client.get(f"/api/widgets/{name}", params=[(p.name, default), (p.name, default)])
    assert_422_naming(repeated, p.name)
    fragment = client.get(f"/widgets/{name}", params={p.name: "\x00<script>", "instance": name})
    assert "<script>" not in fragment.text
    if p.kind != "text":  # any text is a text: the config reader says it cannot read it
        assert fragment.status_code == 422 and 'role="alert"' in fragment.text


@pytest.mark.parametrize("name, p", list(params()))
def test_every_parameter_refuses_hostile_json_values(client, name, p):
    bad = [[], {}, [1], {"a": 1}, "x" * 50_000]
    bad += [True, 1.5] if p.kind in ("choice", "text") else []
    bad += ["1", True, None] if p.kind in ("float", "int") else []
    bad += ["true", 1, 0] if p.kind == "bool" else []
    for value in bad:
        if value is None or (p.kind == "text" and isinstance(value, str) and len(value) <= p.max_length):
            continue
        response = client.post(f"/api/widgets/{name}", json={p.name: value})
        assert_422_naming(response, p.name)
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e309", b"9" * 5000):
        body = b'{"' + p.name.encode() + b'": ' + literal + b"}"
        response = client.post(f"/api/widgets/{name}", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422, (name, p.name, literal[:20], response.text[:200])


def test_hostile_bodies_for_a_widget_are_422s(client):
    for body in (b"[1, 2]", b'"text"', b"{", b"\xff\xfe\x00", b"[" * 100_000, b'{"a": ' * 40_000 + b"1"):
        response = client.post("/api/widgets/warmup", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422, body[:20]
    for body in (b'{"total": 200, "total": 300}', b'{"total": 200, "family": "cosine", "total": 200}'):
        repeated = client.post("/api/widgets/lr-schedule", content=body, headers={"content-type": "application/json"})
        assert_422_naming(repeated, "total")
        assert "given 2 times" in repeated.json()["detail"][0]["msg"]
    form = client.post("/widgets/warmup", content=b"steps=20&steps=30&instance=warmup",
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 422 and "given 2 times" in form.text


@pytest.mark.parametrize("instance", ["", "a" * 65, "<script>", "a b", "ä", "../x", "a\x00", "a%00"])
def test_a_bad_instance_never_reaches_a_page(client, instance):
    if instance == "":
        assert client.get("/api/widgets/lr-schedule", params={"instance": ""}).status_code == 200
        return
    assert_422_naming(client.get("/widgets/lr-schedule/stream", params={"instance": instance}), "instance")
    fragment = client.get("/widgets/lr-schedule", params={"instance": instance, "total": "5"})
    assert fragment.status_code == 422 and "<script>" not in fragment.text
    assert 'id="lr-schedule-result"' in fragment.text, "the error shows in the widget's own place"


COOKIES = ["", "x", "garbage value", "é" * 20, "a" * 10_240, "\"quoted\"", "a;b=c", "learner=nested",
           "0" * 15, "A" * 64 + "B"]
PAGES = ["/", "/chapters/learning-rate", "/glossary", "/search?q=warmup", "/api/progress",
         "/api/progress/export", "/widgets/lr-schedule/demo", "/api/chapters/learning-rate"]


@pytest.mark.parametrize("value", COOKIES, ids=lambda v: f"{len(v)}chars")
def test_garbage_cookies_are_replaced_never_errors(client, value):
    for url in PAGES:
        client.cookies.clear()
        response = client.get(url, headers={"cookie": b"learner=" + value.encode()})
        assert response.status_code == 200, (url, response.status_code)
    client.cookies.clear()
    posted = client.post("/api/quiz/learning-rate/lr-meaning", json={"selected": [0]},
                         headers={"cookie": b"learner=" + value.encode()})
    assert posted.status_code == 200
    assert posted.cookies.get("learner") not in (None, value), "an invalid id is replaced by a fresh one"


def test_a_10_kb_cookie_header_of_garbage(client):
    response = client.get("/chapters/learning-rate", headers={"cookie": b"learner=" + b"Z" * 10_240 + b"; x=\x7f\xff"})
    assert response.status_code == 200


@pytest.mark.parametrize("path", [
    "/chapters/../../etc/passwd", "/chapters/..%2F..%2Fetc%2Fpasswd", "/static/../app/main.py",
    "/static/..%2Fapp%2Fmain.py", "/static/%2e%2e/pyproject.toml", "/vendor/..%2F..%2Fpyproject.toml",
    "/vendor/htmx.min.js%00.txt", "/chapters/" + "a" * 10_000, "/chapters/%00", "/chapters/%E2%80%AE",
    "/chapters/<script>alert(1)</script>", "//chapters//learning-rate", "/api/widgets/%2e%2e",
    "/api/quiz/learning-rate/..%2F..", "/widgets/lr-schedule/../../etc/passwd", "/.git/config",
    "/api/chapters/%FF", "/chapters/learning-rate%20", "/quiz/x/y",
])
def test_hostile_paths_are_4xx_and_leak_nothing(client, path):
    response = client.get(path)
    assert 400 <= response.status_code < 500, (path, response.status_code)
    body = response.text
    assert "root:" not in body and "[tool.setuptools]" not in body and "create_app" not in body
    assert "<script>alert(1)</script>" not in body
    assert len(body) < 20_000 or response.headers["content-type"].startswith("text/html")


def test_numbers_in_every_widget_at_their_bounds_are_accepted_by_the_parser():
    """The other side: exactly at each bound is allowed (the 422s above are one step past)."""
    for widget in WIDGETS.values():
        for p in widget.params:
            if p.kind in ("float", "int") and p.min is not None and p.max is not None:
                for edge in (p.min, p.max):
                    raw = repr(int(edge)) if p.kind == "int" else repr(float(edge))
                    assert math.isclose(p.parse(raw), edge), (widget.name, p.name, raw)
