"""Security headers and cookie flags, on in-process responses and on a real server's."""
from __future__ import annotations

import dataclasses
import re
import urllib.request
from http.cookies import SimpleCookie

import pytest

from app.web.learner import COOKIE_NAME
from app.web.security import CSP

EXPECTED = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in policy.split("; ")}


def test_the_policy_allows_scripts_from_this_origin_only():
    policy = directives(CSP)
    assert policy["script-src"] == ["'self'"], "no inline script, no eval, no other host"
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert "'unsafe-eval'" not in CSP and "http" not in CSP


def assert_secured(response):
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (name, response.url)
    assert response.headers.get("content-security-policy") == CSP, response.url


@pytest.mark.parametrize("method, url, kwargs, status", [
    ("GET", "/", {}, 200),
    ("GET", "/chapters/learning-rate", {}, 200),
    ("GET", "/api/chapters", {}, 200),
    ("GET", "/static/course.css", {}, 200),
    ("GET", "/vendor/htmx.min.js", {}, 200),
    ("GET", "/chapters/nope", {}, 404),
    ("GET", "/no/such/path", {}, 404),
    ("GET", "/api/widgets/warmup?peak_lr=9", {}, 422),
    ("POST", "/api/quiz/learning-rate/lr-meaning", {"content": b"x" * 300_000}, 413),
    ("POST", "/progress/reset", {"data": {"confirm": "yes"}, "follow_redirects": False}, 303),
    ("GET", "/openapi.json", {}, 200),
])
def test_every_kind_of_response_carries_the_headers(client, method, url, kwargs, status):
    response = client.request(method, url, **kwargs)
    assert response.status_code == status
    assert_secured(response)


def test_no_page_has_inline_script_or_event_handlers(client):
    for url in ("/", "/chapters/learning-rate", "/glossary", "/search?q=warmup", "/widgets",
                "/widgets/config-reader/demo", "/chapters/nope"):
        html = client.get(url).text
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (url, tag)
        assert not re.search(r"\son[a-z]+\s*=", html), url
        assert "javascript:" not in html, url


def cookie_of(response) -> SimpleCookie:
    cookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return cookie


def test_the_learner_cookie_over_http_is_httponly_lax_and_not_secure(client):
    morsel = cookie_of(client.get("/"))[COOKIE_NAME]
    assert morsel["httponly"] and morsel["samesite"].lower() == "lax" and morsel["path"] == "/"
    assert not morsel["secure"]


def test_a_forwarded_https_is_ignored_unless_the_proxy_is_trusted(app, settings):
    from fastapi.testclient import TestClient

    from app.main import create_app

    with TestClient(app) as client:
        untrusted = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert not cookie_of(untrusted)[COOKIE_NAME]["secure"], "anyone can send X-Forwarded-Proto"
    trusting = create_app(dataclasses.replace(settings, trust_proxy=True))
    with TestClient(trusting) as client:
        forwarded = client.get("/", headers={"X-Forwarded-Proto": "https, http"})
        plain = client.get("/", headers={"X-Forwarded-Proto": "http"})
    assert cookie_of(forwarded)[COOKIE_NAME]["secure"]
    assert not cookie_of(plain)[COOKIE_NAME]["secure"]


def test_the_cookie_is_secure_when_the_request_came_over_https(app):
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="https://course.example") as client:
        assert cookie_of(client.get("/"))[COOKIE_NAME]["secure"]


def test_a_real_server_sends_the_headers_and_ignores_a_forged_proto(live_server):
    """uvicorn itself would believe X-Forwarded-Proto from loopback; the server runs with
    --no-proxy-headers (as `make serve` does), so only the app's setting decides."""
    request = urllib.request.Request(live_server + "/", headers={"X-Forwarded-Proto": "https"})
    with urllib.request.urlopen(request, timeout=30) as response:
        for name, value in EXPECTED.items():
            assert response.headers[name] == value
        assert response.headers["content-security-policy"] == CSP
        cookie = SimpleCookie()
        cookie.load(response.headers["set-cookie"])
    morsel = cookie[COOKIE_NAME]
    assert morsel["httponly"] and morsel["samesite"].lower() == "lax" and not morsel["secure"]
    with urllib.request.urlopen(live_server + "/static/course.js", timeout=30) as response:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == CSP


def test_the_browser_reports_a_refused_inline_script(page):
    """The fixture's violation listener works: an injected inline script is refused and
    recorded (and every other browser test fails on such a record)."""
    page.goto("/glossary")
    page.evaluate("""() => { const s = document.createElement('script');
                             s.textContent = 'window.injected = 1'; document.body.append(s); }""")
    page.wait_for_function("() => true")
    assert page.evaluate("window.injected === undefined")
    page.wait_for_timeout(200)
    assert any(v.startswith("script-src-elem refused inline") for v in page.csp_violations), page.csp_violations
    page.csp_violations.clear()
    page.console_errors.clear()  # Chromium's own line for the same refusal
