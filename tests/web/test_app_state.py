"""What an app owns lives on app.state (app/main.py): a test can build one with its own widget
set, and building one changes nothing outside it."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from fastapi.testclient import TestClient

from app.main import create_app
from widgets.base import Param, Widget
from widgets.lab import runtime


@dataclass
class Doubler(Widget):
    """A widget of the test's own: twice its input, no training."""

    def compute(self, values, progress=None):
        return {"y": 2 * values["x"]}

    def figure(self, values, data):
        return {"data": [{"type": "bar", "y": [data["y"]]}], "layout": {}}


FAKE = {"doubler": Doubler(name="doubler", title="Doubler", caption="Twice x.",
                           params=(Param("x", "x", "float", 1.0, min=0.0, max=10.0, step=0.5),))}


@pytest.fixture
def fake_client(settings):
    with TestClient(create_app(settings, widgets=FAKE)) as client:
        yield client


def test_an_app_serves_the_widget_set_it_was_built_with(fake_client):
    assert [w["name"] for w in fake_client.get("/api/widgets").json()["widgets"]] == ["doubler"]
    demo = fake_client.get("/widgets/doubler/demo", params={"x": 2.5})
    assert demo.status_code == 200 and "Doubler" in demo.text and 'name="x"' in demo.text
    assert fake_client.get("/widgets/warmup/demo").status_code == 404, "not in this app's set"
    assert fake_client.get("/api/widgets/warmup").status_code == 404
    assert fake_client.get("/widgets/doubler", params={"x": 11}).status_code == 422  # its own bounds
    paths = fake_client.get("/openapi.json").json()["paths"]
    assert "/api/widgets/doubler" in paths and "/api/widgets/warmup" not in paths


def test_two_apps_in_one_process_keep_their_own_widgets(settings, fake_client):
    with TestClient(create_app(settings)) as real:
        assert "warmup" in {w["name"] for w in real.get("/api/widgets").json()["widgets"]}
    assert [w["name"] for w in fake_client.get("/api/widgets").json()["widgets"]] == ["doubler"]


def test_building_an_app_changes_nothing_outside_it(settings):
    """torch's thread count and the lab's device are the lifespan's to set, not the factory's."""
    threads, lab = torch.get_num_threads(), runtime.current()
    torch.set_num_threads(threads + 1)
    try:
        create_app(settings)
        assert torch.get_num_threads() == threads + 1
        assert runtime.current() == lab
    finally:
        torch.set_num_threads(threads)
