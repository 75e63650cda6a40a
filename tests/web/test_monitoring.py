"""Live monitoring in the console: overview, swarm page, peer trail, capture, plot, /metrics (in-process)."""

from __future__ import annotations

import re

import httpx
import pytest
import sqlalchemy as sa

from swarmscope.store.console.schema import console_batch
from swarmscope.store.ledger.schema import ledger_batch
from swarmscope.web.app import create_app
from swarmscope.web.settings import WebSettings
from tests.tampering import tamper
from tests.web.conftest import ACME, GLOBEX, NOW, PASSWORD, WebWorld
from tests.web.monitoring_world import (
    ACME_SWARM,
    CAPTURE,
    GLOBEX_SWARM,
    SCRIPT_CLIENT,
    MonitoringWorld,
    add_verified,
    build,
    fold,
)

S = 1_000_000
HTML = {"accept": "text/html"}


@pytest.fixture
def world(web: WebWorld) -> MonitoringWorld:
    return build(web.path, web.work_id(ACME), web.work_id(GLOBEX), NOW)


async def test_overview_counts_sealed_peers_and_scopes_a_client_to_its_swarms(
    web: WebWorld, world: MonitoringWorld
) -> None:
    admin = {s["infohash"]: s for s in (await web.client("admin").get("/api/swarms")).json()}
    assert set(admin) == {ACME_SWARM, GLOBEX_SWARM}
    acme = admin[ACME_SWARM]
    assert acme["tiers"] == {"listed": 1, "connected": 0, "has_pieces": 1, "verified": 1}
    assert acme["not_evidence"] == 1 and acme["bytes_received"] == 16384
    assert acme["sources"] == {"tracker": 3}
    acme_view = (await web.client("acme").get("/api/swarms")).json()
    assert [s["infohash"] for s in acme_view] == [ACME_SWARM]
    globex_view = (await web.client("globex", token=True).get("/api/swarms")).json()
    assert [s["infohash"] for s in globex_view] == [GLOBEX_SWARM]


@pytest.mark.parametrize(
    "path",
    [
        f"/swarms/{GLOBEX_SWARM}",
        f"/api/swarms/{GLOBEX_SWARM}",
        f"/api/swarms/{GLOBEX_SWARM}/peers",
        f"/swarms/{GLOBEX_SWARM}/size.svg",
        f"/peers/{GLOBEX_SWARM}/127.0.0.9/6881",
        f"/api/peers/{GLOBEX_SWARM}/127.0.0.9/6881",
        f"/swarms/{'c3' * 20}",
        "/swarms/not-hex",
        f"/api/peers/{ACME_SWARM}/127.0.0.77/6881",
    ],
)
async def test_another_clients_or_unknown_objects_answer_404(
    web: WebWorld, world: MonitoringWorld, path: str
) -> None:
    assert (await web.client("acme").get(path)).status_code == 404
    assert (await web.client("acme", token=True).get(path, headers=HTML)).status_code == 404


async def test_peer_list_filters_sorts_and_pages_by_cursor(web: WebWorld, world: MonitoringWorld) -> None:
    client = web.client("analyst")
    url = f"/api/swarms/{ACME_SWARM}/peers"
    verified = (await client.get(url, params={"tier": "verified"})).json()
    assert [p["ip"] for p in verified["peers"]] == ["127.0.0.2"]  # the unsealed verified .5 is not listed
    assert verified["peers"][0]["country"] == "DE" and verified["next_cursor"] is None
    first = (await client.get(url, params={"limit": 2, "sort": "first_seen", "order": "asc"})).json()
    rest = (await client.get(url, params={"limit": 2, "sort": "first_seen", "order": "asc",
                                          "cursor": first["next_cursor"]})).json()  # fmt: skip
    assert [p["ip"] for p in first["peers"] + rest["peers"]] == ["127.0.0.4", "127.0.0.2", "127.0.0.3"]
    assert rest["next_cursor"] is None
    bad = await client.get(url, params={"tier": "gold"})
    assert bad.status_code == 400 and bad.json()["detail"].startswith("tier 'gold': not one of")
    assert (await client.get(url, params={"cursor": "x"})).status_code == 400


