"""Integers beyond a signed 64-bit column in a path or cursor: 400 in one line, never a 500; and an
unexpected error still answers with the console's security headers."""

from __future__ import annotations

import pytest
from fastapi import APIRouter

from swarmscope.web.security import CSP
from tests.web.conftest import ACME, GLOBEX, NOW, WebWorld
from tests.web.monitoring_world import ACME_SWARM, build

BIG = "9223372036854775808"  # 2^63
HUGE = "99999999999999999999999"
HTML = {"accept": "text/html"}


@pytest.mark.parametrize(
    "path",
    [
        f"/api/peers/{ACME_SWARM}/127.0.0.2/{HUGE}",
        f"/peers/{ACME_SWARM}/127.0.0.2/{BIG}",
        f"/peers/{ACME_SWARM}/127.0.0.2/65536",
        f"/peers/{ACME_SWARM}/127.0.0.2/6881/timestamps/{BIG}.p7m",
        f"/cases/{BIG}",
        f"/api/cases/{BIG}",
        f"/api/swarms/{ACME_SWARM}/peers?cursor={HUGE}:1",
        f"/swarms/{ACME_SWARM}?cursor=1:{HUGE}",
        f"/swarms/{ACME_SWARM}/peers?cursor=-{HUGE}:1",
        f"/api/peers/{ACME_SWARM}/127.0.0.2/6881?cursor={BIG}:0",
    ],
)
async def test_an_integer_beyond_its_column_is_400_in_one_line(web: WebWorld, path: str) -> None:
    build(web.path, web.work_id(ACME), web.work_id(GLOBEX), NOW)
    client = web.client("viewer")
    for headers in ({}, HTML):
        answer = await client.get(path, headers=headers)
        assert answer.status_code == 400, (path, answer.text)
        assert answer.headers["content-security-policy"] == CSP
        if not headers:
            detail = answer.json()["detail"]
            assert isinstance(detail, str) and "\n" not in detail


async def test_an_unexpected_error_is_a_500_with_the_security_headers(web: WebWorld) -> None:
    broken = APIRouter()

    @broken.get("/api/broken")
    def fail() -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    web.app.include_router(broken)
    answer = await web.client("viewer").get("/api/broken")
    assert answer.status_code == 500 and "Python int" not in answer.text and "Traceback" not in answer.text
    assert answer.headers["content-security-policy"] == CSP and answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-frame-options"] == "DENY"
