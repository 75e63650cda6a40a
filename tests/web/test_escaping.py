"""Every string from a peer, tracker, torrent or import is escaped: hostile names render as text."""

from __future__ import annotations

from pathlib import Path

from swarmscope.cases.directory import add_work
from swarmscope.cases.letter_flow import draft_letters
from swarmscope.store.legal import case_status
from tests.cli.letter_world import SETTINGS, T0
from tests.web.conftest import NOW, WebWorld
from tests.web.letter_console import open_console

SCRIPT = "<script>alert('client')</script>"
IMG = '"><img src=x onerror=alert(1)>'
HTML = {"accept": "text/html"}


def assert_inert(text: str) -> None:
    assert "<script>alert" not in text and "<img src=x" not in text and "onerror=alert(1)>" not in text


async def test_hostile_client_and_work_names_are_escaped(web: WebWorld) -> None:
    add_work(web.store, SCRIPT, IMG, IMG, None, None, NOW)
    answer = await web.client("admin").get("/works", headers=HTML)
    assert answer.status_code == 200
    assert_inert(answer.text)
    assert "&lt;script&gt;alert(&#39;client&#39;)&lt;/script&gt;" in answer.text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in answer.text
    assert SCRIPT in [w["client"] for w in (await web.client("admin").get("/api/works")).json()]


async def test_hostile_dispute_text_and_error_messages_are_escaped(tmp_path: Path) -> None:
    async for console in open_console(tmp_path):
        doe = console.world.dois[0]
        draft_letters(console.world.store, SETTINGS, [doe], "counsel", T0)
        counsel = console["counsel"]
        csrf = counsel.csrf  # type: ignore[attr-defined]
        data = {"summary": IMG + SCRIPT, "csrf_token": csrf}
        assert (await counsel.post(f"/cases/{doe}/dispute", data=data)).status_code == 303
        page = await counsel.get(f"/cases/{doe}", headers=HTML)
        assert_inert(page.text)
        assert "&lt;script&gt;" in page.text
        error = await counsel.post(f"/cases/{doe}/payment", headers=HTML,
                                   data={"amount": SCRIPT, "reference": IMG, "csrf_token": csrf})  # fmt: skip
        assert error.status_code == 400 and "amount" in error.text  # bad input: 400 (409: workflow refusals)
        assert_inert(error.text)
        assert case_status.get_case(console.world.store, doe).status == "disputed"
