"""The peer and swarm pages tell an unknown value from zero: unknown is "—" with a title saying why, a
count of zero is 0, and pieces are counted ("1 / 0", the indices beside them), never "0 / -" where 0
was a piece index and "-" meant none."""

from __future__ import annotations

import hashlib
import re

from swarmscope.evidence.records import BlockProof, Failure
from tests.web.conftest import ACME, GLOBEX, NOW, WebWorld
from tests.web.monitoring_world import ACME_SWARM, add_verified, build, fold, probe, writer_store

S = 1_000_000
HTML = {"accept": "text/html"}
UNKNOWN_CLIENT = (
    '<span class="unknown" title="unknown: no handshake, or a peer id and extension handshake that name no '
    'client we know (BEP 20, BEP 10)">—</span>'
)


def _rows(page: str, kind: str) -> list[str]:
    return re.findall(rf'<tr class="{kind}">(.*?)</tr>', page, re.S)


async def test_the_peer_page_shows_unknown_as_unknown_and_zero_as_zero(web: WebWorld) -> None:
    world = build(web.path, web.work_id(ACME), web.work_id(GLOBEX), NOW)
    add_verified(web.path, world.run_id, "127.0.0.20", NOW + 20 * S)  # no client named, no attribution
    fold(web.path)
    admin = web.client("admin")
    page = (await admin.get(f"/peers/{ACME_SWARM}/127.0.0.20/6881", headers=HTML)).text
    (row,) = _rows(page, "observation")
    assert '<td class="pieces">1 / 0 <span class="muted">(verified #1)</span></td>' in row
    assert f'<td class="client">{UNKNOWN_CLIENT}</td>' in row and UNKNOWN_CLIENT in page.split("<h2>")[0]
    assert "<td>none</td>" in row and "none taken" in row  # known: no failure, no capture
    assert not re.search(r">\s*-\s*<|/ -", row)
    known = (await admin.get(f"/peers/{ACME_SWARM}/127.0.0.2/6881", headers=HTML)).text
    (row,) = _rows(known, "observation")
    assert '<td class="pieces">1 / 0 <span class="muted">(verified #0)</span></td>' in row  # piece 0
    assert "Transmission 4.0" in row and "unknown" not in row
    has_pieces = (await admin.get(f"/peers/{ACME_SWARM}/127.0.0.3/6881", headers=HTML)).text
    (row,) = _rows(has_pieces, "observation")
    assert '<td class="pieces">0 / 0</td>' in row and "<td>0</td>" in row  # none verified, 0 bytes


async def test_the_swarm_page_shows_unknown_client_country_and_isp_as_unknown(web: WebWorld) -> None:
    world = build(web.path, web.work_id(ACME), web.work_id(GLOBEX), NOW)
    add_verified(web.path, world.run_id, "127.0.0.20", NOW + 20 * S)
    fold(web.path)
    page = (await web.client("admin").get(f"/swarms/{ACME_SWARM}", headers=HTML)).text
    rows = {re.search(r">(127\.0\.0\.\d+):6881<", r).group(1): r for r in _rows(page, "peer")}  # type: ignore[union-attr]
    assert UNKNOWN_CLIENT in rows["127.0.0.20"]
    assert 'title="unknown: the IP dataset names no country for this address">—<' in rows["127.0.0.20"]
    assert 'title="unknown: the IP dataset names no ISP or AS organisation' in rows["127.0.0.20"]
    assert "<td>DE</td><td>Example Net</td>" in rows["127.0.0.2"]
    assert not any(re.search(r">\s*-\s*<", r) for r in rows.values())


async def test_failed_blocks_of_a_v2_peer_are_counted_by_piece(web: WebWorld) -> None:
    """A v2/hybrid peer whose BEP 52 blocks failed their hash (pieces 21 and 33) is not "0 / 0" and
    nothing else: the blocks are counted, verified and failed, and the failed ones listed by piece."""
    world = build(web.path, web.work_id(ACME), web.work_id(GLOBEX), NOW)
    h = hashlib.sha256(b"block").digest()
    failed = (BlockProof(21, 0, 16384, h), BlockProof(21, 16384, 16384, h), BlockProof(33, 0, 16384, h))
    obs = probe(
        ACME_SWARM, "127.0.0.21", NOW + 20 * S, failure=Failure.HASH_MISMATCH.value,
        verified_blocks=(BlockProof(5, 0, 16384, h),), failed_blocks=failed, bytes_received=4 * 16384,
    )  # fmt: skip
    store = writer_store(web.path, NOW + 20 * S)
    try:
        store.add_observations(world.run_id, [obs], sealed_at_us=NOW + 22 * S)
    finally:
        store.close()
    fold(web.path)
    admin = web.client("admin")
    page = (await admin.get(f"/peers/{ACME_SWARM}/127.0.0.21/6881", headers=HTML)).text
    (row,) = _rows(page, "observation")
    cell = re.search(r'<td class="pieces">(.*?)</td>', row, re.S).group(1)  # type: ignore[union-attr]
    assert cell.startswith("0 / 0<br>") and "blocks 1 / 3" in cell, cell
    assert "(failed in piece #21 ×2, piece #33)" in cell, cell
    api = (await admin.get(f"/api/peers/{ACME_SWARM}/127.0.0.21/6881")).json()
    (record,) = [r for r in api["evidence"] if r["kind"] == "observation"]
    assert (record["verified_blocks"], record["failed_blocks"]) == (1, 3)
    assert record["failed_blocks_by_piece"] == [{"piece": 21, "blocks": 2}, {"piece": 33, "blocks": 1}]
