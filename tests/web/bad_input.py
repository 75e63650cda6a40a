"""The inputs a back end cannot take, sent to a console on SQLite or PostgreSQL: every one must be a 400
in one line (a page for a browser, ``{"detail": ...}`` for the API), never a 500.

PostgreSQL's id columns are ``int4`` (2^31 - 1 at most) and its text cannot hold NUL; SQLite takes both,
so these inputs showed the difference between the back ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from swarmscope.web.security import CSP
from tests.web.monitoring_world import ACME_SWARM

ABOVE_INT4 = "2147483648"  # 2^31: one past PostgreSQL's integer
PEER = f"{ACME_SWARM}/127.0.0.2/6881"
HTML = {"accept": "text/html"}

GETS = [
    f"/api/cases/{ABOVE_INT4}",
    f"/cases/{ABOVE_INT4}",
    f"/api/letters?before={ABOVE_INT4}",
    f"/letters?before={ABOVE_INT4}",
    f"/api/cases?work={ABOVE_INT4}",
    f"/cases?work={ABOVE_INT4}",
    f"/api/letters?work={ABOVE_INT4}",
    f"/api/requests?after={ABOVE_INT4}",
    f"/peers/{PEER}/timestamps/{ABOVE_INT4}.p7m",
    f"/api/peers/{PEER}?cursor={ABOVE_INT4}:{ABOVE_INT4}",
    f"/peers/{PEER}?cursor=1:{ABOVE_INT4}",
    f"/api/swarms/{ACME_SWARM}/peers?client=%00",
    f"/api/swarms/{ACME_SWARM}/peers?isp=%00",
    f"/api/swarms/{ACME_SWARM}/peers?country=%00",
    f"/swarms/{ACME_SWARM}?client=%00",
    f"/swarms/{ACME_SWARM}?client=a%01b",
    "/api/letters?status=%00",
    "/api/requests?status=%00",
    "/api/letters?status=zz",
    "/letters?status=zz",
    "/api/requests?status=x",
    "/requests?status=x",
    "/api/cases/DOE%00",
    "/cases/DOE-000001%00",
    f"/api/peers/{ACME_SWARM}/127.0.0.2%00/6881",
    "/api/cases?status=%0A",
]


@dataclass
class Sessions:
    """Clients of one console: a viewer, an analyst (``.csrf`` set) and nobody."""

    viewer: httpx.AsyncClient
    analyst: httpx.AsyncClient
    anonymous: httpx.AsyncClient


def one_line_400(answer: httpx.Response, what: str, json: bool) -> None:
    assert answer.status_code == 400, (what, answer.status_code, answer.text[:300])
    assert answer.headers["content-security-policy"] == CSP, what
    if json:
        detail = answer.json()["detail"]
        assert isinstance(detail, str) and detail and "\n" not in detail, (what, detail)
    else:
        assert answer.headers["content-type"].startswith("text/html"), what


async def login_with(client: httpx.AsyncClient, name: str) -> httpx.Response:
    form = await client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    data = {"name": name, "password": "x" * 16, "login_token": token.group(1)}
    return await client.post("/login", data=data, headers=HTML)


async def check_every_bad_input(s: Sessions) -> None:
    """Every input of :data:`GETS`, a NUL login name, a NUL ISP in the exhibits form and a NUL in a JSON
    body: 400 in one line each."""
    for path in GETS:
        one_line_400(await s.viewer.get(path), path, json=True)
        one_line_400(await s.viewer.get(path, headers=HTML), path, json=path.startswith("/api/"))
    one_line_400(await login_with(s.anonymous, "pg\x00a"), "login", json=False)
    csrf = s.analyst.csrf  # type: ignore[attr-defined]
    zipped = await s.analyst.post("/requests/exhibits.zip", data={"isp": "Loop\x00", "csrf_token": csrf})
    one_line_400(zipped, "exhibits.zip", json=True)
    dispute = await s.analyst.post(
        "/api/cases/1/dispute", json={"summary": "a\x00b"}, headers={"x-csrf-token": csrf}
    )
    one_line_400(dispute, "dispute JSON", json=True)
