"""A lone surrogate in a JSON string is bad input (400, one line), never a 500.

JSON may escape a lone UTF-16 surrogate (``"\\ud800"``; RFC 8259 section 8.2 calls such strings
unpredictable), and Python's ``json`` decodes it to a ``str`` that no UTF-8 database driver can encode:
SQLite's and psycopg's both raise ``UnicodeEncodeError``. The control-character guard
(``web/input_guard.py``) reads every JSON string but refuses only C0 controls and DEL; the dispute and
payment texts check bidi and zero-width characters, not surrogates.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmscope.store.legal import case_status
from tests.cli.letter_world import T0, draft_approve, send
from tests.web.letter_console import Console, ledger_entries


@pytest.mark.xfail(strict=True, reason="a lone surrogate in a dispute summary or payment method is a 500")
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
