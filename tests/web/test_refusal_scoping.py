"""A workflow refusal read by a user bound to one client names no other rights holder or its works."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from swarmscope.cases.refusals import AboutWork, Refusal, WorkNamed, WorksOf
from swarmscope.store.legal import cases as case_store
from swarmscope.store.legal.schema import work_torrent
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


async def test_a_refusal_about_another_clients_link_names_neither_its_work_nor_its_client(
    console: Console, tmp_path: Path
) -> None:
    """A link of the case's torrent to another client's work that no trusted key sealed (inserted by hand,
    reference content on disk): the refusal says why the torrent cannot be checked; a user bound to the
    case's client reads that a link to a work of another rights holder is in the way, not which work, its
    rights holder or its reference path; a user bound to no client reads it all."""
    reference = tmp_path / "other-compilation.mkv"
    reference.write_bytes(b"x" * 4096)
    store = console.world.store
    other_work = case_store.add_work(store, OTHER, "Other Compilation", None, str(reference), T0)
    row = {"work_id": other_work, "infohash": INFOHASH, "status": "confirmed", "checked_pieces": 1,
           "matched_pieces": 1, "linked_us": T0}  # fmt: skip
    with store.engine.begin() as conn:  # not sealed: a row written without the node key
        conn.execute(sa.insert(work_torrent).values(row))
    doe = console.world.dois[0]
    for path in [f"/api/cases/{doe}/letter", f"/cases/{doe}/letter"]:
        bound = await console["example"].get(path)  # counsel of Example Rights Ltd
        assert bound.status_code == 409, path
        assert "unchecked: a link of this torrent to a work of another rights holder" in bound.text, path
        for secret in (OTHER, f"work {other_work}", str(reference)):
            assert secret not in bound.text, (path, secret)
        unbound = await console["counsel"].get(path)  # counsel of no client reads the full reason
        assert unbound.status_code == 409, path
        assert f"the link of work {other_work} to torrent" in unbound.text, path


def test_a_refusal_renders_its_parts_for_its_reader() -> None:
    mine, theirs = WorkNamed(1, 10, "Example Rights Ltd"), WorkNamed(2, 20, "Other Ltd")
    refusal = Refusal.of(
        "x: ", AboutWork(theirs, "work 2 of Other Ltd is gone", "a work of another rights holder"), "; ",
        AboutWork(mine, "work 1 is gone", "hidden"), " (", WorksOf((mine, theirs)), ")", doe="DOE-1",
    )  # fmt: skip
    assert str(refusal) == (
        "x: work 2 of Other Ltd is gone; work 1 is gone "
        "(work 1 of Example Rights Ltd and work 2 of Other Ltd)"
    )
    assert refusal.render(10) == (
        "x: a work of another rights holder; work 1 is gone (works of more than one rights holder)"
    )
    theirs_view = "x: work 2 of Other Ltd is gone; hidden (works of more than one rights holder)"
    assert refusal.render(20) == theirs_view
    assert refusal.works == (theirs, mine, mine, theirs) and refusal.clients == {10, 20}
    assert refusal.doe == "DOE-1"
