"""A full queue in a real browser: the widget says "busy, queued", asks again by itself after
Retry-After, and draws the run once there is room, with nothing left hanging."""
from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest

import services

pytestmark = pytest.mark.browser


def test_a_full_queue_shows_busy_then_the_run(browser, tmp_path):
    with services.Stack(tmp_path) as stack:
        base = stack.web(COURSE_SCHEDULER="inprocess", COURSE_CACHE_URL="memory://", COURSE_MAX_QUEUE="1")
        # another learner's long run takes the only place in the queue
        host, port = urlsplit(base).hostname, urlsplit(base).port
        other = socket.create_connection((host, port))
        other.sendall(b"GET /api/widgets/warmup?steps=300&warmup=65&peak_lr=0.0045 HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 60
        while httpx.get(base + "/api/engine").json()["engine"]["pending"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        context = browser.new_context(base_url=base)
        page = context.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto("/widgets/clip-norm/demo?clip-norm.step=130")
            box = page.locator("#clip-norm-result .stream-error")
            box.wait_for(state="visible", timeout=30_000)
            assert "busy, queued" in box.inner_text()
            other.close()  # that run is cancelled: there is room now
            page.wait_for_selector("#clip-norm-chart[data-final='1']", state="attached", timeout=120_000)
            assert page.locator("#clip-norm-result .provenance").count() == 1
        finally:
            context.close()
            other.close()
    # the only console errors are the 503 answers themselves
    assert errors and all("503" in e for e in errors), errors
