"""Config reader: the default config raises no flags, odd knobs are flagged, bad text is refused safely."""
from __future__ import annotations

import pytest

from widgets.base import ParamError
from widgets.configs.report import DEFAULT_CONFIG, read_config
from widgets.configs.safe_parse import MAX_CHARS
from widgets.registry import get_widget

WIDGET = get_widget("config-reader")


def _levels(report: dict) -> dict[str, str]:
    return {row["knob"]: row["level"] for row in report["rows"]}


def test_default_config_raises_no_flags_and_computes_the_batch_arithmetic():
    values = WIDGET.canonicalize({})
    assert values["config"] == DEFAULT_CONFIG
    data = WIDGET.compute(values)
    assert data["error"] is None and data["format"] == "YAML"
    assert data["flags"] == 0, [r for r in data["rows"] if r["level"] != "ok"]
    levels = _levels(data)
    for knob in ("optimizer", "lr", "beta1", "beta2", "eps", "weight_decay", "warmup", "min_lr", "schedule",
                 "grad_clip", "dropout", "micro_batch", "seq_len", "grad_accum", "dp_ranks", "max_steps"):
        assert levels[knob] == "ok", knob
    sums = {a["quantity"]: a["value"] for a in data["arithmetic"]}
    assert sums["tokens per step"] == 4 * 8192 * 8 * 16 == 4_194_304  # ~4M tokens per step
    assert sums["total tokens"] == 500_000 * 4_194_304  # the caption's "2.1 trillion tokens"
    assert round(sums["total tokens"] / 1e12, 1) == 2.1
    assert "No knob flagged" in WIDGET.figure(values, data)["layout"]["title"]["text"]


BAD_YAML = """\
optimizer: {name: adamw, lr: 3.0e-4, betas: [0.9, 0.999], eps: 1.0e-8, weight_decay: 0.1}
weight_decay_all: true
scheduler: {name: cosine, warmup_steps: 0, min_lr: 1.0e-5}
grad_clip: 0
scheduler_step_before_optimizer: true
zero_grad: false
max_steps: 1000
"""


def test_odd_knobs_are_each_flagged():
    report = read_config(BAD_YAML)
    levels = _levels(report)
    assert levels["beta2"] in ("unusual", "risky")
    assert levels["warmup"] == "risky"
    assert levels["grad_clip"] == "risky"
    assert levels["decay_all"] == "risky"
    assert levels["sched_first"] == "risky"
    assert levels["zero_grad"] == "risky"
    assert levels["beta1"] == levels["lr"] == levels["eps"] == "ok"
    assert report["flags"] == 6


def test_the_same_flags_from_a_python_dict_with_aliases():
    text = ("{'learning_rate': 3e-2, 'adam_betas': (0.9, 0.999), 'no_decay': [], 'max_grad_norm': None, "
            "'step_order': ['zero_grad', 'backward', 'scheduler', 'optimizer']}")
    report = read_config(text)
    assert report["format"] == "Python dict"
    levels = _levels(report)
    assert levels["lr"] == "risky"  # 3e-2: far too high
    assert levels["beta2"] == "unusual" and levels["no_decay"] == "risky"
    assert levels["grad_clip"] == "risky" and levels["step_order"] == "risky"
    assert levels["warmup"] == "risky"  # not set at all: no warmup
    assert next(r for r in report["rows"] if r["knob"] == "warmup")["path"] == "(not set)"


def test_missing_clip_and_warmup_are_flagged_and_tokens_give_steps():
    report = read_config("lr: 6.0e-4\nmicro_batch: 8\nseq_len: 1024\ngrad_accum: 4\ntotal_tokens: 3.2768e9\n")
    assert {r["knob"] for r in report["rows"] if r["path"] == "(not set)"} == {"warmup", "grad_clip"}
    sums = {a["quantity"]: a["value"] for a in report["arithmetic"]}
    assert sums["tokens per step"] == 8 * 1024 * 4
    assert sums["total steps"] == 100_000


@pytest.mark.parametrize("text,phrase", [
    ("!!python/object/apply:os.system ['echo hacked']", "tag"),
    ("lr: !!python/object:os.system {}\n", "tag"),
    ("{'lr': __import__('os').system('echo hacked')}", "__import__"),
    ("{'lr': (lambda: 1)()}", "literals"),
    ("[" * 5000 + "]" * 5000, "nests"),
    ("{'a': " + "[" * 100 + "]" * 100 + "}", "nests"),
    ("".join(f"{'  ' * i}k{i}:\n" for i in range(20)) + "  " * 20 + "v: 1\n", "levels deep"),
    ("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n", "entries"),
    ("lr: [unclosed\n", "not valid YAML"),
    ("- just\n- a list\n", "mapping"),
    ("", "empty"),
])
def test_malicious_or_broken_text_is_refused_with_a_clear_message(text, phrase, capfd):
    data = WIDGET.compute({"config": text})
    assert data["error"] and phrase in data["error"], data["error"]
    assert data["rows"] == [] and data["flags"] == 0
    assert "hacked" not in capfd.readouterr().out  # nothing was executed
    figure = WIDGET.figure({"config": text}, data)
    assert "could not be read" in figure["layout"]["annotations"][0]["text"]
    assert WIDGET.tables({"config": text}, data)[0]["rows"] == [[data["error"]]]


def test_a_10_megabyte_string_is_a_422_naming_the_field():
    with pytest.raises(ParamError) as caught:
        WIDGET.canonicalize({"config": "a" * 10_000_000})
    assert caught.value.field == "config" and str(MAX_CHARS) in caught.value.allowed
    assert "too" in read_config("x: " + "a" * 10_000_000)["error"] or "characters" in read_config(
        "x: " + "a" * 10_000_000)["error"]


def test_over_long_text_is_a_422_over_http(client):
    response = client.get("/api/widgets/config-reader", params={"config": "a: 1\n" * 4100})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "config"]


def test_a_parse_error_is_a_readable_result_over_http(client):
    response = client.get("/api/widgets/config-reader", params={"config": "{'lr': __import__('os')}"})
    assert response.status_code == 200
    assert "not evaluated" in response.json()["data"]["error"]