async def test_peer_trail_shows_proven_rows_as_evidence_and_the_rest_apart(
    web: WebWorld, world: MonitoringWorld
) -> None:
    trail = (await web.client("viewer").get(f"/api/peers/{ACME_SWARM}/127.0.0.2/6881")).json()
    assert [(r["kind"], r["state"]) for r in trail["evidence"]] == [("observation", "sealed")]
    first = trail["evidence"][0]
    assert (
        first["started_us"] == NOW + S
        and first["ended_us"] == NOW + 2 * S
        and first["bytes_received"] == 16384
    )
    assert first["batch"]["sealed_at_us"] == NOW + 10 * S and first["clock"] == "unmeasured"
    assert first["capture_sha256"] == world.capture_hex
    assert trail["attribution"]["country"] == "DE" and trail["cases"] == []
    unsealed = (await web.client("viewer").get(f"/api/peers/{ACME_SWARM}/127.0.0.5/6881")).json()
    assert unsealed["evidence"] == [] and [r["state"] for r in unsealed["not_evidence"]] == ["unsealed"]
    page = await web.client("viewer").get(f"/peers/{ACME_SWARM}/127.0.0.5/6881", headers=HTML)
    assert "No proven observation." in page.text and "unsealed" in page.text


async def test_capture_download_needs_an_analyst_and_a_visible_peer(
    web: WebWorld, world: MonitoringWorld
) -> None:
    url = f"/peers/{ACME_SWARM}/127.0.0.2/6881/captures/{world.capture_hex}"
    answer = await web.client("analyst").get(url)
    assert answer.status_code == 200 and answer.content == CAPTURE
    assert "attachment" in answer.headers["content-disposition"]
    assert (await web.client("viewer").get(url)).status_code == 403
    assert (await web.client("analyst").get(url.replace("127.0.0.2", "127.0.0.3"))).status_code == 404
    page = await web.client("viewer").get(f"/peers/{ACME_SWARM}/127.0.0.2/6881", headers=HTML)
    assert "/captures/" not in page.text and world.capture_hex[:16] in page.text


async def test_a_peers_html_client_string_is_escaped_everywhere(
    web: WebWorld, world: MonitoringWorld
) -> None:
    client = web.client("admin")
    for path in (f"/swarms/{ACME_SWARM}", f"/swarms/{ACME_SWARM}/peers", "/swarms", "/swarms/live",
                 f"/peers/{ACME_SWARM}/127.0.0.3/6881"):  # fmt: skip
        text = (await client.get(path, headers=HTML)).text
        assert "<script>document" not in text and "<img src=x" not in text, path
    peers = (await client.get(f"/swarms/{ACME_SWARM}/peers", headers=HTML)).text
    assert "&lt;script&gt;document.title=" in peers
    trail = (await client.get(f"/api/peers/{ACME_SWARM}/127.0.0.3/6881")).json()
    assert trail["evidence"][0]["client"] == SCRIPT_CLIENT  # JSON carries the string as it came


async def test_live_fragments_show_rows_written_after_the_page_opened(
    web: WebWorld, world: MonitoringWorld
) -> None:
    client = web.client("viewer")
    page = (await client.get("/swarms", headers=HTML)).text
    assert re.search(r'hx-get="/swarms/live" hx-trigger="every 2s"', page)
    swarm = (await client.get(f"/swarms/{ACME_SWARM}", headers=HTML)).text
    assert f'hx-get="/swarms/{ACME_SWARM}/live"' in swarm and f'hx-get="/swarms/{ACME_SWARM}/peers?' in swarm
    assert "not yet shown" not in (await client.get("/swarms/live", headers=HTML)).text
    add_verified(web.path, world.run_id, "127.0.0.42", NOW + 70 * S)
    lagging = (await client.get("/swarms/live", headers=HTML)).text  # sealed, not folded yet
    assert "1 sealed evidence batch not yet shown" in lagging
    assert re.search(
        r'<td class="verified">1</td>', lagging[lagging.index(f'data-infohash="{ACME_SWARM}"') :]
    )
    swarm_live = (await client.get(f"/swarms/{ACME_SWARM}/live", headers=HTML)).text
    assert "1 sealed evidence batch not yet shown" in swarm_live
    assert fold(web.path) == 1  # what serve's background folder does
    live = (await client.get("/swarms/live", headers=HTML)).text
    assert "not yet shown" not in live
    row = live[live.index(f'data-infohash="{ACME_SWARM}"') :]
    assert re.search(r'<td class="verified">2</td>', row)
    peers = (await client.get(f"/swarms/{ACME_SWARM}/peers", headers=HTML)).text
    assert "127.0.0.42:6881" in peers


