"""Errors and limits: one 422 shape everywhere, 500s that carry an error id (and never the
exception text), body caps enforced before reading, and a broken chapter that breaks only
its own page."""
from __future__ import annotations

import dataclasses
import logging
import textwrap

import pytest

from widgets.base import ParamError
from widgets.registry import all_widgets

CHAPTER = "learning-rate"
QUESTION = f"/api/quiz/{CHAPTER}/lr-meaning"


def assert_problem(response, field, status=422):
    """The documented 422: detail is a list of {loc, msg, type, input, allowed}, naming `field`."""
    assert response.status_code == status, response.text[:300]
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    assert set(detail[0]) == {"loc", "msg", "type", "input", "allowed"}
    assert field in detail[0]["loc"], detail
    assert detail[0]["msg"] and detail[0]["allowed"]
    return detail[0]


# --- numbers: ASCII decimal syntax only --------------------------------------------------

@pytest.mark.parametrize("raw", ["1_0", "٣", "０.５", "0x10", " 0.001", "0.001 ", "infinity", "nan",
                                 "1e400", "-1e309", "1e", ".", "+", "1" * 41, "0.001\x00"])
def test_only_ascii_decimal_numbers_are_parameter_values(raw):
    warmup = all_widgets()["warmup"]
    for name in ("peak_lr", "steps"):
        with pytest.raises(ParamError) as info:
            warmup.param(name).parse(raw)
        assert info.value.field == name and len(str(info.value.value)) <= 70


@pytest.mark.parametrize("raw, value", [("0.001", 0.001), ("1e-3", 0.001), ("+.001", 0.001), ("10E-4", 0.001)])
def test_every_ascii_spelling_of_a_number_still_works(raw, value):
    assert all_widgets()["warmup"].param("peak_lr").parse(raw) == pytest.approx(value)


def test_non_strings_are_not_choices_texts_or_switches():
    config, warmup = all_widgets()["config-reader"], all_widgets()["warmup"]
    for param, raw in ((config.param("config"), ["a"]), (warmup.param("layout"), 3),
                       (warmup.param("clip"), 1.0), (warmup.param("steps"), True)):
        with pytest.raises(ParamError):
            param.parse(raw)


def test_repeated_keys_and_bad_numbers_are_422s_over_http(client):
    assert_problem(client.get("/api/widgets/warmup?peak_lr=0.001&peak_lr=0.002"), "peak_lr")
    assert_problem(client.get("/api/widgets/warmup", params={"steps": "1_0"}), "steps")
    assert_problem(client.get("/widgets/warmup/stream", params={"peak_lr": "٣"}), "peak_lr")
    fragment = client.get("/widgets/warmup?instance=warmup&steps=5&steps=6")
    assert fragment.status_code == 422 and "given 2 times" in fragment.text


# --- quiz answers ----------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b'{"selected": [Infinity]}', b'{"selected": [-Infinity]}',
                                  b'{"selected": [1e400]}', b'{"selected": [NaN]}', b'{"selected": [1.5]}',
                                  b'{"selected": ["1"]}', b'{"selected": [true]}', b'{"selected": 1}',
                                  b'{"selected": [-1]}', b'{"selected": [' + b"9" * 5000 + b"]}",
                                  b'{"selected": [0', b"not json", b"\xff\xfe", b"[]", b"null"])
def test_hostile_json_answers_are_422s(client, body):
    response = client.post(QUESTION, content=body, headers={"content-type": "application/json"})
    problem = assert_problem(response, "body")
    assert len(str(problem["input"])) <= 70, "an error never echoes a huge input"


def test_a_key_given_twice_in_a_json_answer_is_a_422(client):
    """json.loads keeps the last of two keys; which did the learner mean? Neither is graded."""
    response = client.post(QUESTION, content=b'{"selected": [1], "selected": [0]}',
                           headers={"content-type": "application/json"})
    assert "given 2 times" in assert_problem(response, "selected")["msg"]


def test_out_of_range_answer_names_the_range(client):
    problem = assert_problem(client.post(QUESTION, json={"selected": [7]}), "selected")
    assert "does not exist" in problem["msg"] and problem["allowed"].endswith("from 0 to 3")
    assert_problem(client.post(QUESTION, json={"selected": [0, 0]}), "selected")


@pytest.mark.parametrize("choice", ["٣", "1_0", " 1", "1e0", "inf", "-1", "9" * 5000])
def test_hostile_form_answers_are_422s_shown_in_place(client, choice):
    url = f"/quiz/{CHAPTER}/lr-meaning"
    htmx = client.post(url, data={"choice": choice}, headers={"HX-Request": "true"})
    assert htmx.status_code == 422 and 'class="form-error" role="alert"' in htmx.text
    assert len(htmx.text) < 300
    assert_problem(client.post(url, data={"choice": choice}), "choice")


