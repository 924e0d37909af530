"""What the server gives static/pins.js: every widget that streams has a hidden pins box (the
Pin button, the widget's parameter spec, the diff table's container), a finished result says
which canonical setting it is (data-json-url), and pins in a page's URL never change what the
server renders: they are the browser's alone (the browser tests drive them)."""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, urlsplit

import pytest

from widgets.registry import all_widgets

WIDGETS = all_widgets()
POSTING = sorted(name for name, w in WIDGETS.items() if any(p.kind == "text" for p in w.params))
STREAMED = sorted(set(WIDGETS) - set(POSTING))
PINS_BOX = re.compile(r'<div class="widget-pins" id="(?P<instance>[\w-]+)-pins" data-pins hidden>(?P<body>.*?)\n  </div>', re.S)
SPEC = re.compile(r'<script type="application/json" class="widget-spec">(.*?)</script>', re.S)


def pins_box(html: str) -> re.Match | None:
    return PINS_BOX.search(html)


def test_posting_widgets_are_few_and_known():
    """A widget that posts a text (a pasted config) gets no Pin button: the text would have to
    ride in the page's URL. The list is checked so a new one is a decision, not an accident."""
    assert POSTING == ["config-reader"]


@pytest.mark.parametrize("name", STREAMED)
def test_every_streamed_widget_has_a_hidden_pins_box_with_its_spec(client, name):
    listed = {w["name"]: w for w in client.get("/api/widgets").json()["widgets"]}
    html = client.get(f"/widgets/{name}/demo").text
    box = pins_box(html)
    assert box and box["instance"] == name, "the pins box is there, hidden until static/pins.js runs"
    assert '<button type="button" class="pin-button" data-pin>Pin this run</button>' in box["body"]
    assert 'class="pins-diff table-scroll" hidden' in box["body"]
    spec = json.loads(SPEC.search(box["body"]).group(1))
    assert spec == listed[name]["params"], "the spec is the one GET /api/widgets serves"


def test_a_posting_widget_has_no_pins_box(client):
    for name in POSTING:
        assert pins_box(client.get(f"/widgets/{name}/demo").text) is None


def test_no_widget_has_a_parameter_named_like_the_pins_key():
    """`<instance>.pins` in a page's URL holds the pins: a parameter named `pins` would collide."""
    assert not [name for name, w in WIDGETS.items() if any(p.name == "pins" for p in w.params)]


@pytest.mark.parametrize("pins", ["warmup:0", "peak_lr:5;nonsense:1", "%zz;;;:", "x" * 3000, "defaults;" * 50])
def test_pins_in_the_url_never_change_the_page_the_server_renders(client, pins):
    plain = client.get("/widgets/warmup/demo", params={"warmup.warmup": "25"})
    pinned = client.get("/widgets/warmup/demo", params={"warmup.warmup": "25", "warmup.pins": pins})
    assert pinned.status_code == 200
    assert pinned.text == plain.text, "the server ignores pins: no note, no error, the same controls"


def test_a_finished_result_names_its_canonical_setting(client):
    """static/pins.js reads the setting of the run on screen from data-json-url: the JSON twin's
    address with every canonical value, the same one the provenance links to."""
    query = {"family": "wsd", "total": "1000", "warmup": "100"}
    twin = client.get("/api/widgets/lr-schedule", params=query).json()
    fragment = client.get("/widgets/lr-schedule", params=query).text
    url = re.search(r'data-json-url="([^"]+)"', fragment).group(1).replace("&amp;", "&")
    assert urlsplit(url).path == "/api/widgets/lr-schedule"
    values = dict(parse_qsl(urlsplit(url).query))
    assert set(values) == set(twin["params"]), "every parameter, not only the ones asked for"
    assert values["family"] == "wsd" and int(values["total"]) == 1000 and int(values["warmup"]) == 100
    assert f'href="{url.replace("&", "&amp;")}"' in fragment, "the same address as the provenance's link"
