"""Reflected script payloads in a real browser: every value the app echoes (the search query,
the config reader's text, widget parameters in 422s and fragments, chapter URLs, quiz
answers, an exercise's printed output and test messages) comes back as text, and nothing executes.

A payload that ran would set window.__xss, open a dialog, or leave an element carrying the
`data-xss` attribute in the document; the page fixture also fails the test on any CSP
violation (an inline script or handler the policy refused: the escaping failed even if the
policy saved us). Each check also asserts the payload was really echoed, as text, so a
value the app silently dropped cannot pass for one it escaped.
"""
from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit, parse_qs

import pytest

MARK = "data-xss"
pytestmark = pytest.mark.slow  # a real browser, several pages per test (3-7 s each)

PAYLOADS = [  # each at most 40 characters: error messages echo that much of a value intact
    "<script data-xss>window.__xss=1</script>",
    '"><img src=x data-xss onerror=alert(2)>',
    "'><svg data-xss onload=alert(3)>",
    "</textarea><b data-xss>4</b>",
]
PATH_PAYLOADS = [p for p in PAYLOADS if "/" not in p]  # a "/" would make another path
STATE = """() => ({
  xss: typeof window.__xss,
  marked: document.querySelectorAll("[data-xss]").length,
  text: document.documentElement.textContent + " " + document.title,
})"""


@pytest.fixture
def watched(page):
    """The page, with every dialog recorded (and dismissed) and 4xx loads tolerated in the
    console: these tests ask for 404s and 422s on purpose."""
    page.dialogs = []

    def on_dialog(dialog):
        page.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return page


def assert_inert(page, where: str, within: str | None = None):
    """Nothing ran, and the payload's marker is in the page as text (in `within`, when given)."""
    state = page.evaluate(STATE)
    assert state["xss"] == "undefined", (where, "a payload's script ran")
    assert state["marked"] == 0, (where, "a payload's markup became an element")
    assert not page.dialogs, (where, page.dialogs)
    text = page.locator(within).first.text_content() if within else state["text"]
    assert MARK in text, (where, "the value was not echoed at all", text[:300])
    page.console_errors[:] = [e for e in page.console_errors
                              if "the server responded with a status of 4" not in e]


def test_search_queries_are_echoed_as_text(watched):
    page = watched
    for payload in PAYLOADS:
        for q in (payload, "warmup " + payload):  # no hit, and hits with highlighted snippets
            page.goto("/search?" + urlencode({"q": q}))
            assert_inert(page, f"/search?q={q}", "main")
        page.fill("#header-q", payload)  # the header box: an htmx fragment swapped in
        page.wait_for_function(f"""() => document.querySelector("#header-search-results")
                                          .textContent.includes("{MARK}")""")
        assert_inert(page, f"header search {payload}", "#header-search-results")


def test_widget_parameters_in_422s_and_fragments_are_text(watched):
    page = watched
    for payload in PAYLOADS:
        page.goto("/widgets/lr-schedule/demo?" + urlencode({"lr-schedule.total": payload}))
        assert_inert(page, "a link's bad value, noted on the page", ".widget-note")
        for url in ("/widgets/lr-schedule?" + urlencode({"instance": "lr-schedule", "total": payload}),
                    "/widgets/lr-schedule?" + urlencode({"instance": payload, "family": payload}),
                    "/api/widgets/lr-schedule?" + urlencode({"family": payload})):
            response = page.goto(url)
            assert response.status == 422, url
            assert_inert(page, url)

    # the widget shows the stream's 422 message as its alert: a select given the payload as its value
    page.goto("/widgets/lr-schedule/demo")
    for payload in PAYLOADS:
        page.evaluate("""(payload) => {
            const select = document.querySelector("#lr-schedule select[name=family]");
            select.append(new Option("x", payload, true, true));
            select.dispatchEvent(new Event("change", {bubbles: true}));
        }""", payload)
        page.wait_for_function("""(payload) => {
            const error = document.querySelector("#lr-schedule-result [role=alert]:not([hidden])");
            return error && error.textContent.includes(payload.slice(0, 20));
        }""", arg=payload)
        assert_inert(page, f"the stream's 422 for family={payload}", "#lr-schedule-result")


CONFIG = "\n".join([
    "lr: 3e-4",
    *[f'"{p}": 1' for p in PAYLOADS],
    *[f"{key}: '{p}'" for key, p in zip(("warmup_steps", "weight_decay", "batch_size", "grad_clip"), PAYLOADS)],
])


def page_config_in_url(page) -> str | None:
    values = parse_qs(urlsplit(page.url).query).get("config-reader.config")
    return values[0] if values else None


def test_config_text_is_shown_as_text_and_the_url_keeps_only_what_fits(watched):
    page = watched
    page.goto("/widgets/config-reader/demo")
    page.fill("#config-reader-config", CONFIG)  # the form posts it (htmx, after a pause)
    page.wait_for_function(f"""() => {{
        const result = document.querySelector("#config-reader-result");
        return result && result.textContent.includes("{MARK}") && result.querySelector("table");
    }}""")
    page.wait_for_selector("#config-reader-chart .main-svg")  # Plotly drew the payloads as labels
    assert_inert(page, "the config reader's result", "#config-reader-result")
    assert page_config_in_url(page) == CONFIG, "short text: the page URL keeps it"

    reloaded = page.reload()  # the link reopens the same text, from the URL
    assert reloaded.status == 200
    assert page.input_value("#config-reader-config") == CONFIG
    page.wait_for_function(f"""() => document.querySelector("#config-reader-result table")
                                      && document.querySelector("#config-reader-result").textContent.includes("{MARK}")""")
    assert_inert(page, "the reloaded link", "#config-reader-result")

    long_text = CONFIG + "\n" + "\n".join(f"# padding line {i:04d} " + "x" * 40 for i in range(40))
    assert 1000 < len(long_text) < 20_000
    page.fill("#config-reader-config", long_text)
    page.wait_for_function("""() => !new URL(location.href).searchParams.has("config-reader.config")""")
    page.wait_for_function(f"""() => document.querySelector("#config-reader-result")
                                      .textContent.includes("padding line 0039")""")
    assert_inert(page, "long config text", "#config-reader-result")
    assert page_config_in_url(page) is None, "long text is left out of the URL (the form posts it)"
    permalink = page.get_attribute("#config-reader [data-permalink]", "href")
    assert "config-reader.config" not in permalink and len(permalink) < 2000
    reloaded = page.reload()
    assert reloaded.status == 200, "a reload of the page after long text works"


def test_chapter_urls_and_quiz_answers_are_echoed_as_text(watched):
    page = watched
    for payload in PATH_PAYLOADS:
        response = page.goto("/chapters/" + quote(payload, safe=""))
        assert response.status == 404
        assert_inert(page, f"/chapters/{payload}", "main")

    page.goto("/chapters/learning-rate?" + urlencode({"warmup.layout": PAYLOADS[0], "x": PAYLOADS[1]})
              + "#" + quote(PAYLOADS[2]))
    assert_inert(page, "a chapter link's bad widget value", "#warmup .widget-note")

    for payload in PAYLOADS:  # htmx posts the answer and swaps the 422 in place
        page.evaluate("""(payload) => {
            const radio = document.querySelector("#quiz-lr-meaning input[name=choice]");
            radio.value = payload;
            radio.checked = true;
            document.querySelector("#quiz-lr-meaning button[type=submit]").click();
        }""", payload)
        page.wait_for_function("""(payload) => {
            const area = document.querySelector("#quiz-lr-meaning-feedback");
            return area.textContent.includes(payload.slice(0, 20));
        }""", arg=payload)
        assert_inert(page, f"htmx quiz answer {payload}", "#quiz-lr-meaning-feedback")

    for payload in PAYLOADS:  # a plain form post (no JavaScript): the 422 is a whole page
        page.goto("/glossary")
        with page.expect_navigation():
            page.evaluate("""(payload) => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = "/quiz/learning-rate/lr-meaning";
                form.append(Object.assign(document.createElement("input"), {name: "choice", value: payload}));
                document.body.append(form);
                form.submit();
            }""", payload)
        assert_inert(page, f"plain quiz answer {payload}", "main")


def test_exercise_output_and_test_messages_are_text(watched):
    """A learner's printed output and the messages their code's errors produce come back in the
    results fragment; a payload in either is shown, never run."""
    from app.course.exercises import load_exercises
    from app.exercises.sandbox import bwrap_works
    from app.settings import Settings

    if not bwrap_works()[0]:
        pytest.skip("bwrap cannot run here: no exercise is graded")
    exercise = load_exercises(Settings().content_dir)["clip-grad-norm"]
    page = watched
    code = "".join(f"print({p!r})\n" for p in PAYLOADS) + (
        "def clip_grad_norm_(parameters, max_norm):\n"
        f"    raise ValueError({' '.join(PAYLOADS)!r})\n")
    page.goto(f"/chapters/{exercise.chapter}#exercise-{exercise.id}")
    page.wait_for_function("() => window.htmx !== undefined")
    section = page.locator(f"#exercise-{exercise.id}")
    section.locator(".cm-editor .cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(code)
    section.get_by_role("button", name="Run the tests").click()
    page.wait_for_selector(f"#exercise-{exercise.id} .exercise-result[data-passed='false']", timeout=90_000)
    page.locator(f"#exercise-{exercise.id} .exercise-stdout summary").click()
    assert_inert(page, "what the code printed", f"#exercise-{exercise.id} .exercise-stdout")
    assert_inert(page, "a test's message", f"#exercise-{exercise.id} .test-message")
