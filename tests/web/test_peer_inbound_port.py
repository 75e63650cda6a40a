"""The peer page says which port of an inbound observation was seen on the wire and which was claimed."""

from __future__ import annotations

from swarmscope.evidence.records import Source, Tier
from tests.web.conftest import ACME, GLOBEX, NOW, WebWorld
from tests.web.monitoring_world import ACME_SWARM, S, build, fold, probe, writer_store


async def test_an_inbound_observation_names_its_source_port_and_its_claim(web: WebWorld) -> None:
    """A peer dialled us from TCP source port 40001 and claimed BEP 10 ``p`` = 4444 (the port its
    record is kept under): the page never shows 4444 as observed (RFC 6302: the source port is what an
    ISP matches)."""
    world = build(web.path, web.work_id(ACME), web.work_id(GLOBEX), NOW)
    store = writer_store(web.path, NOW + 20 * S)
    try:
        obs = probe(
            ACME_SWARM, "127.0.0.7", NOW + 20 * S, port=4444, source=Source.INBOUND.value, source_port=40001,
            tier=Tier.VERIFIED, failure=None, verified_pieces=(1,), bytes_received=99,
        )  # fmt: skip
        store.add_observations(world.run_id, [obs], sealed_at_us=NOW + 22 * S)
    finally:
        store.close()
    fold(web.path)
    peer = f"/peers/{ACME_SWARM}/127.0.0.7/4444"
    page = (await web.client("viewer").get(peer, headers={"accept": "text/html"})).text
    assert "it connected to us from TCP source port 40001; port 4444 is its BEP 10 claim" in page
    api = (await web.client("viewer").get(f"/api{peer}")).json()
    assert api["evidence"][0]["source_port"] == 40001
