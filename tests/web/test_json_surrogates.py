"""A lone surrogate in a JSON string is bad input (400, one line), never a 500.

JSON may escape a lone UTF-16 surrogate (``"\\ud800"``; RFC 8259 section 8.2 calls such strings
unpredictable), and Python's ``json`` decodes it to a ``str`` that no UTF-8 database driver can encode:
SQLite's and psycopg's both raise ``UnicodeEncodeError``. The guard that reads every JSON string before
any route (``web/input_guard.py``) refuses one, naming the field.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmscope.store.legal import case_status
from swarmscope.web.input_guard import refusal
from tests.cli.letter_world import T0, draft_approve, send
from tests.web.letter_console import Console, ledger_entries


async def test_a_lone_surrogate_in_a_json_text_is_400(console: Console, tmp_path: Path) -> None:
    paid, disputed = console.world.dois[0], console.world.dois[1]
    draft_approve(console.world, paid)
    reference = send(console.world, paid, None, tmp_path / "out", T0 + 2).letter.payment_reference
    draft_approve(console.world, disputed)
    send(console.world, disputed, None, tmp_path / "out2", T0 + 3)
    counsel = console["counsel"]
    headers = {"x-csrf-token": counsel.csrf, "content-type": "application/json"}  # type: ignore[attr-defined]
    before = ledger_entries(console)
    bodies = [
        (f"/api/cases/{disputed}/dispute", '{"summary": "not me \\ud800"}'),
        (f"/api/cases/{paid}/payment", f'{{"amount": "1", "reference": "{reference}", "method": "\\udfff"}}'),
    ]
    answers = [await counsel.post(path, content=body.encode(), headers=headers) for path, body in bodies]
    assert ledger_entries(console) == before
    assert case_status.get_case(console.world.store, disputed).status == "sent"
    assert [a.status_code for a in answers] == [400, 400], [a.text for a in answers]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'{"summary": "x\\ud800y"}', "summary: lone surrogate U+D800"),
        (b'{"a": [{"method": "\\udfff"}]}', "a.0.method: lone surrogate U+DFFF"),
        (b'{"\\ud83d": 1}', "key of body: lone surrogate U+D83D"),
        (b'{"note": "tab\\u0001"}', "note: control character U+0001"),
    ],
)
def test_the_refusal_names_the_json_field(body: bytes, named: str) -> None:
    headers = [(b"content-type", b"application/json")]
    reason = refusal({"path": "/api/x", "query_string": b"", "headers": headers}, body)
    assert reason is not None and reason.startswith(named) and "\n" not in reason


def test_a_surrogate_pair_is_one_character_and_passes() -> None:
    """``"\\ud83d\\ude00"`` is a valid pair (RFC 8259 section 7): json joins it into U+1F600."""
    headers = [(b"content-type", b"application/json")]
    body = b'{"summary": "ok \\ud83d\\ude00"}'
    assert refusal({"path": "/api/x", "query_string": b"", "headers": headers}, body) is None
