"""The timeline page and the dataset card in a real headless Chromium (Debian's ``chromium`` through Playwright's
Python API): no console error, no request leaves the machine, every event is in the DOM, hovering an event shows its
hours. Screenshots go to the test's folder, and to docs/img when CTS_UPDATE_SCREENSHOTS=1."""

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from cts.data.timelines import format_hours
from cts.reports.card import write_stats
from cts.reports.timeline import admission_events, write_timeline

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CTS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH (Debian: apt-get install chromium; "
                                                         "or set CTS_CHROMIUM=/path/to/chromium)")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])  # root in containers
        yield browser
        browser.close()


def open_offline(browser, path: Path):
    """The page at ``path`` with every request but the file itself refused and recorded, and console errors kept."""
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    outside, errors = [], []

    def refuse(route):
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", refuse)
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, outside, errors


def _screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    if os.environ.get("CTS_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(path, ROOT / "docs" / "img" / name)
    return path


def test_timeline_page_offline_with_every_event_and_hover_hours(browser, demo_dir, tmp_path):
    events_path = demo_dir / "events_normalized.parquet"
    hadm_id = int(pd.read_parquet(events_path)["hadm_id"].iloc[0])
    events = admission_events(events_path, hadm_id)
    page_path = write_timeline(events_path, hadm_id, tmp_path / "timeline.html", notes=demo_dir / "notes.csv.gz")
    page, outside, errors = open_offline(browser, page_path)
    shown = page.locator(".timeline .event").all_inner_texts()
    assert sorted(shown) == sorted(event for event, _ in events) and len(shown) == len(events)
    marks = page.locator("mark")
    assert marks.count() > 0  # the words each event was taken from are highlighted in the note
    marks.first.hover()  # ... and say which event and when
    assert page.locator("#tip").is_visible() and page.locator("#tip").inner_text().endswith(" h")
    event, hours = max(events, key=lambda e: abs(e[1]))  # one far from admission
    index = [e for e, _ in sorted(events, key=lambda e: e[1])].index(event)
    page.hover(f"#event-{index}")
    tip = page.locator("#tip")
    assert tip.is_visible() and f"{format_hours(hours)} h" in tip.inner_text() and event in tip.inner_text()
    _screenshot(page, tmp_path, "timeline_page.png")
    assert not outside, f"requests left the machine: {outside}"
    assert not errors, f"console errors: {errors}"


def test_dataset_card_page_offline_with_every_top_event(browser, demo_dir, tmp_path):
    stats = write_stats(demo_dir / "events_normalized.parquet", tmp_path / "card")
    page, outside, errors = open_offline(browser, tmp_path / "card" / "card.html")
    text = page.locator("body").inner_text()
    assert all(event in text for event in stats["top_events"])
    assert "synthetic demo" in text
    images = page.locator("img")
    assert images.count() == 6 and all(images.nth(i).evaluate("img => img.naturalWidth > 100")
                                       for i in range(images.count()))  # every inlined PNG decodes
    _screenshot(page, tmp_path, "card_page.png")
    assert not outside, f"requests left the machine: {outside}"
    assert not errors, f"console errors: {errors}"


def test_a_page_that_reaches_out_is_caught(browser, tmp_path):
    """The guard itself: a page loading a remote script and logging an error is reported, not passed."""
    page_path = tmp_path / "leaky.html"
    page_path.write_text('<html><body><img src="https://example.org/x.png"><script>console.error("boom")</script>'
                         "</body></html>")
    page, outside, errors = open_offline(browser, page_path)
    assert outside == ["https://example.org/x.png"] and any("boom" in e for e in errors)
