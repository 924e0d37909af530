"""Precision: formats against torch's own casts and finfo, tf32 rounding, the scaler against GradScaler,
and the caption's claims on the real default computation."""
from __future__ import annotations

import struct

import pytest
import torch

from widgets.lab.precision import (FORMAT_BY_NAME, FORMATS, DynamicLossScaler, bit_fields, cast, finfo,
                                   fp16_cast_stats, round_to_tf32)
from widgets.precision import WIDGET, formats, scaler_loop
from shared_runs import widget_run


def test_layouts_are_the_documented_widths():
    widths = {f.name: (f.sign, f.exponent, f.mantissa) for f in FORMATS}
    assert widths == {"fp32": (1, 8, 23), "tf32": (1, 8, 10), "fp16": (1, 5, 10), "bf16": (1, 8, 7),
                      "fp8 e4m3": (1, 4, 3), "fp8 e5m2": (1, 5, 2)}
    assert finfo(FORMAT_BY_NAME["fp8 e4m3"])["max"] == 448
    assert finfo(FORMAT_BY_NAME["fp8 e5m2"])["max"] == 57344
    assert finfo(FORMAT_BY_NAME["fp16"])["max"] == 65504


def test_fp32_bits_match_struct():
    x = torch.tensor(-0.1)
    packed = format(struct.unpack(">I", struct.pack(">f", -0.1))[0], "032b")
    assert "".join(bit_fields(x, FORMAT_BY_NAME["fp32"])) == packed


@pytest.mark.parametrize("name", ["fp16", "bf16", "fp8 e4m3", "fp8 e5m2"])
def test_bits_decode_to_the_stored_value(name):
    fmt = FORMAT_BY_NAME[name]
    bias = 2 ** (fmt.exponent - 1) - 1
    for value in (0.1, -3.0, 1.5, 200.0):
        sign, exponent, mantissa = bit_fields(torch.tensor(value), fmt)
        e = int(exponent, 2)
        frac = int(mantissa, 2) / 2 ** fmt.mantissa
        decoded = (-1) ** int(sign) * (2.0 ** (e - bias) * (1 + frac) if e else 2.0 ** (1 - bias) * frac)
        assert decoded == float(cast(torch.tensor(value), fmt))


def test_tf32_rounding_matches_a_float_reference():
    """Round to nearest (ties to even) at 10 mantissa bits == torch's rounding of fp32 to bf16 widened by 3 bits."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10000, generator=g) * 10.0 ** torch.randint(-20, 20, (10000,), generator=g)
    ours = round_to_tf32(x).double()
    m, e = torch.frexp(x.double())  # x = m 2^e, 0.5 <= |m| < 1: 11 significant bits -> m * 2^11 rounded
    reference = torch.round(m * 2 ** 11) / 2 ** 11 * 2.0 ** e  # torch.round: ties to even
    assert torch.equal(ours, reference)
    assert torch.isinf(round_to_tf32(torch.tensor([float("inf")]))).all()
    assert torch.isnan(round_to_tf32(torch.tensor([float("nan")]))).all()


def test_overflow_shows_inf_or_saturation():
    rows = {r["name"]: r for r in formats(70000)}
    assert rows["fp16"]["stored"] is None and rows["fp16"]["stored_text"] == "inf"
    assert rows["fp8 e5m2"]["stored_text"] == "inf"
    assert rows["fp8 e4m3"]["stored"] == 448.0  # torch saturates e4m3fn on this cast
    assert rows["bf16"]["stored"] == 70144.0


@pytest.mark.parametrize("growth_interval", [1, 3])
def test_dynamic_scaler_matches_torch_grad_scaler(growth_interval):
    """Same found-inf sequence through GradScaler and ours: same scales, same skipped steps."""
    p = torch.nn.Parameter(torch.zeros(4))
    opt = torch.optim.SGD([p], lr=0.1)
    theirs = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10, growth_interval=growth_interval)
    ours = DynamicLossScaler(2.0 ** 10, growth_interval=growth_interval)
    pattern = [False, False, True, False, False, False, True, True, False, False]
    for bad in pattern:
        grad = torch.tensor([1.0, 2.0, float("inf") if bad else 3.0, 4.0])
        theirs.scale(torch.ones(()))  # as scaler.scale(loss) would: initialises the scale tensor
        p.grad = grad * theirs.get_scale()  # the gradient of loss * S
        before = p.detach().clone()
        theirs.step(opt)
        theirs.update()
        _, found = ours.unscale([grad * ours.scale])
        assert found == bad
        assert torch.equal(p.detach(), before) == bad  # torch skipped exactly the bad steps
        ours.update(found)
        assert ours.scale == theirs.get_scale()


def test_fp16_cast_stats_counts_real_zeros_and_infs():
    g = torch.tensor([1e-9, 1e-3, 1.0, 0.0])
    assert fp16_cast_stats(g, 1.0) == {"underflow": 1 / 3, "overflow": 0.0}
    assert fp16_cast_stats(g, 2.0 ** 17) == {"underflow": 0.0, "overflow": 1 / 3}


@pytest.fixture(scope="module")
def default_run():
    return widget_run(WIDGET.name)


def test_caption_point_one_in_fp16(default_run):
    values, data = default_run
    assert values["value"] == 0.1
    fp16 = next(r for r in data["formats"] if r["name"] == "fp16")
    assert fp16["stored"] == 0.0999755859375
    assert 2e-4 < fp16["rel_error"] < 3e-4
    assert all(r["rel_error"] > 0 for r in data["formats"])  # not exact in any format


def test_caption_loss_scaling_rescues_underflow(default_run):
    values, data = default_run
    shares = dict(zip(data["fp16"]["log2_scale"], data["fp16"]["underflow"]))
    assert 0.08 < shares[0] < 0.16
    assert shares[8] < 0.005 < shares[0]
    assert values["scale_log2"] == 8
    # the dynamic loop at the default S never overflows and grows S after every 3 good steps
    assert not any(data["scaler"]["skipped"])
    assert data["scaler"]["log2_scale"][:7] == [8, 8, 8, 9, 9, 9, 10]


def test_dynamic_loop_backs_off_on_overflow():
    v = WIDGET.canonicalize({"scale_log2": 24, "grad_factor": 1.0})
    scaler = scaler_loop(v["scale_log2"], v["grad_factor"], v["lr"], WIDGET.seed)
    assert scaler["skipped"][0] and scaler["log2_scale"][1] == 23
    assert not all(scaler["skipped"])


def test_caption_bf16_autocast_tracks_fp32_while_bf16_weights_lose_updates(default_run):
    _, data = default_run
    fp32, autocast, bf16 = data["runs"]
    assert (fp32["label"], autocast["label"], bf16["label"]) == ("fp32", "bf16 autocast", "bf16 weights")
    assert abs(autocast["val_loss"][-1] - fp32["val_loss"][-1]) < 0.01
    assert bf16["val_loss"][-1] > fp32["val_loss"][-1]
    assert max(fp32["lost_updates"]) < 0.01
    assert bf16["lost_updates"][-1] > 0.3 > 0.05 > bf16["lost_updates"][0]
