"""Classes and polls in the progress database (app/learning/classes.py, polls.py): tokens kept
as digests, aliases, leaving, one vote per round, the poll's steps, and a learner's export
and deletion covering memberships and votes."""
from __future__ import annotations

import re
import sqlite3
import time

import pytest

from app.learning import classes as classes_module
from app.learning.classes import ClassError
from app.learning.progress import ProgressStore

ANN, BOB, CY = "ann-aaaaaaaaaaaaaaaa", "bob-bbbbbbbbbbbbbbbb", "cy-cccccccccccccccccc"


@pytest.fixture
def store(tmp_path):
    progress = ProgressStore(tmp_path / "progress.sqlite3")
    yield progress
    progress.close()


@pytest.fixture
def klass(store):
    info, token = store.create_class("  Stable training,\n Tuesday  ")
    return info, token


def test_a_class_keeps_only_its_tokens_digest_and_checks_it(store, klass, tmp_path):
    info, token = klass
    assert info.name == "Stable training, Tuesday"
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", info.id) and len(token) >= 32
    assert store.teacher_token_ok(info.id, token)
    assert not store.teacher_token_ok(info.id, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not store.teacher_token_ok("no-such-class-id", token)
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert token.encode() not in raw, "the database holds only the token's digest"
    other, other_token = store.create_class("Other")
    assert other.id != info.id and not store.teacher_token_ok(info.id, other_token)


def test_a_new_teacher_token_replaces_the_old_one(store, klass):
    info, token = klass
    fresh = store.new_teacher_token(info.id)
    assert store.teacher_token_ok(info.id, fresh) and not store.teacher_token_ok(info.id, token)
    with pytest.raises(ClassError):
        store.new_teacher_token("nope")


@pytest.mark.parametrize("name", ["", "   ", "x" * 81])
def test_a_class_name_is_one_to_eighty_characters(store, name):
    with pytest.raises(ClassError, match="1 to 80"):
        store.create_class(name)


def test_learners_join_under_a_random_alias_or_a_unique_nickname(store, klass):
    info, _ = klass
    alias = store.join_class(info.id, ANN)
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+ \d\d", alias)
    assert store.join_class(info.id, ANN) == alias, "joining again keeps the alias"
    assert store.join_class(info.id, BOB, "  Sam ") == "Sam"
    assert store.join_class(info.id, CY, "Sam") == "Sam 2", "two learners never share an alias"
    assert store.join_class(info.id, ANN, "Ann") == "Ann", "a member may choose a nickname later"
    assert [m.alias for m in store.members(info.id)] == ["Ann", "Sam", "Sam 2"]
    assert store.membership(info.id, BOB) == "Sam" and store.membership(info.id, "nobody-xxxxxxxxxxxx") is None
    assert [(c.id, a) for c, a in store.memberships(CY)] == [(info.id, "Sam 2")]


@pytest.mark.parametrize("nickname", ["<script>", "x" * 25, "-dash first", "a\tb\u0000"])
def test_a_nickname_is_plain_and_short(store, klass, nickname):
    with pytest.raises(ClassError, match="nickname"):
        store.join_class(klass[0].id, ANN, nickname)


def test_no_one_joins_a_class_that_does_not_exist_or_is_full(store, klass, monkeypatch):
    with pytest.raises(ClassError, match="no class"):
        store.join_class("no-such-class", ANN)
    monkeypatch.setattr(classes_module, "MAX_MEMBERS", 1)
    store.join_class(klass[0].id, ANN)
    with pytest.raises(ClassError, match="full"):
        store.join_class(klass[0].id, BOB)


def test_one_vote_per_round_in_the_open_round_only(store, klass):
    info, _ = klass
    for learner in (ANN, BOB):
        store.join_class(info.id, learner)
    poll = store.open_poll(info.id, "learning-rate", "lr-meaning")
    store.vote(info.id, poll.id, 1, ANN, [1], False)
    with pytest.raises(ClassError, match="already"):
        store.vote(info.id, poll.id, 1, ANN, [0], True)
    with pytest.raises(ClassError, match="closed"):
        store.vote(info.id, poll.id, 2, ANN, [0], True)  # round 2 is not open yet
    with pytest.raises(ClassError, match="join"):
        store.vote(info.id, poll.id, 1, CY, [0], True)
    store.poll_action(info.id, poll.id, "second_vote")
    with pytest.raises(ClassError, match="closed"):
        store.vote(info.id, poll.id, 1, BOB, [0], True)  # the first round is over
    store.vote(info.id, poll.id, 2, ANN, [0], True)
    store.vote(info.id, poll.id, 2, BOB, [0], True)
    tally = store.tally(poll.id)
    assert (tally[1].votes, tally[1].correct, dict(tally[1].options)) == (1, 0, {1: 1})
    assert (tally[2].votes, tally[2].correct, dict(tally[2].options)) == (2, 2, {0: 2})
    assert store.my_votes(poll.id, ANN) == {1: [1], 2: [0]}


def test_the_poll_steps(store, klass):
    info, _ = klass
    poll = store.open_poll(info.id, "learning-rate", "lr-meaning")
    assert (poll.round, poll.accepting, poll.votes_shown, poll.revealed) == (1, True, False, False)
    assert store.poll_action(info.id, poll.id, "show_votes").votes_shown
    assert not store.poll_action(info.id, poll.id, "hide_votes").votes_shown
    assert not store.poll_action(info.id, poll.id, "stop_votes").accepting
    second = store.poll_action(info.id, poll.id, "second_vote")
    assert (second.round, second.accepting) == (2, True)
    with pytest.raises(ClassError, match="already"):
        store.poll_action(info.id, poll.id, "second_vote")
    revealed = store.poll_action(info.id, poll.id, "reveal")
    assert revealed.revealed and revealed.votes_shown and not revealed.accepting
    assert store.current_poll(info.id) == revealed
    store.poll_action(info.id, poll.id, "close")
    assert store.current_poll(info.id) is None
    with pytest.raises(ClassError, match="closed"):
        store.poll_action(info.id, poll.id, "reveal")
    with pytest.raises(ClassError, match="not one of"):
        store.poll_action(info.id, poll.id, "explode")


def test_no_second_vote_after_the_reveal_and_one_open_poll_per_class(store, klass):
    info, _ = klass
    first = store.open_poll(info.id, "learning-rate", "lr-meaning")
    store.poll_action(info.id, first.id, "reveal")
    with pytest.raises(ClassError, match="revealed"):
        store.poll_action(info.id, first.id, "second_vote")
    second = store.open_poll(info.id, "learning-rate", "lr-sweep")
    assert store.current_poll(info.id) == second
    assert [p.closed for p in store.class_polls(info.id)] == [True, False]


def test_presence_names_the_open_poll_and_the_rounds_voted(store, klass):
    info, _ = klass
    assert store.presence(ANN) == []
    store.join_class(info.id, ANN)
    assert [(p.info.id, p.poll) for p in store.presence(ANN)] == [(info.id, None)]
    poll = store.open_poll(info.id, "learning-rate", "lr-meaning")
    store.vote(info.id, poll.id, 1, ANN, [2], False)
    [presence] = store.presence(ANN)
    assert presence.poll.id == poll.id and presence.voted_rounds == {1}


def test_presence_marks_a_member_active_at_most_every_few_seconds(store, klass, monkeypatch):
    info, _ = klass
    store.join_class(info.id, ANN)
    clock = [time.time() + 1000]  # later than the join
    monkeypatch.setattr(classes_module.time, "time", lambda: clock[0])
    import app.learning.polls as polls_module

    monkeypatch.setattr(polls_module.time, "time", lambda: clock[0])
    store.presence(ANN)
    assert store.members(info.id)[0].last_seen == clock[0]
    clock[0] += 5
    store.presence(ANN)
    assert store.members(info.id)[0].last_seen == clock[0] - 5, "not written again within SEEN_EVERY_S"
    clock[0] += classes_module.SEEN_EVERY_S + 1
    store.presence(ANN)
    assert store.members(info.id)[0].last_seen == clock[0]
    assert store.members(info.id)[0].active(clock[0]) and not store.members(info.id)[0].active(clock[0] + 1000)


def test_leaving_deletes_the_membership_and_the_votes_in_that_class(store, klass):
    info, _ = klass
    other, _ = store.create_class("Other")
    for class_id in (info.id, other.id):
        store.join_class(class_id, ANN)
        poll = store.open_poll(class_id, "learning-rate", "lr-meaning")
        store.vote(class_id, poll.id, 1, ANN, [0], True)
    assert store.leave_class(info.id, ANN) and not store.leave_class(info.id, ANN)
    exported = store.export(ANN)
    assert [r["class_id"] for r in exported["class_members"]] == [other.id]
    assert len(exported["poll_votes"]) == 1


def test_export_and_delete_cover_memberships_and_votes(store, klass, tmp_path):
    info, _ = klass
    store.join_class(info.id, ANN, "Ann")
    store.join_class(info.id, BOB)
    poll = store.open_poll(info.id, "learning-rate", "lr-meaning")
    store.vote(info.id, poll.id, 1, ANN, [0], True)
    store.vote(info.id, poll.id, 1, BOB, [1], False)
    exported = store.export(ANN)
    assert {"class_members", "poll_votes"} <= set(store.learner_tables())
    assert [r["alias"] for r in exported["class_members"]] == ["Ann"]
    assert [r["selected"] for r in exported["poll_votes"]] == ["[0]"]
    assert store.delete_learner(ANN) == 2
    with sqlite3.connect(tmp_path / "progress.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM class_members").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM poll_votes").fetchone()[0] == 1
    assert store.tally(poll.id)[1].votes == 1, "the other learner's vote stays"
