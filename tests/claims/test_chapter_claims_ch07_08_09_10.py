"""Claims in chapters 7, 8, 9 and 10 about what a widget's default run shows.

Every sentence in those chapters that states an outcome of a widget run is wrapped in
<!-- CLAIM:<slug>:<id> --> ... <!-- /CLAIM -->. Each test here recomputes the widget at the
same parameters the chapter's directive uses (the defaults unless the directive says
otherwise) and checks the claim on the real data, so the prose cannot drift from the runs.
"""
from __future__ import annotations


from claim_helpers import claim_ids, _run, chapter_text, claim, directive_params, run_as_in_chapter
from widgets.registry import all_widgets

NAMES = ("07-precision.md", "08-instabilities.md", "09-muon.md", "10-scale-and-configs.md")


TESTED = {("precision", "fp16-underflow"), ("precision", "bf16-weights"),
          ("instabilities", "one-step-spike"), ("instabilities", "moved"), ("instabilities", "attn-logit"), ("muon", "ns-growth"),
          ("scale-and-configs", "ladder"), ("scale-and-configs", "reader-default"),
          ("instabilities", "layer-health-qk")}  # layer-health's: in test_widget_layer_health.py


def test_every_claim_block_is_closed_and_has_a_test():
    """Each CLAIM id in these chapters is one this file checks."""
    found = claim_ids(NAMES)
    assert found <= TESTED, f"claims without a test: {sorted(found - TESTED)}"


# --- chapter 7: numerical precision ----------------------------------------------------------
CH7 = "07-precision.md"


def test_ch7_fp16_underflow_12_percent_at_s1_and_0_2_percent_at_s256():
    text = claim(CH7, "fp16-underflow")
    assert "about 12%" in text and "$S = 1$" in text and "$S = 2^8$" in text and "about 0.2%" in text
    fp16 = run_as_in_chapter(CH7, "precision")["fp16"]
    share = dict(zip(fp16["log2_scale"], fp16["underflow"]))
    assert 0.105 <= share[0] < 0.135, share[0]
    assert 0.0015 <= share[8] < 0.0025, share[8]
    assert fp16["overflow"][8] == 0


