"""The live tables in a real browser: keyboard focus and a text selection survive the refreshes, an
unchanged answer is not swapped in, and the "Pause live updates" toggle stops the polls (WCAG 2.2.2
Pause, Stop, Hide; 2.4.3 Focus Order).

``swarmscope serve`` (a subprocess on 127.0.0.1, stopped by its PID) serves the monitoring world; Debian's
chromium (Playwright, ``executable_path``; nothing downloaded) opens /swarms (polled every 2 s) and a
swarm's page (numbers every 2 s, peers every 5 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swarmscope.cases.directory import add_work
from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from swarmscope.web import accounts
from tests.web.conftest import ACME, GLOBEX, NOW, PASSWORD
from tests.web.monitoring_world import ACME_SWARM, add_verified, build
from tests.web.test_browser import CHROMIUM
from tests.web.test_live_browser import serving

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
S = 1_000_000


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, int, str]]:
    """The monitoring world with a viewer, under ``swarmscope serve``: (database, run id, URL)."""
    db = tmp_path / "live.db"
    store = open_store(str(db), node_key=load_or_create_node_key(default_key_path(str(db))), now_us=NOW)
    try:
        works = {c: add_work(store, c, f"{c} feature", None, None, None, NOW) for c in (ACME, GLOBEX)}
        accounts.add_user(store, "viewer", "viewer", None, PASSWORD, NOW)
    finally:
        store.close()
    world = build(db, works[ACME], works[GLOBEX], NOW)
    with serving(db, tmp_path / "serve.log") as url:
        yield db, world.run_id, url


def _log_in(page: Any, url: str, target: str) -> None:
    page.goto(f"{url}/login?next={target}")
    page.fill("input[name=name]", "viewer")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}{target}")


def _polls(page: Any, path: str) -> list[str]:
    """The URLs of the requests the page sends to ``path`` from now on (a live list)."""
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if path in request.url else None)
    return sent


def _focus_stays_and_unchanged_answers_are_not_swapped(page: Any, url: str) -> None:
    _log_in(page, url, "/swarms")
    page.evaluate("document.getElementById('swarms-live').dataset.marker = 'first'")
    shown_at = page.inner_text("#swarms-live .as-of")
    polls = _polls(page, "/swarms/live")
    page.wait_for_timeout(4500)  # two polls, nothing changed: the same element stays, its time moves on
    assert len(polls) >= 2
    assert page.evaluate("document.getElementById('swarms-live').dataset.marker") == "first"
    assert page.inner_text("#swarms-live .as-of") != shown_at
    page.focus("#swarms-live tr.swarm a")
    assert "held while the focus is in the table" in page.inner_text(".live-status")
    page.wait_for_timeout(4500)
    assert page.evaluate("document.activeElement.closest('#swarms-live tr.swarm') !== null")
    assert page.evaluate("document.activeElement.getAttribute('href')") == f"/swarms/{ACME_SWARM}"
    page.focus("h1")  # leave the table (h1 is not focusable: the body gets it)
    page.evaluate("document.activeElement.blur()")
    page.evaluate(
        "(() => { const r = document.createRange(); r.selectNodeContents("
        "document.querySelector('#swarms-live tr.swarm a')); getSelection().addRange(r); })()"
    )
    selected = page.evaluate("getSelection().toString()")
    page.wait_for_timeout(4500)
    assert selected and page.evaluate("getSelection().toString()") == selected


def _pause_stops_the_polls_and_resume_brings_new_rows(page: Any, db: Path, run: int) -> None:
    page.evaluate("getSelection().removeAllRanges()")
    toggle = page.locator(".live-toggle")
    toggle.focus()
    page.keyboard.press("Enter")  # keyboard reachable
    assert toggle.get_attribute("aria-pressed") == "true"
    assert "paused" in page.inner_text("[role=status].live-status")
    peers_before = page.inner_text("#swarms-live tr.swarm td.peers")
    add_verified(db, run, "127.0.0.99", NOW + 3600 * S)  # a new peer while paused
    polls = _polls(page, "/swarms/live")
    page.wait_for_timeout(4500)
    assert polls == [] and page.inner_text("#swarms-live tr.swarm td.peers") == peers_before
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-pressed") == "false"
    for _ in range(30):  # the background folder folds the new batch, the next poll shows it
        if page.inner_text("#swarms-live tr.swarm td.peers") != peers_before:
            break
        page.wait_for_timeout(500)
    assert page.inner_text("#swarms-live tr.swarm td.peers") != peers_before and polls


def _peer_focus_survives_the_5s_refresh(page: Any, url: str) -> None:
    page.goto(f"{url}/swarms/{ACME_SWARM}")
    page.focus("#swarm-peers tr.peer a")
    href = page.evaluate("document.activeElement.getAttribute('href')")
    page.wait_for_timeout(11_000)  # two refreshes of the peer table
    assert page.evaluate("document.activeElement.getAttribute('href')") == href


def test_live_tables_keep_focus_selection_and_pause(served: tuple[Path, int, str]) -> None:
    db, run, url = served
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_context().new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            _focus_stays_and_unchanged_answers_are_not_swapped(page, url)
            _pause_stops_the_polls_and_resume_brings_new_rows(page, db, run)
            _peer_focus_survives_the_5s_refresh(page, url)
            assert errors == []
        finally:
            browser.close()
