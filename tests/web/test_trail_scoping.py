"""A peer's trail names only the reader's client's cases, even when one torrent is linked to two clients."""

from __future__ import annotations

from swarmscope.store.legal import cases as case_store
from tests.cli.letter_world import INFOHASH, T0
from tests.web.letter_console import OTHER, Console

HTML = {"accept": "text/html"}
PEER = f"{INFOHASH}/127.0.0.11/6882"  # the address of DOE-000001 (Example Rights Ltd)


async def test_a_shared_torrent_does_not_show_another_clients_case(console: Console) -> None:
    work = case_store.add_work(console.world.store, OTHER, "Other Compilation", None, None, T0)
    case_store.link_torrent(console.world.store, work, INFOHASH, T0)  # a compilation holds the same film
    doe = console.world.dois[0]
    mine = (await console["example"].get(f"/api/peers/{PEER}")).json()
    assert [c["doe"] for c in mine["cases"]] == [doe]
    theirs = await console["other"].get(f"/api/peers/{PEER}")
    assert theirs.status_code == 200 and theirs.json()["cases"] == []  # the swarm is theirs, the case not
    assert theirs.json()["evidence"]  # the peer's evidence in the shared swarm is still shown
    page = await console["other"].get(f"/peers/{PEER}", headers=HTML)
    assert page.status_code == 200 and doe not in page.text and "/cases/" not in page.text
    unbound = (await console["counsel"].get(f"/api/peers/{PEER}")).json()
    assert [c["doe"] for c in unbound["cases"]] == [doe]
    assert (await console["other"].get(f"/api/cases/{doe}")).status_code == 404
