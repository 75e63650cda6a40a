"""A real browser against ``swarmscope serve``: log in per role, approve a letter, screenshots.

Playwright's sync API drives Debian's chromium (``executable_path``; nothing is downloaded) against the
console started as a subprocess on 127.0.0.1 (stopped by its PID) over the letters world's database.
Screenshots go to tests/web/artifacts/ (gitignored). W2's live-page test covers the monitor side.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from swarmscope.cases.directory import add_work
from swarmscope.cases.letter_flow import draft_letters
from swarmscope.store.access import users as user_store
from swarmscope.store.legal import case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.web import accounts
from tests.cases.evidence import node_key_for
from tests.cli.letter_world import SETTINGS, T0, World, build_world
from tests.web.conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
HOSTILE_CLIENT = "<script>window.pwned = 1; alert('client')</script>"
HOSTILE_TITLE = '"><img src=x onerror="window.pwned = 2; alert(2)">'
ROLES = {"viewer": "viewer", "analyst": "analyst", "counsel": "counsel", "admin": "admin"}
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[World, str]]:
    """The letters world with a drafted letter for DOE-000001 and a user per role, under ``serve``."""
    world = build_world(tmp_path)
    try:
        draft_letters(world.store, SETTINGS, [world.dois[0]], "counsel", T0)
        for name, role in ROLES.items():
            accounts.add_user(world.store, name, role, None, PASSWORD, T0)
        add_work(world.store, HOSTILE_CLIENT, HOSTILE_TITLE, None, None, None, T0)
    finally:
        world.store.close()
    port = _free_port()
    command = [sys.executable, "-m", "swarmscope.cli", "serve", "--db", str(world.db), "--port", str(port),
               "--identity-key", str(world.key_file)]  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url, server)
        from swarmscope.store.database import open_store

        # with the node key: the test disables a user, an account change sealed in the chain
        world.store = open_store(str(world.db), create=False, node_key=node_key_for(world.db), now_us=T0)
        yield world, url
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        world.store.close()


def _wait_for(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, "swarmscope serve exited"
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("swarmscope serve did not answer within 60 s")


def _log_in(page: object, url: str, name: str) -> None:
    page.goto(f"{url}/cases")  # type: ignore[attr-defined]
    page.fill("input[name=name]", name)  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(f"{url}/cases")  # type: ignore[attr-defined]


def _hostile_names_stay_text(browser: object, url: str) -> None:
    """A rights holder and a work named with HTML and script show as text; no script runs."""
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _log_in(page, url, "admin")
    page.goto(f"{url}/works")
    page.wait_for_load_state("load")
    assert HOSTILE_CLIENT in page.inner_text("main") and HOSTILE_TITLE in page.inner_text("main")
    assert page.evaluate("window.pwned === undefined") and dialogs == []
    page.screenshot(path=str(ARTIFACTS / "works-hostile-names.png"), full_page=True)
    context.close()


def _an_ended_session_leaves_the_live_page(browser: object, world: World, url: str) -> None:
    """A wall screen on the live page whose user is disabled goes to the login page by itself (its htmx
    poll answered 401 with HX-Redirect) rather than freezing on its last numbers."""
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    _log_in(page, url, "viewer")
    page.goto(f"{url}/swarms")
    page.wait_for_selector("#swarms-live")
    user_store.disable_user(world.store, "viewer", T0)
    page.wait_for_url(f"{url}/login?next=/swarms", timeout=15_000)  # polls every 2 s
    assert page.locator("input[name=password]").count() == 1
    context.close()


def test_log_in_per_role_and_approve_a_letter(served: tuple[World, str]) -> None:
    world, url = served
    doe = world.dois[0]
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            for name in ROLES:
                context = browser.new_context()
                page = context.new_page()
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                _log_in(page, url, name)
                assert page.locator("section[aria-label=disclosed] li").count() == 2
                assert page.locator("section[aria-label=drafted] li").inner_text().startswith(doe)
                page.screenshot(path=str(ARTIFACTS / f"board-{name}.png"), full_page=True)
                context.close()
            _hostile_names_stay_text(browser, url)
            context = browser.new_context()
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("dialog", lambda dialog: dialog.accept())  # data-confirm asks before approving
            _log_in(page, url, "counsel")
            page.goto(f"{url}/cases/{doe}/letter")
            digest = page.inner_text("#digest").strip()
            page.screenshot(path=str(ARTIFACTS / "letter-preview.png"), full_page=True)
            page.click("#approve")
            page.wait_for_url(f"{url}/cases/{doe}?approved=*")
            assert "approved" in page.inner_text("h1")
            page.screenshot(path=str(ARTIFACTS / "letter-approved.png"), full_page=True)
            context.close()
            _an_ended_session_leaves_the_live_page(browser, world, url)
        finally:
            browser.close()
    case = case_status.get_case(world.store, doe)
    row = letter_store.list_letters(world.store, case_id=case.id)[-1]
    assert (case.status, row.approved_by, row.approved_sha256) == ("approved", "counsel", digest)
    assert not [e for e in errors if "Content Security Policy" in e], errors  # htmx and app.js obey the CSP
