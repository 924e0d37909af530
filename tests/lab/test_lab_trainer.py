"""The lockstep trainer: determinism, identical runs, batches, recorded LR and clipping,
divergence of one run while the others carry on, validation cadence. Every training
here is a tiny model for a few steps on a small batch."""
from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch

from lr_oracle import schedule_lrs
from widgets.lab.data import BatchStream, fixed_batch, load_corpus
from widgets.lab.model import GPTConfig
from widgets.lab.schedules import Schedule
from widgets.lab.hooks import StepHook
from widgets.lab.trainer import LockstepTrainer, RunConfig, TrainSpec, train

TINY = GPTConfig(block_size=16, n_layer=1, n_head=2, n_embd=32)
STEPS = 12


def spec(*runs: RunConfig, steps=STEPS, **kwargs) -> TrainSpec:
    kwargs = {"batch_size": 4, "eval_every": 5, "eval_batch_size": 8, **kwargs}
    return TrainSpec(model=TINY, runs=tuple(runs), steps=steps, **kwargs)


def run(label="a", lr=3e-3, family="cosine", warmup=3, steps=STEPS, **knobs) -> RunConfig:
    return RunConfig(label, Schedule(family, peak_lr=lr, warmup=warmup, total=steps), **knobs)


# --- batches ----------------------------------------------------------------------------------

def test_batch_stream_is_deterministic():
    tokens = load_corpus().train
    a, b, c = (BatchStream(tokens, 4, 16, seed) for seed in (7, 7, 8))
    for _ in range(3):
        (xa, ya), (xb, yb), (xc, _) = a.next(), b.next(), c.next()
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert not torch.equal(xa, xc)
        assert xa.shape == (4, 16) and xa.dtype == torch.long
        assert torch.equal(xa[:, 1:], ya[:, :-1])  # targets are the next characters
    assert not torch.equal(a.next()[0], BatchStream(tokens, 4, 16, 7).next()[0])  # the stream moves on


def test_corpus_split_and_codec():
    corpus = load_corpus()
    assert corpus.vocab_size == 65
    n = len(corpus.train) + len(corpus.val)
    assert len(corpus.train) == int(0.9 * n)
    text = corpus.decode(corpus.train[:50])
    assert corpus.encode(text) == corpus.train[:50].tolist()
    x, _ = fixed_batch(corpus.val, 2, 8, seed=0)
    assert torch.equal(x, fixed_batch(corpus.val, 2, 8, seed=0)[0])


# --- whole runs -------------------------------------------------------------------------------

def test_same_spec_twice_is_identical():
    s = spec(run("a", lr=3e-3, clip=0.5, weight_decay=0.1), run("b", lr=1e-2, beta2=0.99))
    first, second = train(s), train(s)
    assert first == second  # exact: same init, same batches, same arithmetic
    assert first["done"] == STEPS and first["device"] == "cpu"
    assert [r["label"] for r in first["runs"]] == ["a", "b"]
    assert first["runs"][0]["loss"] != first["runs"][1]["loss"]


def test_identical_configs_give_identical_curves():
    result = train(spec(run("one", lr=5e-3), run("two", lr=5e-3), run("other", lr=5e-4)))
    one, two, other = result["runs"]
    for key in ("loss", "grad_norm", "param_norm", "val_loss", "lr"):
        assert one[key] == two[key], key
    assert one["loss"] != other["loss"]
    assert one["loss"][0] == other["loss"][0]  # same init, same first batch: same first loss
    assert one["loss"][-1] < one["loss"][0]  # it learns
    assert abs(one["loss"][0] - math.log(65)) < 0.1


def test_recorded_lr_follows_the_schedule():
    runs = (run("cos", lr=1e-2, family="cosine", warmup=4),
            run("wsd", lr=3e-3, family="wsd", warmup=2),
            run("step", lr=5e-3, family="multistep", warmup=0))
    result = train(spec(*runs))
    for cfg, h in zip(runs, result["runs"]):
        assert len(h["lr"]) == STEPS
        expected = schedule_lrs(cfg.schedule, STEPS)  # the closed forms, not the code under test
        assert h["lr"] == pytest.approx(expected, rel=1e-6)  # float32 in the optimizer


def test_clipping_flags_match_grad_norm():
    result = train(spec(run("tight", clip=0.3), run("loose", clip=1.5), run("none")))
    tight, loose, none = result["runs"]
    for h, c in ((tight, 0.3), (loose, 1.5)):
        assert h["clipped"] == [g > c for g in h["grad_norm"]]
    assert any(tight["clipped"]) and not all(loose["clipped"])
    assert not any(none["clipped"])
    # the clipped run's first norm is the unclipped one: clipping acts after measuring
    assert tight["grad_norm"][0] == none["grad_norm"][0]


def test_validation_loss_at_eval_every_and_at_the_end():
    result = train(spec(run(), steps=STEPS, eval_every=5))
    h = result["runs"][0]
    assert h["val_steps"] == [5, 10, 12]
    assert len(h["val_loss"]) == 3 and all(math.isfinite(v) for v in h["val_loss"])
    assert abs(h["val_loss"][0] - math.log(65)) < 0.3


def test_progress_reports_partial_results():
    seen = []
    trainer = LockstepTrainer(spec(run(), steps=6))
    trainer.run(progress=lambda r: seen.append(r["done"]), report_every=5)
    assert seen == [1, 5]
    assert trainer.wall_time > 0


def test_z_loss_and_attention_tracing():
    result = train(spec(run("z"), steps=4, z_loss=1e-4, record_attention=True))
    h = result["runs"][0]
    assert len(h["max_attn_logit"]) == 4 and all(math.isfinite(v) for v in h["max_attn_logit"])
    assert "max_attn_logit" not in train(spec(run("plain"), steps=2))["runs"][0]


# --- divergence -------------------------------------------------------------------------------

def test_absurd_lr_diverges_while_the_other_run_carries_on():
    result = train(spec(run("sane", lr=3e-3, warmup=0), run("absurd", lr=1e30, warmup=0)))
    sane, absurd = result["runs"]
    assert absurd["diverged_at"] is not None and 0 < absurd["diverged_at"] < STEPS
    assert len(absurd["loss"]) == absurd["diverged_at"]  # nothing recorded from then on
    assert all(math.isfinite(v) for v in absurd["loss"])
    assert sane["diverged_at"] is None and len(sane["loss"]) == STEPS
    assert result["done"] == STEPS
    assert sane["val_steps"] == [5, 10, 12]
    # the blown-up run never touched its neighbour: same curve as next to a sane partner
    alone = train(spec(run("sane", lr=3e-3, warmup=0), run("partner", lr=1e-3, warmup=0)))["runs"][0]
    for key in ("loss", "grad_norm", "param_norm", "val_loss"):
        assert sane[key] == pytest.approx(alone[key], rel=1e-6), key


def test_injected_inf_marks_the_step():
    """Poison run 1's weights after step 3: its loss at step 4 is NaN, so it is marked
    diverged at step 4; run 0 trains on to the end exactly as if nothing happened."""
    s = spec(run("clean"), run("poisoned"))
    trainer = LockstepTrainer(s)
    for t in range(STEPS):
        if t == 4:
            with torch.no_grad():
                trainer.model.blocks[0].mlp.fc.weight[1].fill_(math.inf)
        trainer.train_step()
    clean, poisoned = trainer.result()["runs"]
    assert poisoned["diverged_at"] == 4 and len(poisoned["loss"]) == 4
    assert poisoned["val_steps"] == []  # diverged before the first evaluation at step 5
    assert clean["diverged_at"] is None and len(clean["loss"]) == STEPS
    assert all(math.isfinite(v) for v in clean["loss"] + clean["grad_norm"] + clean["param_norm"])
    assert clean == train(spec(run("clean"), run("poisoned")))["runs"][0]


def test_all_runs_diverged_stops_early():
    def nan_hook(t, x, y):  # a batch hook may corrupt a step: here, by poisoning the weights
        if t == 2:
            with torch.no_grad():
                trainer.model.wte.fill_(math.nan)
        return x, y

    trainer = LockstepTrainer(spec(run("a"), run("b")), batch_hook=nan_hook)
    result = trainer.run()
    assert result["done"] == 3
    assert [h["diverged_at"] for h in result["runs"]] == [2, 2]


# --- the hooks, one by one ----------------------------------------------------------------------

class RefuseRun(StepHook):
    """Refuses run `run`'s update at the given steps (as the spike lab's skip policy does)."""

    def __init__(self, run: int, steps):
        self.run, self.steps = run, set(steps)

    def accept(self, trainer, norm, finite):
        return [not (r == self.run and trainer.step in self.steps) for r in range(len(trainer.spec.runs))]


def test_a_skipped_step_equals_never_seeing_the_batch_bit_for_bit():
    s = spec(run("a", family="constant", warmup=0), run("b", family="constant", warmup=0))  # LR independent of t
    skipping = LockstepTrainer(s, hooks=[RefuseRun(1, {3, 4})])
    skipping.run()
    stream = BatchStream(load_corpus().train, s.batch_size, TINY.block_size, s.seed)
    batches = [stream.next() for _ in range(STEPS)]
    kept = [b for t, b in enumerate(batches) if t not in (3, 4)]
    never = LockstepTrainer(dataclasses.replace(s, steps=STEPS - 2), batch_hook=lambda t, x, y: kept[t])
    never.run()
    for a, b in zip(skipping.model.parameters(), never.model.parameters()):
        assert torch.equal(a[1], b[1])  # run 1 skipped two batches: it is the run that never saw them
    assert skipping.optimizer.steps == [STEPS, STEPS - 2]
    for key in ("m", "v"):
        for state_a, state_b in zip(skipping.optimizer.state.values(), never.optimizer.state.values()):
            assert torch.equal(state_a[key][1], state_b[key][1])
    skipped_run = skipping.result()["runs"][1]["loss"]
    assert [x for t, x in enumerate(skipped_run) if t not in (3, 4)] == never.result()["runs"][1]["loss"]


