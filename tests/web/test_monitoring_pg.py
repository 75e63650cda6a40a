"""Live monitoring over PostgreSQL: the same pages and API on the read models folded there.

Runs only when ``SWARMSCOPE_TEST_PG_URL`` names an empty scratch database; it is downgraded to empty
afterwards.
"""

from __future__ import annotations

import os

import pytest

from swarmscope.cases.directory import add_work
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.database import Store
from swarmscope.web import accounts
from swarmscope.web.app import create_app
from swarmscope.web.deps import now_us
from swarmscope.web.roles import Role
from swarmscope.web.settings import WebSettings
from tests.web.conftest import ACME, GLOBEX, NOW, PASSWORD, PG_KEY, asgi_client, quick_user
from tests.web.monitoring_world import ACME_SWARM, GLOBEX_SWARM, fill

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")


async def test_live_monitoring_on_postgresql(pg_store: Store) -> None:
    works = {c: add_work(pg_store, c, f"{c} feature", None, None, None, NOW) for c in (ACME, GLOBEX)}
    fill(pg_store, works[ACME], works[GLOBEX], NOW)
    accounts.add_user(pg_store, "root", "admin", None, PASSWORD, NOW)
    secret, _csrf = accounts.log_in(pg_store, "root", PASSWORD, "127.0.0.1", now_us(), 3600)
    trusted = frozenset({key_fingerprint(public_key_raw(PG_KEY))})
    app = create_app(WebSettings(db=str(PG_URL), trusted_keys=trusted), store=pg_store)
    root = asgi_client(app, secret)
    acme = asgi_client(app, *quick_user(pg_store, "acme", Role.VIEWER, ACME))
    try:
        swarms = {s["infohash"]: s for s in (await root.get("/api/swarms")).json()}
        assert swarms[ACME_SWARM]["tiers"] == {"listed": 1, "connected": 0, "has_pieces": 1, "verified": 1}
        assert swarms[ACME_SWARM]["not_evidence"] == 1
        peers = (await root.get(f"/api/swarms/{ACME_SWARM}/peers", params={"country": "DE"})).json()
        assert [p["ip"] for p in peers["peers"]] == ["127.0.0.2"]
        trail = (await acme.get(f"/api/peers/{ACME_SWARM}/127.0.0.2/6881")).json()
        assert [r["state"] for r in trail["evidence"]] == ["sealed"]
        assert (await acme.get(f"/api/swarms/{GLOBEX_SWARM}")).status_code == 404
        metrics = (await root.get("/metrics")).text
        assert f'swarmscope_peers{{infohash="{GLOBEX_SWARM}",tier="verified"}} 1.0' in metrics
        assert "swarmscope_store_disk_bytes " in metrics
    finally:
        await root.aclose()
        await acme.aclose()
