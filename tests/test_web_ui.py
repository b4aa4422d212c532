"""The web UI in real headless Chromium (Debian's chromium, driven by Playwright), on a real server."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from askspark import api
from askspark.settings import Settings
from live_server import LiveServer, script, sql

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
IMAGES = Path(__file__).parent.parent / "docs" / "images"
SCREENSHOT = IMAGES / "web-ui.png"
HOSTILE = "<img src=x onerror=alert(1)>"
PEOPLE_CSV = f"name,note,amount\nAda,{HOSTILE},30\nGrace,**bold** text,20\nLinus,plain,10\n"


@pytest.fixture(scope="module")
def ui_server(
    settings: Settings, engine: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """No token (loopback); a 2-row limit so the result is truncated; a model that needs two attempts."""
    model = script(
        tmp_path_factory.mktemp("ui") / "ui.json",
        [
            sql("SELECT name, notes FROM people"),  # wrong column: the repair loop shows two attempts
            sql("SELECT name, note, amount FROM people ORDER BY amount DESC"),
        ],
    )
    server = LiveServer(settings.model_copy(update={"model": model, "row_limit": 2}))
    yield server
    server.stop()


def test_upload_ask_watch_edit_rerun(ui_server: LiveServer, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: bash scripts/setup.sh --dev installs it")
    from playwright.sync_api import expect, sync_playwright

    csv = tmp_path / "people.csv"
    csv.write_text(PEOPLE_CSV)
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(ui_server.url)
        expect(page.locator("#databases")).to_contain_text("northwind")

        page.set_input_files("#upload-file", str(csv))
        page.click("#upload-form button")
        expect(page.locator("#upload-status")).to_contain_text("uploads.people: 3 rows")
        expect(page.locator("#selected")).to_have_text("uploads.people")
        page.get_by_role("button", name="people", exact=True).click()
        expect(page.locator("#sample td", has_text=HOSTILE)).to_have_count(1)

        page.fill("#question", "Who has the largest amounts, with their notes?")
        page.click("#ask-button")
        expect(page.locator("#run-status")).to_have_text("succeeded", timeout=120_000)
        attempts = page.locator("#attempts > li")
        expect(attempts).to_have_count(2)
        expect(attempts.nth(0)).to_contain_text("unresolved_column")
        expect(attempts.nth(1)).to_contain_text("ok after execute")
        expect(page.locator("#result td", has_text=HOSTILE)).to_have_count(1)  # shown as text
        expect(page.locator("#truncated")).to_be_visible()
        expect(page.locator("#downloads a")).to_have_count(2)
        expect(page.locator("#turn-actions button.download-csv")).to_have_text("Download shown rows (CSV)")
        first_run = page.locator("#run-id").text_content()

        page.click("#code-box > summary")  # the code is collapsed by default
        expect(page.locator("#code")).to_be_visible()
        code = page.locator("#code").input_value()
        assert "ORDER BY amount DESC" in code
        page.fill("#code", code.replace("ORDER BY amount DESC", "WHERE amount < 25 ORDER BY amount"))
        page.click("#rerun")
        expect(page.locator("#run-id")).not_to_have_text(first_run or "")
        expect(page.locator("#run-status")).to_have_text("succeeded", timeout=120_000)
        expect(page.locator("#notices")).to_contain_text(f"edited code from run {first_run}")
        rows = page.locator("#result tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("Linus")
        expect(page.locator("#runs li")).not_to_have_count(0)

        # Back to the first run to picture the whole flow: two attempts, a truncated hostile-looking result.
        page.locator(f'#runs button[title^="{first_run}"]').click()
        expect(page.locator("#run-id")).to_have_text(first_run or "")
        expect(page.locator("#result td", has_text=HOSTILE)).to_have_count(1)
        assert page.locator("#result img, #sample img").count() == 0
        assert page.evaluate("document.querySelectorAll('img').length") == 0
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        browser.close()
    assert dialogs == []  # nothing from the data ran


STAFF_CSV = f"name,team,amount\nAda,core,30\n{HOSTILE},ops,20\nLinus,core,10\n"
TOTAL_SQL = "SELECT SUM(amount) AS total_amount FROM staff"
FIRST = "Who has the largest amount?"
OTHER = "other reading: 2 rows, first: name=Ada, amount=30"
STAFF_ROWS = [["name", "amount"], ["Ada", "30"], [HOSTILE, "20"], ["Linus", "10"]]


@pytest.fixture(scope="module")
def thread_server(
    settings: Settings, engine: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A model that writes two candidate codes and then the answer's sentences (written_answer on), for
    two questions: the first question's candidates disagree (1 of 2: another reading), the second's agree."""
    model = script(
        tmp_path_factory.mktemp("thread") / "thread.json",
        [
            sql("SELECT name, amount FROM staff ORDER BY amount DESC"),
            sql("SELECT name, amount FROM staff WHERE team = 'core' ORDER BY amount DESC"),
            "Ada has the largest amount, 30, of the 3 people.",
            sql(TOTAL_SQL),
            sql(TOTAL_SQL),
            "The total amount is 75.",  # wrong (it is 60): the deterministic summary is shown instead
        ],
    )
    update = {"model": model, "written_answer": True, "candidates": 2}
    server = LiveServer(settings.model_copy(update=update))
    yield server
    server.stop()
    store = api.store_for(settings)
    for verified in store.verified():  # the test's "this is right": no other test sees it
        if any(t.endswith("uploads.staff") for t in verified.tables):
            store.unverify(verified.run_id)