def test_rollback_restores_the_checkpoint_bit_for_bit():
    from widgets.lab.recovery import Recovery, RecoveryPolicy, SpikeDetector

    fired = []

    class Once(SpikeDetector):  # flags one step: the first with six accepted norms behind it (step 6)
        def flags(self, norm, recent):
            if len(recent) == 6 and not fired:
                fired.append(norm)
                return True
            return False

    recovery = Recovery((RecoveryPolicy("none"), RecoveryPolicy("rollback", 3)), Once(window=20, min_history=0))
    trainer = LockstepTrainer(spec(run("a"), run("b")), hooks=[recovery])
    states = []
    while trainer.step < 8:
        states.append(trainer.optimizer.run_state(1))
        trainer.train_step()
        if trainer.step == 7:  # step 6 was flagged: run 1 is back at its state from the start of step 3
            now = trainer.optimizer.run_state(1)
            assert now["steps"] == states[3]["steps"] == 3
            for key, tensors in now["tensors"].items():
                for name, value in tensors.items():
                    assert torch.equal(value, states[3]["tensors"][key][name]), name
    assert recovery.rollbacks == [[], [[6, 3]]]
    assert trainer.result()["runs"][1]["rollbacks"] == [[6, 3]]


def test_batch_source_hook_replaces_the_stream():
    from widgets.lab.data import RepeatBatch

    one = fixed_batch(load_corpus().train, 4, TINY.block_size, 0)
    trainer = LockstepTrainer(spec(run()), batches=RepeatBatch(one))
    hooked = LockstepTrainer(spec(run()), batch_hook=lambda t, x, y: one)  # the same, through the corruption hook
    assert trainer.run()["runs"][0]["loss"] == hooked.run()["runs"][0]["loss"]


def test_clip_policy_hook_decides_the_scale():
    # Adam is (nearly) invariant to a constant gradient scale, so the policy's effect is shown
    # with the extremes: scale 0 freezes run "frozen" (Adam's update of a zero gradient is 0),
    # scale 1 leaves run "free" exactly as without any clipping.
    def freeze_first(norm, threshold):
        return torch.tensor([0.0, 1.0], device=norm.device)

    hooked = LockstepTrainer(spec(run("frozen"), run("free")), clip_policy=freeze_first)
    plain = LockstepTrainer(spec(run("frozen"), run("free")))  # same shapes: same arithmetic
    (frozen, free), p = hooked.run()["runs"], plain.run()["runs"][1]
    assert frozen["clipped"] == [True] * STEPS and not any(free["clipped"]) and not any(p["clipped"])
    assert frozen["grad_norm"][0] == p["grad_norm"][0]  # the norm is taken before the policy
    assert len(set(frozen["param_norm"])) == 1  # never moved
    assert free["loss"] == p["loss"] and free["param_norm"] == p["param_norm"]
    assert frozen["loss"][-1] > free["loss"][-1]


def test_extra_metrics_and_evaluations_are_recorded_per_run():
    from widgets.lab.hooks import WeightsMoved

    trainer = LockstepTrainer(spec(run("a", lr=1e-3), run("b", lr=1e-2), eval_every=4, eval_at_start=True),
                              hooks=[WeightsMoved()], evals={"train_eval": fixed_batch(load_corpus().train, 8, 16, 0)})
    a, b = trainer.run()["runs"]
    assert len(a["moved"]) == STEPS and all(m > 0 for m in a["moved"])
    assert sum(b["moved"]) > 3 * sum(a["moved"])  # ten times the LR moves the weights much further
    assert a["val_steps"] == [0, 4, 8, 12] and len(a["train_eval"]) == 4


def test_run_together_steps_every_trainer_to_its_end():
    from widgets.lab.trainer import run_together

    short, long = LockstepTrainer(spec(run(), steps=3)), LockstepTrainer(spec(run(), steps=7))
    seen = []
    assert run_together([short, long], lambda k: seen.append((k, short.step, long.step)), report_every=2) == 7
    assert short.step == 3 and long.step == 7 and seen == [(1, 1, 1), (2, 2, 2), (4, 3, 4), (6, 3, 6)]
    assert short.result()["runs"][0] == LockstepTrainer(spec(run(), steps=3)).run()["runs"][0]


def test_a_deep_copy_is_a_checkpoint_that_trains_on_alone():
    trainer = LockstepTrainer(spec(run()))
    for _ in range(5):
        trainer.train_step()
    twin = copy.deepcopy(trainer)
    assert all(p.data_ptr() != q.data_ptr() for p, q in zip(trainer.model.parameters(), twin.model.parameters()))
    assert twin.run() == trainer.run()  # the same state: the same rest of the run
