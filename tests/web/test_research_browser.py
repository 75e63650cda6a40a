"""A real browser on the research page of ``swarmscope serve``: an analyst runs an export and sees its plots.

Playwright's sync API drives Debian's chromium (``executable_path``; nothing is downloaded) against the
console started as a subprocess on 127.0.0.1 (stopped by its PID) over the research world of
tests/research/test_research_export.py, whose node key lies beside the database (``serve`` trusts it).
Screenshots go to tests/web/artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from swarmscope.web import accounts
from tests.research.test_research_export import T0, build_world
from tests.web.conftest import PASSWORD
from tests.web.test_browser import ARTIFACTS, CHROMIUM, _free_port, _wait_for

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    db = tmp_path / "evidence.db"
    build_world(db)
    key = load_or_create_node_key(default_key_path(str(db)))  # the world's: its accounts are sealed with it
    with open_store(str(db), create=False, node_key=key, now_us=T0) as store:
        accounts.add_user(store, "analyst", "analyst", None, PASSWORD, T0)
    port = _free_port()
    command = [sys.executable, "-m", "swarmscope.cli", "serve", "--db", str(db), "--port", str(port)]
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url, server)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_an_analyst_exports_and_sees_the_plots(served: str) -> None:
    url = served
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_context().new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{url}/research")
            page.fill("input[name=name]", "analyst")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{url}/research")
            page.fill("input[name=k]", "3")
            page.screenshot(path=str(ARTIFACTS / "research-form.png"), full_page=True)
            page.click("main button[type=submit]")
            page.wait_for_url(f"{url}/research/exports/*")
            images = page.locator("main img")
            assert images.count() == 7
            page.wait_for_load_state("load")
            widths = page.eval_on_selector_all("main img", "imgs => imgs.map(i => i.naturalWidth)")
            assert all(w > 0 for w in widths), widths  # every plot loaded (same origin, under the CSP)
            assert "k = 3" in page.inner_text("main pre") and "10.1.0." not in page.content()
            page.screenshot(path=str(ARTIFACTS / "research-export.png"), full_page=True)
        finally:
            browser.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors
