"""A real browser watches the live pages while a real monitor run of the testbed swarm writes the store.

The testbed swarm (libtorrent seeds, a partial seed, a corrupt peer, an aria2 seed; loopback, private
network namespace) is monitored by ``swarmscope monitor`` (a subprocess) while ``swarmscope serve`` (a
subprocess on 127.0.0.1, stopped by its PID) serves the same SQLite file, and Debian's chromium (Playwright,
``executable_path``; nothing downloaded) keeps the overview open: its table must fill in by htmx polling,
with no page reload. Afterwards a peer whose client string is HTML with script is written (sealed, as the
writer seals) and must show up as text on the live page, running nothing. Screenshots go to
tests/web/artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from swarmscope.evidence.records import Tier
from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from swarmscope.testbed.swarm import start_swarm
from swarmscope.web import accounts
from tests.e2e.monitor_cli import monitor_command
from tests.web.conftest import PASSWORD
from tests.web.monitoring_world import probe, writer_store
from tests.web.test_browser import CHROMIUM, _free_port, _wait_for

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
HOSTILE = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
DURATION = 25.0  # seconds the monitor runs
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [
    pytest.mark.netns,
    pytest.mark.realclients,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]


def _stop(process: subprocess.Popen[Any]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serving(db: Path, log_path: Path) -> Iterator[str]:
    """``swarmscope serve --db db`` on a free loopback port (output to ``log_path``); its URL, once it
    answers; stopped by its PID afterwards."""
    port = _free_port()
    with log_path.open("wb") as log:
        command = [sys.executable, "-m", "swarmscope.cli", "serve", "--db", str(db), "--port", str(port)]
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for(url, server)
            yield url
        finally:
            _stop(server)


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """An empty store with a viewer, served by ``swarmscope serve`` on a free loopback port."""
    db = tmp_path / "live.db"
    key = load_or_create_node_key(default_key_path(str(db)))  # the accounts are sealed with it
    store = open_store(str(db), node_key=key, now_us=1_765_000_000_000_000)
    try:
        accounts.add_user(store, "viewer", "viewer", None, PASSWORD, 1_765_000_000_000_000)
    finally:
        store.close()
    with serving(db, tmp_path / "serve.log") as url:
        yield db, url


def _peers_shown(page: Any) -> int:
    cells = page.locator("tr.swarm td.peers")
    return int(cells.first.inner_text()) if cells.count() else 0


def _wait_until(check: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def test_live_page_fills_in_while_a_real_monitor_writes(
    netns: bool, console: tuple[Path, str], tmp_path: Path
) -> None:
    db, url = console
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with start_swarm(tmp_path / "swarm", monitor_ip="127.0.0.1") as swarm, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{url}/swarms")
            page.fill("input[name=name]", "viewer")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{url}/swarms")
            page.evaluate("window.stayed = 'same document'")  # gone if the page ever reloads
            monitor = subprocess.Popen(monitor_command(swarm.torrent_path, db, "127.0.0.1", DURATION),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
            try:
                assert _wait_until(lambda: _peers_shown(page) >= 3, DURATION + 30), (
                    "the table never filled in"
                )
                page.screenshot(path=str(ARTIFACTS / "live-overview-running.png"), full_page=True)
            finally:
                assert monitor.wait(timeout=DURATION + 90) == 0, (
                    monitor.stderr.read() if monitor.stderr else ""
                )
            assert _wait_until(lambda: int(page.inner_text("tr.swarm td.verified")) >= 1, 20)
            assert page.evaluate("window.stayed") == "same document"
            before = _peers_shown(page)
            _hostile_peer(db, swarm.infohash_hex)
            assert _wait_until(lambda: _peers_shown(page) == before + 1, 20), "the new peer never showed"
            assert page.evaluate("window.stayed") == "same document"
            page.goto(f"{url}/swarms/{swarm.infohash_hex}?client={_quote(HOSTILE)}")
            assert page.locator("td.client").first.inner_text() == HOSTILE  # shown as text
            page.screenshot(path=str(ARTIFACTS / "live-swarm-hostile-client.png"), full_page=True)
            page.goto(f"{url}/swarms/{swarm.infohash_hex}?tier=verified")
            page.screenshot(path=str(ARTIFACTS / "live-swarm.png"), full_page=True)
            page.click("tr.peer a")
            page.wait_for_selector("table.evidence")
            assert page.locator("table.evidence tr.observation").count() >= 1  # proven under the key file
            page.screenshot(path=str(ARTIFACTS / "live-peer.png"), full_page=True)
            assert page.evaluate("typeof window.pwned") == "undefined"
        finally:
            browser.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _hostile_peer(db: Path, infohash: str) -> None:
    """A sealed probe of one more address whose client string is HTML with script (as a peer may send)."""
    store = writer_store(db, time.time_ns() // 1000)
    try:
        run = store.start_run({}, "0.1.0")
        at = time.time_ns() // 1000 - 5_000_000
        store.add_observations(run, [probe(infohash, "127.0.0.250", at, client=HOSTILE, tier=Tier.CONNECTED)],
                               sealed_at_us=at + 2_000_000)  # fmt: skip
    finally:
        store.close()
