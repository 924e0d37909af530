"""Checklists: the directive, the content check, the store and migration 3, the form route
(no JavaScript and htmx), the 422s and 404s, the JSON twins, reset, export and delete."""
from __future__ import annotations

import re
import sqlite3
import textwrap

import pytest
from fastapi.testclient import TestClient

from app.tools.check.course import check_content
from app.course.content import load_course
from app.course.markdown import MarkdownError, render_markdown
from app.learning.progress import MIGRATIONS, SCHEMA_VERSION, ProgressDB, ProgressStore
from app.web.learner import COOKIE_NAME
from app.settings import Settings

CHAPTER = "scale-and-configs"
CHECKLIST = "pre-training"
URL = f"/progress/checklist/{CHAPTER}/{CHECKLIST}"
ITEMS = len(load_course(Settings().content_dir).get(CHAPTER).checklists[CHECKLIST].items)
LEARNER = "checklist-learner-0123456789"


def tick(client, *items, **kwargs):
    return client.post(URL, data={"item": [str(i) for i in items]}, follow_redirects=False, **kwargs)


def checked_boxes(html: str) -> list[int]:
    form = re.search(rf'<form class="checklist" id="checklist-{CHECKLIST}".*?</form>', html, re.S).group(0)
    return [int(v) for v in re.findall(r'<input type="checkbox" name="item" value="(\d+)"[^>]*\bchecked>', form)]


# --- the directive ------------------------------------------------------------------------------

def test_the_directive_leaves_a_slot_and_renders_each_item_inline():
    r = render_markdown("```checklist mine\n1. **One** with $x$\n2. Two, [linked](/glossary)\n```\n")
    assert r.html == "<!--slot:checklist:0-->\n"
    (d,) = r.directives
    ordered, items = d.data
    assert (d.kind, d.name, ordered) == ("checklist", "mine", True)
    assert items[0].startswith("<strong>One</strong> with <span class=\"math inline\"><math")
    assert items[1] == 'Two, <a href="/glossary">linked</a>' and "<p>" not in "".join(items)


@pytest.mark.parametrize("block, message", [
    ("```checklist\n1. a\n```\n", "needs an id"),
    ("```checklist Bad_Id\n1. a\n```\n", "needs an id"),
    ("```checklist c\nJust a paragraph.\n```\n", "must be one Markdown list"),
    ("```checklist c\n1. a\n\nThen prose.\n```\n", "must be one Markdown list"),
    ("```checklist c\n```\n", "must be one Markdown list"),
    ("```checklist c\n1. a\n   - nested\n```\n", "item 1: each item must be one paragraph"),
    ("```checklist c\n1. a\n2.\n```\n", "item 2: each item must be one paragraph"),
    ("```checklist c\n" + "".join(f"- item {i}\n" for i in range(51)) + "```\n", "at most 50"),
])
def test_malformed_checklists_are_errors(block, message):
    with pytest.raises(MarkdownError, match=message):
        render_markdown(block)


CHAPTER_TEXT = """---
title: T
slug: c1
order: 1
minutes: 5
level: introductory
prerequisites:
  background: [Some Python.]
objectives: [Learn]
glossary:
  warmup: A ramp.
---
## Start

```checklist a
- one ([bad](/chapters/nope))
- two
```
"""


def write_chapter(tmp_path, text):
    chapters = tmp_path / "content" / "chapters"
    chapters.mkdir(parents=True)
    (chapters / "01-c1.md").write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path / "content"


def test_the_check_follows_links_in_items_and_rejects_a_malformed_or_repeated_checklist(tmp_path):
    report = check_content(write_chapter(tmp_path / "links", CHAPTER_TEXT), run_predictions=False)
    assert any("broken link /chapters/nope" in p for p in report.problems), report.problems
    bad = CHAPTER_TEXT.replace("- two", "- two\n\nprose")
    report = check_content(write_chapter(tmp_path / "shape", bad), run_predictions=False)
    assert any("01-c1.md" in p and "must be one Markdown list" in p for p in report.problems), report.problems
    twice = CHAPTER_TEXT + "\n```checklist a\n- again\n```\n"
    report = check_content(write_chapter(tmp_path / "twice", twice), run_predictions=False)
    assert any("checklist ids used twice: ['a']" in p for p in report.problems), report.problems


def test_chapter_10_has_the_ten_checks_in_its_checklist():
    checklist = load_course(Settings().content_dir).get(CHAPTER).checklists[CHECKLIST]
    assert len(checklist.items) == 10 and checklist.ordered
    assert all('href="/chapters/' in str(item) for item in checklist.items), "each links to where it is taught"


# --- the store and migration 3 -------------------------------------------------------------------

def test_ticks_are_set_as_a_whole_and_keep_when_they_were_first_ticked(tmp_path):
    store = ProgressStore(tmp_path / "p.sqlite3")
    store.set_ticks(LEARNER, CHAPTER, CHECKLIST, {1, 3})
    first = dict(store.conn.execute("SELECT item, ticked_at FROM checklist_ticks").fetchall())
    store.set_ticks(LEARNER, CHAPTER, CHECKLIST, {3, 4})
    store.set_ticks("someone-else-0123456789", CHAPTER, CHECKLIST, {2})
    assert store.ticks(LEARNER) == {CHAPTER: {CHECKLIST: {3, 4}}}
    assert store.ticks(LEARNER, "other-chapter") == {}
    again = dict(store.conn.execute("SELECT item, ticked_at FROM checklist_ticks WHERE learner = ?",
                                    (LEARNER,)).fetchall())
    assert again[3] == first[3], "an item still ticked keeps its first time"
    store.set_ticks(LEARNER, CHAPTER, CHECKLIST, set())
    assert store.ticks(LEARNER) == {} and store.ticks("someone-else-0123456789")[CHAPTER][CHECKLIST] == {2}
    store.close()