async def test_a_login_seals_no_evidence_batch_the_live_pages_count(
    web: WebWorld, world: MonitoringWorld
) -> None:
    client = web.anonymous()  # a login seals its session as an account event: a batch with no evidence
    form = await client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    data = {"name": "viewer", "password": PASSWORD, "login_token": token.group(1), "next": "/swarms"}
    assert (await client.post("/login", data=data)).status_code == 303
    with web.store.engine.connect() as conn:
        sealed = conn.execute(sa.select(sa.func.count()).select_from(ledger_batch)).scalar_one()
        folded = conn.execute(sa.select(sa.func.count()).select_from(console_batch)).scalar_one()
    assert sealed > folded  # the login's batch is sealed and not folded
    assert "not yet shown" not in (await client.get("/swarms/live", headers=HTML)).text
    assert (await client.get(f"/api/swarms/{ACME_SWARM}")).json()["unfolded_batches"] == 0
    assert "swarmscope_console_unfolded_batches 0.0" in (await web.client("admin").get("/metrics")).text
    add_verified(web.path, world.run_id, "127.0.0.42", NOW + 70 * S)  # evidence: counted
    assert "1 sealed evidence batch not yet shown" in (await client.get("/swarms/live", headers=HTML)).text
    assert (await client.get(f"/api/swarms/{ACME_SWARM}")).json()["unfolded_batches"] == 1


async def test_size_plot_is_an_svg_without_style_or_script(web: WebWorld, world: MonitoringWorld) -> None:
    answer = await web.client("viewer").get(f"/swarms/{ACME_SWARM}/size.svg")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/svg+xml")
    assert answer.text.startswith("<svg") and "<polyline" in answer.text and "<circle" in answer.text
    assert "style" not in answer.text and "<script" not in answer.text


async def test_metrics_for_unbound_analysts_in_prometheus_format(
    web: WebWorld, world: MonitoringWorld
) -> None:
    from swarmscope.net.clock import Clock
    from swarmscope.store.console.stats import MonitorSample, write_monitor_sample
    from tests.web.monitoring_world import writer_store

    now = Clock().now_us()
    store = writer_store(web.path, now)
    try:
        write_monitor_sample(store, MonitorSample(world.run_id, now - 5 * S, 100, 7, 3, 0.01, 0.03, 2, 1))
        write_monitor_sample(store, MonitorSample(world.run_id, now, 150, 2, 5, 0.02, 0.05, 3, 1))
    finally:
        store.close()
    answer = await web.client("analyst", token=True).get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    run = world.run_id
    for line in (
        f'swarmscope_probes_total{{run="{run}"}} 150.0',
        f'swarmscope_probes_per_second{{run="{run}"}} 10.0',
        f'swarmscope_writer_queue_records{{run="{run}"}} 2.0',
        f'swarmscope_last_batch_commit_seconds{{run="{run}"}} 0.02',
        f'swarmscope_batch_commit_seconds_total{{run="{run}"}} 0.05',
        f'swarmscope_batches_total{{run="{run}"}} 5.0',
        f'swarmscope_tracker_errors_total{{run="{run}"}} 3.0',
        f'swarmscope_dht_errors_total{{run="{run}"}} 1.0',
        f'swarmscope_peers{{infohash="{ACME_SWARM}",tier="verified"}} 1.0',
        f'swarmscope_not_evidence_records{{infohash="{ACME_SWARM}"}} 1.0',
    ):
        assert line in text, line
    assert re.search(r"^swarmscope_store_disk_bytes [1-9]", text, re.M)
    assert (await web.client("viewer").get("/metrics")).status_code == 403
    assert (await web.client("globex").get("/metrics")).status_code == 404  # a client's counsel: not in scope


