"""A JSON body behind a UTF-8 byte order mark, or in UTF-16/32, passes the input guard unread.

The guard (``web/input_guard.py``) decodes a JSON body as text and parses it with ``json.loads(str)``,
which refuses a leading U+FEFF ("Unexpected UTF-8 BOM"); it then checks nothing. The route parses the
bytes (``json.loads(bytes)`` detects ``utf-8-sig``, RFC 8259 section 8.1 lets a parser ignore the
BOM), so a lone surrogate behind a BOM reaches the store's encoder: 500, the very answer the guard was
made to replace with a 400 naming the field. A body in UTF-16 or UTF-32 without a BOM is valid UTF-8
(ASCII and NUL bytes), so the guard's UTF-8 check passes it, its ``json.loads(str)`` fails, and the
route's ``json.loads(bytes)`` reads it (``json.detect_encoding``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmscope.store.legal import case_status
from swarmscope.web.input_guard import refusal
from tests.cli.letter_world import T0, draft_approve, send
from tests.web.letter_console import Console, ledger_entries

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize(
    "body",
    [
        BOM + b'{"summary": "x\\ud800"}',
        '{"summary": "x\\ud800"}'.encode("utf-16-le"),  # valid UTF-8 bytes (NULs), json.loads finds UTF-16
        '{"summary": "x\\ud800"}'.encode("utf-32-be"),
    ],
)
def test_the_guard_reads_a_json_body_as_the_route_does(body: bytes) -> None:
    headers = [(b"content-type", b"application/json")]
    assert refusal({"path": "/api/x", "query_string": b"", "headers": headers}, body) is not None


async def test_a_lone_surrogate_behind_a_bom_is_400(console: Console, tmp_path: Path) -> None:
    disputed = console.world.dois[1]
    draft_approve(console.world, disputed)
    send(console.world, disputed, None, tmp_path / "out", T0 + 3)
    counsel = console["counsel"]
    headers = {"x-csrf-token": counsel.csrf, "content-type": "application/json"}  # type: ignore[attr-defined]
    before = ledger_entries(console)
    body = BOM + b'{"summary": "not me \\ud800"}'
    answer = await counsel.post(f"/api/cases/{disputed}/dispute", content=body, headers=headers)
    assert ledger_entries(console) == before
    assert case_status.get_case(console.world.store, disputed).status == "sent"
    assert answer.status_code == 400, answer.text