def test_a_million_items_is_refused_by_the_body_cap(client):
    body = b'{"selected": [' + b"0," * 1_000_000 + b"0]}"
    response = client.post(QUESTION, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "bytes allowed" in response.json()["detail"]


LEARNER = "hostile-learner-0123456789"
HOSTILE_JSON = [b'{"selected": "0"}', b'{"selected": ["zero"]}', b'{"selected": {"0": 1}}', b'{"selected": []}',
                b'{"selected": [0, 1]}', b'{"selected": [4]}', b'{"selected": [999]}', b'{"selected": [1000]}',
                b'{"selected": [0, 0]}', b'{"selected": [Infinity]}', b'{"selected": [1e400]}', b'{"choice": [0]}',
                b'{"selected": [0]', b"\xff\xfe", b"", b'{"selected": [' + b"0," * 64 + b"0]}",
                b'{"selected": [0], "selected": [1]}', b'{"selected": ' + b"[" * 100_000]
HOSTILE_FORMS = [b"choice=4", b"choice=-1", b"choice=zero", b"choice=%FF", b"", b"other=0",
                 b"choice=0&choice=1", b"&".join([b"choice=0"] * 101)]


def stored(client) -> dict:
    return client.get("/api/progress/export", headers={"cookie": f"learner={LEARNER}"}).json()["tables"]


def test_hostile_answers_are_refused_in_the_documented_shape_and_nothing_is_stored(settings):
    """Under a body cap raised to 12 MiB (so the model's own bounds answer, not the cap): a
    million items, out-of-range indices, strings, malformed JSON, bad forms. Each is a 422
    naming the field; the learner's store stays empty; a valid answer afterwards is kept."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    app = create_app(dataclasses.replace(settings, max_body_bytes=12 * 1024 * 1024))
    million = b'{"selected": [' + b"0," * 999_999 + b"0]}"
    million_form = b"&".join([b"choice=0"] * 1_000_000)
    cookie = {"cookie": f"learner={LEARNER}"}
    with TestClient(app) as client:
        for body in HOSTILE_JSON + [million]:
            response = client.post(QUESTION, content=body, headers={"content-type": "application/json", **cookie})
            problem = assert_problem(response, "body")
            assert len(str(problem["input"])) <= 70, body[:40]
        for body in HOSTILE_FORMS + [million_form]:
            response = client.post(f"/quiz/{CHAPTER}/lr-meaning", content=body,
                                   headers={"content-type": "application/x-www-form-urlencoded", **cookie})
            assert response.status_code == 422, (body[:40], response.status_code)
            detail = response.json()["detail"][0]
            assert set(detail) == {"loc", "msg", "type", "input", "allowed"} and len(str(detail["input"])) <= 70
        assert stored(client)["quiz_attempts"] == [], "a refused answer stores nothing"
        assert client.post(QUESTION, json={"selected": [0]}, headers=cookie).status_code == 200
        assert [row["selected"] for row in stored(client)["quiz_attempts"]] == ["[0]"]


def test_a_form_that_is_not_utf8_or_has_too_many_fields_is_a_422(client):
    url = f"/quiz/{CHAPTER}/lr-meaning"
    not_utf8 = client.post(url, content=b"choice=%FF", headers={"content-type": "application/x-www-form-urlencoded"})
    assert_problem(not_utf8, "body")
    many = client.post(url, content="&".join(["choice=0"] * 500),
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert_problem(many, "body")


# --- body caps ---------------------------------------------------------------------------------

def test_a_declared_length_over_the_cap_is_refused_before_reading(client, settings):
    cap = settings.max_body_bytes
    for url in (QUESTION, f"/quiz/{CHAPTER}/lr-meaning", "/api/widgets/config-reader", "/widgets/config-reader",
                "/progress/reset"):
        response = client.post(url, content=b"x" * (cap + 1), headers={"content-type": "application/json"})
        assert response.status_code == 413, url
        assert response.json() == {"detail": f"the request body is larger than the {cap:,} bytes allowed"}


def test_a_chunked_body_is_counted_as_it_arrives(client):
    """No Content-Length: counted while read (TestClient buffers the body itself; the real
    server's test in test_web_faults.py shows that reading stops at the cap)."""
    def chunks():
        for _ in range(64):
            yield b"0," * 8192

    response = client.post(QUESTION, content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_config_text_travels_in_a_post_body_up_to_its_own_cap(client):
    config = all_widgets()["config-reader"].param("config")
    text = ("lr: 0.0003\n" * 2000)[:config.max_length]
    posted = client.post("/widgets/config-reader", data={"config": text, "instance": "config-reader"})
    assert posted.status_code == 200 and 'class="figure-json"' in posted.text
    twin = client.post("/api/widgets/config-reader", json={"config": text})
    assert twin.status_code == 200 and twin.json()["params"]["config"] == text
    too_long = client.post("/api/widgets/config-reader", json={"config": text + "x"})
    assert_problem(too_long, "config")
    in_url = client.get("/api/widgets/config-reader", params={"config": text})
    problem = assert_problem(in_url, "config")
    assert "POST" in problem["msg"]


def test_a_text_widget_posts_its_form_and_a_long_link_value_is_ignored(client):
    page = client.get("/widgets/config-reader/demo")
    assert 'method="post"' in page.text and 'hx-post="/widgets/config-reader"' in page.text
    assert 'data-url-text-max="1000"' in page.text
    long_link = client.get("/widgets/config-reader/demo", params={"config-reader.config": "a: 1\n" * 300})
    assert long_link.status_code == 200 and "ignored" in long_link.text
    warmup = client.get("/widgets/warmup/demo")
    # a slider widget's form: without JavaScript a GET of the fragment; with it, the stream directly
    assert 'method="get"' in warmup.text and 'action="/widgets/warmup"' in warmup.text
    assert 'data-stream="/widgets/warmup/stream"' in warmup.text and 'hx-get="/widgets' not in warmup.text


# --- 500s: an error id, never the exception text --------------------------------------------

SECRET = "s3cret-internal-detail"


def test_an_internal_failure_is_a_500_with_an_error_id_in_the_log(app, caplog, monkeypatch):
    from fastapi.testclient import TestClient

    def broken(*args, **kwargs):
        raise RuntimeError(SECRET)

    monkeypatch.setattr(app.state.jobs, "cached", broken)
    caplog.set_level(logging.ERROR, logger="app.web.errors")
    with TestClient(app, raise_server_exceptions=False) as client:
        as_json = client.get("/api/widgets/warmup")
        as_page = client.get("/api/widgets/warmup".replace("/api", ""), params={"instance": "warmup"},
                             headers={"accept": "text/html"})
    assert as_json.status_code == 500 and SECRET not in as_json.text
    body = as_json.json()
    assert set(body) == {"detail", "error_id"} and body["error_id"] in body["detail"]
    assert body["error_id"] in caplog.text and SECRET in caplog.text
    assert as_page.status_code == 500 and SECRET not in as_page.text
    assert "error id" in as_page.text.lower()
    assert as_page.headers["content-security-policy"], "error pages carry the security headers"


def test_a_failed_run_is_a_500_and_a_failed_event_with_an_error_id(client, caplog, monkeypatch):
    widget = all_widgets()["lr-schedule"]

    def broken(values, progress=None):
        raise RuntimeError(SECRET)

    monkeypatch.setattr(widget, "compute", broken)
    caplog.set_level(logging.ERROR, logger="app.web.errors")
    twin = client.get("/api/widgets/lr-schedule", params={"total": "777"})
    assert twin.status_code == 500 and SECRET not in twin.text
    assert twin.json()["error_id"] in caplog.text
    with client.stream("GET", "/widgets/lr-schedule/stream", params={"total": "778"}) as stream:
        text = "".join(stream.iter_text())
    assert "event: failed" in text and SECRET not in text and '"error_id"' in text
    error_id = text.split('"error_id":"')[1].split('"')[0]
    assert error_id in caplog.text


# --- a broken chapter breaks only its own page -------------------------------------------------

def chapter_file(order: int, slug: str, extra: str = "") -> str:
    return textwrap.dedent(f"""\
        ---
        title: Chapter {slug}
        slug: {slug}
        order: {order}
        minutes: 5
        objectives: [Do {slug}]
        glossary: {{term{order}: a definition}}
        ---
        ## Section of {slug}

        Text of {slug}. {extra}
        """)


def test_a_broken_chapter_keeps_its_last_good_version_and_the_rest_serves(settings, tmp_path, caplog):
    from fastapi.testclient import TestClient

    from app.main import create_app

    chapters = tmp_path / "content" / "chapters"
    chapters.mkdir(parents=True)
    (chapters / "01-alpha.md").write_text(chapter_file(1, "alpha", "first version"))
    (chapters / "02-beta.md").write_text(chapter_file(2, "beta"))
    app = create_app(dataclasses.replace(settings, content_dir=tmp_path / "content"))
    caplog.set_level(logging.ERROR)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert "first version" in client.get("/chapters/alpha").text
        (chapters / "01-alpha.md").write_text("---\ntitle: [unclosed\n---\nbroken edit\n")
        (chapters / "03-gamma.md").write_text("no front matter at all")
        alpha = client.get("/chapters/alpha")
        assert alpha.status_code == 200 and "first version" in alpha.text, "the last good version"
        assert "01-alpha.md does not load" in caplog.text
        assert client.get("/chapters/beta").status_code == 200
        assert client.get("/").status_code == 200
        gamma = client.get("/chapters/gamma", headers={"accept": "text/html"})
        assert gamma.status_code == 500 and "cannot be shown" in gamma.text
        assert "front matter" not in gamma.text, "the author's error stays in the log"
        twin = client.get("/api/chapters/gamma").json()
        assert twin["error_id"] in caplog.text and "03-gamma.md" in caplog.text
        assert client.get("/chapters/delta").status_code == 404
