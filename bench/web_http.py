"""The HTTP half of ``bench/web.py``: the console's pages and API through its ASGI app, in-process.

An admin user (``bench-admin``) and its API token are added to the store once; each request goes through
the whole app (authentication, client scoping, security headers, templates or JSON) over
``httpx.ASGITransport``, as the tests do. Medians of wall-clock milliseconds.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx

from swarmscope.store.access import users as user_store
from swarmscope.store.database import Store
from swarmscope.store.ledger.row_proof import ProvenBatches
from swarmscope.web import accounts
from swarmscope.web.app import create_app
from swarmscope.web.settings import WebSettings

ADMIN = "bench-admin"
NOW_US = 1_796_000_000_000_000


async def _median_ms(call: Callable[[int], Awaitable[httpx.Response]], repeat: int, name: str) -> float:
    answer = await call(0)
    assert answer.status_code == 200, (answer.status_code, answer.text[:200])
    times = []
    for i in range(1, repeat + 1):
        t = time.perf_counter()
        answer = await call(i)
        times.append((time.perf_counter() - t) * 1000)
        assert answer.status_code == 200, answer.status_code
    found = statistics.median(times)
    print(f"  {name:43s} {found:8.1f} ms", flush=True)
    return found


async def _timings(
    store: Store, db: str, trusted: frozenset[str], swarm: str, ips: list[str], repeat: int
) -> dict[str, float]:
    if user_store.find_user(store, ADMIN) is None:
        accounts.add_user(store, ADMIN, "admin", None, None, NOW_US)  # token only
    token = accounts.issue_token(store, ADMIN, NOW_US, NOW_US + 3_650 * 86_400_000_000)
    app = create_app(WebSettings(db=db), store=store)
    app.state.console_trust = (trusted, ProvenBatches(trusted))  # as serve trusts the node key file
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=headers) as client:
        page = {"accept": "text/html"}
        calls: list[tuple[str, Callable[[int], Awaitable[httpx.Response]]]] = [
            (
                "http: swarm page (first page of peers)",
                lambda _i: client.get(f"/swarms/{swarm}", headers=page),
            ),
            (
                "http: /api/ peer listing",
                lambda _i: client.get(f"/api/swarms/{swarm}/peers", params={"limit": 50}),
            ),
            ("http: peer page", lambda i: client.get(f"/peers/{swarm}/{ips[i]}/6881", headers=page)),
            ("http: /api/ peer trail", lambda i: client.get(f"/api/peers/{swarm}/{ips[-1 - i]}/6881")),
            ("http: /api/swarms (overview)", lambda _i: client.get("/api/swarms")),
            ("http: /swarms/live (the polled fragment)", lambda _i: client.get("/swarms/live", headers=page)),
        ]
        return {name: await _median_ms(call, repeat, name) for name, call in calls}


def http_timings(
    store: Store, db: str, trusted: frozenset[str], swarm: str, ips: list[str], repeat: int
) -> dict[str, float]:
    """Median milliseconds of the swarm page, the /api/ peer listing, a peer page and a peer's /api/ trail
    (``ips``: at least ``2 * repeat + 2`` peer addresses; ``trusted``: the node key fingerprints)."""
    return asyncio.run(_timings(store, db, trusted, swarm, ips, repeat))
