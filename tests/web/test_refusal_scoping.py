"""A workflow refusal read by a user bound to one client names no other rights holder or its works."""

from __future__ import annotations

from swarmscope.store.legal import cases as case_store
from tests.cli.letter_world import INFOHASH, T0
from tests.web.letter_console import OTHER, Console


async def test_a_torrent_of_two_rights_holders_is_refused_without_naming_the_other_to_a_bound_user(
    console: Console,
) -> None:
    other_work = case_store.add_work(console.world.store, OTHER, "Other Compilation", None, None, T0)
    case_store.link_torrent(console.world.store, other_work, INFOHASH, T0)
    doe = console.world.dois[0]
    for path in [f"/api/cases/{doe}/letter", f"/cases/{doe}/letter"]:
        bound = await console["example"].get(path)  # counsel of Example Rights Ltd
        assert bound.status_code == 409, path
        assert "linked to works of more than one rights holder: link it to one only" in bound.text, path
        assert OTHER not in bound.text and f"work {other_work}" not in bound.text, path
        unbound = await console["counsel"].get(path)  # counsel of no client reads the full reason
        assert unbound.status_code == 409 and f"work {other_work} of {OTHER}" in unbound.text, path