def test_a_database_at_version_2_migrates_and_keeps_its_rows(tmp_path):
    path = tmp_path / "v2.sqlite3"
    with sqlite3.connect(path) as conn:  # what the code of schema version 2 made
        for statements in MIGRATIONS[:2]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 2")
        conn.execute("INSERT INTO answers VALUES (?, 'learning-rate', 'lr-meaning', '[1]', 1, 0)", (LEARNER,))
        conn.execute("INSERT INTO exercise_attempts VALUES (?, 'ex', 2, 1, 'code', 1, 0)", (LEARNER,))
    assert ProgressDB(path).migrate() == 2
    store = ProgressStore(path)
    assert store.answers(LEARNER, "learning-rate") == {"lr-meaning": ([1], True)}
    assert store.exercises(LEARNER)["ex"].attempts == 2
    store.set_ticks(LEARNER, CHAPTER, CHECKLIST, {5})
    assert "checklist_ticks" in store.learner_tables(), "export and delete find the new table"
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()


# --- the route ------------------------------------------------------------------------------------

def test_a_form_without_javascript_saves_the_ticks_and_is_redirected_to_the_checklist(client):
    response = tick(client, 2, 5)
    assert response.status_code == 303
    assert response.headers["location"] == f"/chapters/{CHAPTER}#checklist-{CHECKLIST}"
    assert COOKIE_NAME in response.cookies, "a learner without a cookie gets one, as for a quiz answer"
    page = client.get(f"/chapters/{CHAPTER}").text
    assert checked_boxes(page) == [2, 5]
    assert f"2 of {ITEMS} checked" in page
    assert '<label class="checklist-item">' in page and f'action="{URL}"' in page

    assert tick(client).status_code == 303  # nothing ticked: every item unticked
    assert checked_boxes(client.get(f"/chapters/{CHAPTER}").text) == []


def test_htmx_gets_the_count_fragment(client):
    response = tick(client, 1, 2, 3, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert f"3 of {ITEMS} checked" in response.text and "saved with your progress" in response.text
    assert "<form" not in response.text, "only the status line is swapped: focus stays on the box"
    untick = tick(client, 1, 3, headers={"HX-Request": "true"})
    assert f"2 of {ITEMS} checked" in untick.text
    assert checked_boxes(client.get(f"/chapters/{CHAPTER}").text) == [1, 3]


@pytest.mark.parametrize("items, shown", [(["0"], "'0'"), ([str(ITEMS + 1)], f"'{ITEMS + 1}'"),
                                          (["x"], "'x'"), (["1", "1"], "names an item twice"),
                                          (["-1"], "'-1'"), (["1" * 80], "...")])
def test_an_item_that_is_not_in_the_checklist_is_a_422_naming_field_value_and_range(client, items, shown):
    response = client.post(URL, data={"item": items})
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "item"]
    assert problem["allowed"] == f"distinct item numbers from 1 to {ITEMS}, each at most once"
    assert shown in problem["msg"]
    htmx = client.post(URL, data={"item": items}, headers={"HX-Request": "true"})
    assert htmx.status_code == 422 and 'role="alert"' in htmx.text and f"1 to {ITEMS}" in htmx.text


def test_an_unknown_chapter_or_checklist_is_a_404_naming_what_exists(client):
    assert client.post(f"/progress/checklist/nope/{CHECKLIST}").status_code == 404
    response = client.post(f"/progress/checklist/{CHAPTER}/nope")
    assert response.status_code == 404 and "['pre-training']" in response.json()["detail"]
    assert client.get(URL).status_code == 405


def test_the_json_twins_show_the_items_and_the_ticks(client):
    tick(client, 4, 9)
    chapter = client.get(f"/api/chapters/{CHAPTER}").json()
    (listed,) = chapter["checklists"]
    assert listed["id"] == CHECKLIST and len(listed["items"]) == ITEMS and listed["action"] == URL
    progress = client.get("/api/progress").json()
    assert progress[CHAPTER]["checklists"] == {CHECKLIST: {"ticked": [4, 9], "items": ITEMS}}
    assert progress["learning-rate"]["checklists"] == {}


def test_reset_export_and_delete_cover_the_ticks(app, client, settings):
    tick(client, 1, 7)
    learner = client.cookies[COOKIE_NAME]
    rows = client.get("/api/progress/export").json()["tables"]["checklist_ticks"]
    assert [(r["learner"], r["chapter"], r["checklist"], r["item"]) for r in rows] == [
        (learner, CHAPTER, CHECKLIST, 1), (learner, CHAPTER, CHECKLIST, 7)]

    assert client.post("/progress/reset", follow_redirects=False).status_code == 303
    assert client.get("/api/progress").json()[CHAPTER]["checklists"][CHECKLIST]["ticked"] == []

    tick(client, 3)
    with TestClient(app) as other:
        other.post(URL, data={"item": "2"})
    assert client.post("/progress/delete", follow_redirects=False).status_code == 303
    with sqlite3.connect(settings.database_path) as conn:
        left = conn.execute("SELECT learner, item FROM checklist_ticks").fetchall()
    assert len(left) == 1 and left[0][0] != learner and left[0][1] == 2, "only the other learner's tick is kept"
