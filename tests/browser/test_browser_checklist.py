"""A real Chromium ticks two checks of chapter 10's pre-training checklist, reloads, and
finds them still ticked and counted."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

CHAPTER = "scale-and-configs"


@pytest.mark.browser
def test_ticks_are_saved_as_they_are_made_and_survive_a_reload(page):
    page.goto(f"/chapters/{CHAPTER}")
    page.wait_for_function("() => window.htmx !== undefined")
    checklist = page.locator("#checklist-pre-training")
    status = checklist.locator(".checklist-status")
    expect(status).to_have_text("0 of 10 checked")

    # by their labels, as a learner (or a screen reader) finds them
    with page.expect_response(lambda r: "/progress/checklist/" in r.url and r.status == 200):
        checklist.get_by_label("A single batch can be overfit").check()
    expect(status).to_contain_text("1 of 10 checked")
    with page.expect_response(lambda r: "/progress/checklist/" in r.url and r.status == 200):
        checklist.get_by_label("Clip at 1.0").check()
    expect(status).to_contain_text("2 of 10 checked")

    page.reload()
    checklist = page.locator("#checklist-pre-training")
    expect(checklist.locator('input[value="2"]')).to_be_checked()
    expect(checklist.locator('input[value="5"]')).to_be_checked()
    expect(checklist.locator("input:checked")).to_have_count(2)
    expect(checklist.locator(".checklist-status")).to_have_text("2 of 10 checked")