async def test_the_keys_serve_was_given_decide_what_is_evidence(
    web: WebWorld, world: MonitoringWorld
) -> None:
    """``serve --trust-key`` of another node: rows sealed by the key beside the database are not proven."""
    app = create_app(WebSettings(db=str(web.path), trusted_keys=frozenset({"ab" * 32})), store=web.store)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    headers = {"Authorization": f"Bearer {web.template.tokens['viewer']}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=headers) as client:
        trail = (await client.get(f"/api/peers/{ACME_SWARM}/127.0.0.2/6881")).json()
    assert trail["evidence"] == [] and [r["state"] for r in trail["not_evidence"]] == ["altered"]
    assert trail["not_evidence"][0]["reason"].endswith("is sealed by an untrusted key")


async def test_the_peer_header_takes_its_tier_from_proven_evidence_only(
    web: WebWorld, world: MonitoringWorld
) -> None:
    # the sealed record of 127.0.0.2 edited after its seal: altered, while the fold still counts it
    tamper(web.store, ["observation"], "UPDATE observation SET bytes_received = 1 WHERE ip = '127.0.0.2'")
    trail = (await web.client("viewer").get(f"/api/peers/{ACME_SWARM}/127.0.0.2/6881")).json()
    assert trail["evidence"] == [] and [r["state"] for r in trail["not_evidence"]] == ["altered"]
    assert trail["proven_tier"] is None and trail["summary"]["tier"] == "verified"  # the fold: sealed only
    page = (await web.client("viewer").get(f"/peers/{ACME_SWARM}/127.0.0.2/6881", headers=HTML)).text
    assert "Best proven tier: <strong>none proven</strong>" in page
    assert "best tier</th><td>verified" not in page and "not proven" in page
    fine = (await web.client("viewer").get(f"/api/peers/{GLOBEX_SWARM}/127.0.0.9/6881")).json()
    assert fine["proven_tier"] == "verified" == fine["summary"]["tier"]


async def test_the_peer_trail_is_paged_newest_first_and_keeps_its_proven_tier(
    web: WebWorld, world: MonitoringWorld
) -> None:
    """A peer re-probed many times: each page proves only its own rows; the header's tier stays proven."""
    for i in range(7):
        add_verified(web.path, world.run_id, "127.0.0.2", NOW + (10 + i) * S)
    viewer = web.client("viewer")
    base = f"/api/peers/{ACME_SWARM}/127.0.0.2/6881"
    first = (await viewer.get(f"{base}?limit=3")).json()
    starts = [r["started_us"] for r in first["evidence"] if r["kind"] == "observation"]
    assert starts == [NOW + 16 * S, NOW + 15 * S, NOW + 14 * S] and first["proven_tier"] == "verified"
    seen, cursor = list(starts), first["next_cursor"]
    while cursor:
        page = (await viewer.get(base, params={"limit": 3, "cursor": cursor})).json()
        seen += [r["started_us"] for r in page["evidence"] if r["kind"] == "observation"]
        assert page["proven_tier"] == "verified"
        cursor = page["next_cursor"]
    assert len(seen) == 8 and seen == sorted(seen, reverse=True)
    html = (await viewer.get(f"/peers/{ACME_SWARM}/127.0.0.2/6881?limit=3", headers=HTML)).text
    assert "Older records</a>" in html and html.count('<tr class="observation">') == 3
    bad = await viewer.get(base, params={"cursor": "x"})
    assert bad.status_code == 400 and "cursor" in bad.json()["detail"]
