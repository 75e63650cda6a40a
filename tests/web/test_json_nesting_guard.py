"""A deeply nested JSON body is bad input (400, one line), never a 500, even before login.

The input guard (``web/input_guard.py``) parses every JSON body before any route, authentication
included, with ``json.loads`` and catches ``ValueError`` only. A body of some 100,000 nested arrays
(200 KB, far inside the 1 MiB bound) makes the parser raise ``RecursionError`` (Python's ``json`` docs:
"RecursionError ... when decoding deeply nested JSON"), so anyone who can reach the port gets a 500 and
writes a traceback into the console's log, on every path.
"""

from __future__ import annotations

import pytest

from swarmscope.web.input_guard import refusal
from tests.web.conftest import WebWorld

NESTED = b"[" * 100_000 + b"]" * 100_000
JSON = {"content-type": "application/json"}


def test_the_guard_refuses_deep_nesting_without_raising() -> None:
    scope = {"path": "/api/x", "query_string": b"", "headers": [(b"content-type", b"application/json")]}
    assert refusal(scope, NESTED) is not None


@pytest.mark.parametrize("path", ["/login", "/api/me"])
async def test_deep_nesting_is_400_for_anyone(web: WebWorld, path: str) -> None:
    answer = await web.anonymous().post(path, content=NESTED, headers=JSON)
    assert answer.status_code == 400, answer.text
