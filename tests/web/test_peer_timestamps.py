"""The peer page's RFC 3161 time-stamp tokens: each verified against its batch, shown with the TSA's own
time (genTime), an unverifiable one marked as such, each downloadable (CMS, ``.p7m``) through
a visible peer."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from swarmscope.net.tsa_client import stamp_sealed_batch
from swarmscope.store.ledger.schema import batch_timestamp, ledger_batch
from swarmscope.testbed.tsa import start_tsa
from tests.web.conftest import ACME, GLOBEX, NOW, WebWorld
from tests.web.monitoring_world import ACME_SWARM, build

PEER = f"{ACME_SWARM}/127.0.0.2/6881"  # one proven observation (tests/web/monitoring_world.py)


def add_token(web: WebWorld, batch_id: int, url: str, token: bytes) -> None:
    with web.store._write() as conn:
        row = {"batch_id": batch_id, "tsa_url": url, "token": token, "added_us": NOW + 99_000_000}
        conn.execute(sa.insert(batch_timestamp).values(row))


async def test_tokens_are_verified_shown_with_their_gen_time_and_downloadable(
    web: WebWorld, netns: bool, tmp_path: Path
) -> None:
    build(web.path, web.work_id(ACME), web.work_id(GLOBEX), NOW)
    viewer = web.client("viewer")
    batch_id = (await viewer.get(f"/api/peers/{PEER}")).json()["evidence"][0]["batch"]["id"]
    with web.store.engine.connect() as conn:
        query = sa.select(ledger_batch.c.batch_bytes).where(ledger_batch.c.id == batch_id)
        signed = bytes(conn.execute(query).scalar_one())
    (tmp_path / "tsa").mkdir()
    tsa = start_tsa(tmp_path / "tsa")
    try:
        stamped = await stamp_sealed_batch(tsa.url, signed)
    finally:
        tsa.stop()
    add_token(web, batch_id, tsa.url, stamped.token)
    add_token(web, batch_id, "http://tsa.invalid/forged", b"\x00")
    stamps = (await viewer.get(f"/api/peers/{PEER}")).json()["evidence"][0]["batch"]["timestamps"]
    good, forged = stamps
    assert good["verified"] and good["gen_time_us"] == stamped.info.gen_time_us and good["problem"] is None
    assert not forged["verified"] and forged["gen_time_us"] is None and forged["problem"]
    page = (await viewer.get(f"/peers/{PEER}", headers={"accept": "text/html"})).text
    assert "unverifiable" in page and "(verified)" in page and f"/timestamps/{good['id']}.p7m" in page
    download = await viewer.get(f"/peers/{PEER}/timestamps/{good['id']}.p7m")
    assert download.status_code == 200 and download.content == stamped.token
    assert 'filename="timestamp-token-' in download.headers["content-disposition"]  # a token, not a reply
    assert download.headers["content-type"] == "application/pkcs7-mime"  # CMS ContentInfo (RFC 3161 2.4.2)
    other = PEER.replace("127.0.0.2", "127.0.0.5")  # a peer whose rows that batch does not seal
    assert (await viewer.get(f"/peers/{other}/timestamps/{good['id']}.p7m")).status_code == 404
    assert (await web.client("globex").get(f"/peers/{PEER}/timestamps/{good['id']}.p7m")).status_code == 404
