"""The console's approval refuses, in one line (409), a letter whose payee is empty or is not exactly the
case's rights holder (normalised), as ``letters approve`` does: the same check, one message."""

from __future__ import annotations

from dataclasses import replace

import pytest

from swarmscope.cases import letter_flow
from swarmscope.cases.letter_flow import draft_letters
from swarmscope.store.legal import case_status
from swarmscope.store.legal import letters as letter_store
from tests.cli.letter_world import SETTINGS, T0
from tests.web.letter_console import Console


@pytest.mark.parametrize(
    ("payee", "line"),
    [
        ("", "the letter names no payee; the payee must be the case's rights holder (Example Rights Ltd)"),
        ("Example Rights Ltd (client account)", "the letter's payee is not the case's rights holder "
         "(Example Rights Ltd); draft it with that rights holder's letter settings"),
    ],
)  # fmt: skip
async def test_the_console_refuses_a_letter_without_the_holder_as_payee(
    console: Console, monkeypatch: pytest.MonkeyPatch, payee: str, line: str
) -> None:
    doe = console.world.dois[0]
    with monkeypatch.context() as older:  # drafted by a swarmscope that did not check the payee so
        older.setattr(letter_flow, "require_payee", lambda *_: None)
        draft_letters(console.world.store, replace(SETTINGS, payee=payee), [doe], "counsel", T0)
    counsel = console["counsel"]
    digest = (await counsel.get(f"/api/cases/{doe}/letter")).json()["digest"]
    refused = await counsel.post(f"/api/cases/{doe}/letter/approve", json={"digest": digest},
                                 headers={"x-csrf-token": counsel.csrf})  # type: ignore[attr-defined]  # fmt: skip
    assert (refused.status_code, refused.json()["detail"]) == (409, f"{doe}: {line}")
    page = await counsel.post(f"/cases/{doe}/letter/approve", headers={"accept": "text/html"},
                              data={"digest": digest, "csrf_token": counsel.csrf})  # type: ignore[attr-defined]  # fmt: skip
    assert page.status_code == 409 and line.split(";")[0].replace("'", "&#39;") in page.text
    case = case_status.get_case(console.world.store, doe)
    assert case.status == "drafted" and letter_store.list_letters(console.world.store)[0].approved_us is None