def test_ch7_bf16_autocast_tracks_fp32_and_bf16_weights_lose_about_half_the_updates():
    text = claim(CH7, "bf16-weights")
    assert "within 0.01" in text and "almost no updates (never more than 0.01% on a step)" in text and "about half" in text
    runs = {r["label"]: r for r in run_as_in_chapter(CH7, "precision")["runs"]}
    fp32, autocast, weights = runs["fp32"], runs["bf16 autocast"], runs["bf16 weights"]
    assert abs(autocast["val_loss"][-1] - fp32["val_loss"][-1]) < 0.01
    assert max(autocast["lost_updates"]) < 1e-4 and max(fp32["lost_updates"]) < 1e-4
    lost = weights["lost_updates"]
    assert 0.4 <= lost[-1] <= 0.65, lost[-1]  # "about half of all updates by the last step"
    assert lost[len(lost) // 4] < lost[len(lost) // 2] < lost[-1]  # "climbs as the LR decays"


def test_ch7_share_of_updates_lost_in_bf16_weights():
    """'about 30 to 45% at a peak rate of 3e-4, 60 to 80% at 1e-4, and about nine in ten at 3e-5':
    weights from N(0, 0.02) rounded to bf16, updates of RMS 0.2 to 0.4 times the rate added and
    rounded again (seen: 28-47%, 60-78%, 86-93%)."""
    import torch

    text = " ".join(chapter_text(CH7).split())
    assert "about 30 to 45% at a peak rate of $3 \\times 10^{-4}$, 60 to 80% at $10^{-4}$, and about nine in ten" in text
    generator = torch.Generator().manual_seed(0)
    weights = (torch.randn(1_000_000, generator=generator) * 0.02).bfloat16()

    def lost(eta: float, rms: float) -> float:
        update = torch.randn(weights.shape, generator=generator) * rms * eta
        return ((weights.float() + update).bfloat16() == weights).float().mean().item()

    for eta, low, high in ((3e-4, 0.25, 0.5), (1e-4, 0.55, 0.82), (3e-5, 0.84, 0.95)):
        shares = [lost(eta, rms) for rms in (0.2, 0.3, 0.4)]
        assert low < min(shares) and max(shares) < high, (eta, shares)
    # and the same arithmetic says fp32 keeps them: the share lost there is zero at the peak
    assert ((weights.float().double() + 3e-5).float() == weights.float()).float().mean().item() < 1e-3


# --- chapter 8: instabilities ------------------------------------------------------------------
CH8 = "08-instabilities.md"


def clip_trace_runs() -> dict:
    data = run_as_in_chapter(CH8, "clip-trace")
    assert data["bad_step"] == 60 and data["threshold"] == 1.0
    return {r["label"]: r for r in data["runs"]}


def test_ch8_corrupted_batch_is_a_one_step_spike_in_both_runs():
    text = claim(CH8, "one-step-spike")
    assert "more than 2 nats" in text and "step 60" in text and "within 0.2" in text
    for run in clip_trace_runs().values():  # every seed: tests/claims/test_claims_over_five_seeds.py
        loss = run["loss"]
        assert loss[60] > loss[59] + 2, (run["label"], loss[59:62])  # +2.9 to +5.0 seen
        assert abs(loss[61] - loss[59]) < 0.2, (run["label"], loss[59:62])
        assert run["diverged_at"] is None


def test_ch8_unclipped_run_moves_further_on_and_after_the_bad_step():
    text = claim(CH8, "moved")
    assert "more than 1.4" in text and "more than 1.2" in text and "within a quarter" in text
    runs = clip_trace_runs()  # every seed: tests/claims/test_claims_over_five_seeds.py
    free, clipped = runs["no clipping"]["moved"], runs["clip at 1"]["moved"]
    assert free[60] > 1.4 * free[59] and free[61] > 1.2 * free[59], free[58:63]
    assert abs(clipped[60] / clipped[59] - 1) < 0.25, clipped[58:63]
    assert runs["clip at 1"]["clipped"][60] and not runs["no clipping"]["clipped"][60]


def test_ch8_attention_logit_climbs_without_qk_norm_and_stays_below_4_with_it():
    text = claim(CH8, "attn-logit")
    assert "about 0.1" in text and "more than 25" in text and "below 4 in every run" in text
    params = directive_params(CH8, "spikes")
    assert not all_widgets()["spikes"].canonicalize(params)["qk_norm"]
    runs = {r["label"]: r for r in run_as_in_chapter(CH8, "spikes")["runs"]}
    logit = runs["do nothing"]["max_attn_logit"]
    assert logit[0] < 0.2 and logit[-1] > 25, (logit[0], logit[-1])
    with_qk = _run("spikes", tuple(sorted({**params, "qk_norm": True}.items())))
    for run in with_qk["runs"]:
        assert max(run["max_attn_logit"]) < 4, (run["label"], max(run["max_attn_logit"]))


# --- chapter 9: Muon ---------------------------------------------------------------------------
CH9 = "09-muon.md"


def test_ch9_newton_schulz_lifts_the_smallest_singular_value_about_3_4x_per_iteration():
    text = claim(CH9, "ns-growth")
    assert "between 3.4 and 3.8" in text and "about 0.0002" in text and "about 0.13" in text
    assert "about 1.2" in text and "$64 \\times 256$" in text
    values = all_widgets()["muon"].canonicalize(directive_params(CH9, "muon"))
    assert values["iterations"] == 5 and values["precision"] == "bfloat16"
    spectra = run_as_in_chapter(CH9, "muon")["spectra"]
    assert sorted(spectra["shape"]) == [64, 256]
    sv = spectra["singular_values"]
    assert len(sv) == 6  # before the first iteration, then after each of five
    smallest = [min(s) for s in sv]
    ratios = [b / a for a, b in zip(smallest, smallest[1:])]
    assert all(3.4 <= r <= 3.8 for r in ratios), ratios
    assert 1.5e-4 <= smallest[0] <= 3e-4 and 0.11 <= smallest[-1] <= 0.15, (smallest[0], smallest[-1])
    assert all(1.15 <= max(s) <= 1.25 for s in sv[1:]), [max(s) for s in sv]


# --- chapter 10: scale and configs ---------------------------------------------------------------
CH10 = "10-scale-and-configs.md"


def test_ch10_ladder_counts():
    text = claim(CH10, "ladder")
    for figure in ("(2 parameters)", "(108,352)", "852,985,920", "1,557,611,200", "174,604,259,328",
                   "about 112 times"):
        assert figure in text, figure
    data = run_as_in_chapter(CH10, "param-ladder")
    assert data["yours"]["total"] == 108_352  # the directive's defaults are the tiny GPT
    rungs = {r["label"]: r["params"] for r in data["rungs"]}
    assert rungs["a line y = a·x + b"] == 2 and rungs["this course's tiny GPT"] == 108_352
    hybrid = next(n for label, n in rungs.items() if label.startswith("hybrid"))
    assert f"({hybrid:,}:" in text  # the published figure the chart shows is the one the prose quotes
    assert rungs["GPT-2 XL"] == 1_557_611_200
    gpt3 = next(n for label, n in rungs.items() if label.startswith("GPT-3"))
    assert gpt3 == 174_604_259_328 and round(gpt3 / rungs["GPT-2 XL"]) == 112


def test_ch10_reader_default_flags_nothing_and_does_the_token_arithmetic():
    text = claim(CH10, "reader-default")
    assert "flags no knob" in text and "4,194,304 tokens per step" in text and "2.1 trillion" in text
    data = run_as_in_chapter(CH10, "config-reader")
    assert data["error"] is None and data["flags"] == 0
    arithmetic = {row["quantity"]: row["value"] for row in data["arithmetic"]}
    assert arithmetic["tokens per step"] == 4_194_304
    assert round(arithmetic["total tokens"] / 1e12, 1) == 2.1
