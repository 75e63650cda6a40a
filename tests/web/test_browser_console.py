"""The console in a real browser (Debian's chromium, as tests/web/test_browser.py drives it) for what a
person sees: a page that does not exist is an HTML page, not a JSON body; a filter given twice is refused
on a page naming it; a session left idle sends the next page to the login form. Walked as counsel and as
a counsel bound to one rights holder."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from swarmscope.net.clock import Clock
from swarmscope.store.access import users as user_store
from swarmscope.store.access.schema import web_session
from swarmscope.web import accounts
from tests.cli.letter_world import T0, World
from tests.web.conftest import PASSWORD
from tests.web.test_browser import ARTIFACTS, CHROMIUM, _log_in, served, sync_api  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
IDLE_US = 31 * 60 * 1_000_000  # past the default 30 minutes of serve --session-idle


def _idle(world: World, name: str) -> None:
    """Age every session of ``name`` past the idle time (its last use, not sealed, moved back)."""
    user = user_store.get_user(world.store, name)
    with world.store.engine.begin() as conn:
        where = web_session.c.user_id == user.id
        conn.execute(sa.update(web_session).where(where).values(last_seen_us=Clock().now_us() - IDLE_US))


def _walk(browser: object, world: World, url: str, name: str) -> None:
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    _log_in(page, url, name)
    assert page.locator("section[aria-label=disclosed] li").count() == 2
    missing = page.goto(f"{url}/no-such-page")
    assert missing is not None and missing.status == 404
    assert page.inner_text("h1") == "404" and page.locator("pre").count() == 0  # not a JSON body
    assert page.locator("a[href='/']").count() >= 1
    page.screenshot(path=str(ARTIFACTS / f"not-found-{name}.png"), full_page=True)
    twice = page.goto(f"{url}/cases?status=sent&status=paid")
    assert twice is not None and twice.status == 422
    assert "status: given 2 times; give it once" in page.inner_text("main")
    case = page.goto(f"{url}/cases/{world.dois[0]}")
    assert case is not None and case.status == 200
    _idle(world, name)
    page.goto(f"{url}/letters")
    page.wait_for_url(f"{url}/login?next=/letters")
    assert page.locator("input[name=password]").count() == 1
    context.close()


def test_not_found_repeated_filters_and_idle_sessions_in_the_browser(
    served: tuple[World, str],  # noqa: F811 (the fixture imported above)
) -> None:
    world, url = served
    accounts.add_user(world.store, "example", "counsel", "Example Rights Ltd", PASSWORD, T0)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            for name in ("counsel", "example"):
                _walk(browser, world, url, name)
        finally:
            browser.close()