def test_thread_of_answers_with_a_chart(
    thread_server: LiveServer, settings: Settings, tmp_path: Path
) -> None:
    """Two questions in one thread, the second a follow-up: a bar chart drawn as SVG (a hostile name is a
    label, as text), the model's grounded sentence and its candidates' agreement with the other reading,
    then a single value shown big; code expands; "this is right" (by keyboard) is recorded in the store;
    copy and download give the answer's text, code and rows; screenshots at two widths."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: bash scripts/setup.sh --dev installs it")
    from playwright.sync_api import expect, sync_playwright

    csv_file = tmp_path / "staff.csv"
    csv_file.write_text(STAFF_CSV)
    dialogs: list[str] = []
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=thread_server.url)
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        # Errors in the console (a CSP violation, a script error); the browser's own favicon request is
        # the one 404 expected.
        page.on(
            "console",
            lambda m: problems.append(m.text) if m.type == "error" and "404" not in m.text else None,
        )
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(thread_server.url)
        page.set_input_files("#upload-file", str(csv_file))
        page.click("#upload-form button")
        expect(page.locator("#selected")).to_have_text("uploads.staff")

        page.fill("#question", FIRST)
        page.press("#question", "Control+Enter")  # the keyboard asks
        expect(page.locator("#run-status")).to_have_text("succeeded", timeout=120_000)
        expect(page.locator("#summary")).to_have_text("Ada has the largest amount, 30, of the 3 people.")
        expect(page.locator("#summary-source")).to_contain_text("Written by the model")
        svg = page.locator("#chart svg")
        expect(svg).to_have_count(1)
        expect(page.locator("#chart")).to_have_attribute("aria-label", "bar chart of amount by name")
        label = page.locator("#chart svg text", has_text="<img src=x")
        expect(label).to_have_count(1)  # a label, drawn as text
        expect(page.locator("#result td.num").first).to_have_text("30")
        expect(page.locator("#result th").first).to_have_attribute("title", "type: string")
        expect(page.locator("#confidence")).to_have_text(f"Confidence: 1 of 2 readings agree — {OTHER}")
        expect(page.locator("#notices")).not_to_contain_text("readings agree")  # said once, above
        other = page.locator("#alternatives > details > summary")
        expect(other).to_have_text("Other reading 1 (1 reading): 2 rows, first: name=Ada, amount=30")
        expect(page.locator("#code")).to_be_hidden()
        page.click("#code-box > summary")
        expect(page.locator("#code")).to_be_visible()
        first_run = page.locator("#run-id").text_content() or ""

        page.locator("#turn-actions button.follow").click()  # the next question follows this answer
        expect(page.locator("#follow-up")).to_have_text(f"Follow-up to: “{FIRST}” New question")
        expect(page.locator("#question")).to_be_focused()
        page.keyboard.press("Escape")  # not a follow-up after all
        expect(page.locator("#follow-up")).to_be_hidden()
        page.locator("#turn-actions button.follow").click()
        page.keyboard.type("What is the total amount?")
        page.click("#ask-button")
        expect(page.locator("#run-question")).to_have_text("What is the total amount?")  # the new run
        expect(page.locator("#run-status")).to_have_text("succeeded", timeout=120_000)
        expect(page.locator("#big-number")).to_have_text("60")
        expect(page.locator("#summary-source")).to_contain_text("from the result")
        expect(page.locator("#notices")).to_contain_text("not in the result: 75")
        expect(page.locator("#follow-of")).to_have_text(f"↳ follow-up to “{FIRST}”")
        expect(page.locator("#confidence")).to_have_text("Confidence: 2 of 2 readings agree")
        second_run = page.locator("#run-id").text_content() or ""
        with httpx.Client(base_url=thread_server.url, timeout=30) as client:
            second = client.get(f"/v1/runs/{second_run}").json()
        assert second["follow_up_of"] == first_run and second["conversation_id"] == first_run

        turns = page.locator("#thread > li")
        expect(turns).to_have_count(1)  # the first answer, now a card in the thread above
        first = turns.nth(0)
        expect(first).to_contain_text(FIRST)
        expect(first.locator(".chart svg text", has_text="<img src=x")).to_have_count(1)
        expect(first.locator(".confidence")).to_have_text(f"Confidence: 1 of 2 readings agree — {OTHER}")
        expect(first.locator(".alternative")).to_have_count(1)
        expect(first.locator(".code-box pre")).to_be_hidden()
        first.locator(".code-box > summary").click()
        expect(first.locator(".code-box pre")).to_contain_text("ORDER BY amount DESC")

        # "This is right" by keyboard: Tab from "Follow up" to it (focus visible), Enter presses it.
        actions = first.get_by_role("group", name=f"Actions for “{FIRST}”")
        actions.locator("button.follow").focus()
        page.keyboard.press("Tab")
        focused = "document.activeElement.matches('button.verify:focus-visible') && "
        assert page.evaluate(f"{focused}getComputedStyle(document.activeElement).outlineStyle === 'solid'")
        page.keyboard.press("Enter")
        expect(actions.get_by_role("button", name="✓ Verified (undo)", pressed=True)).to_have_count(1)
        expect(actions.get_by_role("status")).to_contain_text("Recorded as a verified answer")
        assert first_run in [v.run_id for v in api.store_for(settings).verified()]
        with httpx.Client(base_url=thread_server.url, timeout=30) as client:
            assert client.get(f"/v1/runs/{first_run}/verify").json()["verified"] is True
        page.keyboard.press("Enter")  # pressed again: taken back
        expect(actions.get_by_role("button", name="This is right", pressed=False)).to_have_count(1)
        expect(actions.get_by_role("status")).to_have_text("No longer a verified answer.")
        assert first_run not in [v.run_id for v in api.store_for(settings).verified()]
        page.keyboard.press("Enter")  # and verified again, for the screenshots
        expect(actions.get_by_role("button", name="✓ Verified (undo)", pressed=True)).to_have_count(1)

        actions.locator("button.copy-answer").click()
        expect(actions.get_by_role("status")).to_have_text("copied the answer")  # the clipboard is written
        assert (
            page.evaluate("navigator.clipboard.readText()")
            == "Ada has the largest amount, 30, of the 3 people."
        )
        actions.locator("button.copy-code").click()
        expect(actions.get_by_role("status")).to_have_text("copied the code")
        assert (
            page.evaluate("navigator.clipboard.readText()") == first.locator(".code-box pre").text_content()
        )
        with page.expect_download() as shown:
            actions.locator("button.download-csv").click()  # the rows the page holds
        assert list(csv.reader(io.StringIO(Path(shown.value.path()).read_text()))) == STAFF_ROWS
        with page.expect_download() as full:
            first.locator(".downloads a", has_text="CSV").click()  # the stored full result
        assert list(csv.reader(io.StringIO(Path(full.value.path()).read_text()))) == STAFF_ROWS

        assert page.evaluate("document.querySelectorAll('img').length") == 0
        page.screenshot(path=str(IMAGES / "web-ui-thread-1280.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_function(  # each chart drawn again to fit its box
            "() => [...document.querySelectorAll('.chart')].every(b => !b.querySelector('svg') || "
            "b.querySelector('svg').getBoundingClientRect().width <= b.clientWidth + 1)"
        )
        page.locator("#run").scroll_into_view_if_needed()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling
        page.screenshot(path=str(IMAGES / "web-ui-thread-390.png"), full_page=True)
        browser.close()
    assert dialogs == [] and problems == []  # nothing from the data ran; no CSP violation, no error
