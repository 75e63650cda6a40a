"""A case row's ISP, region/city and work are plain columns: edited behind the ledger's back (write access to
the database, triggers dropped, no node key) they must reach no exhibit, notice, letter or escalation, and
each refusal names the column with its stored and its proven value; the honest cases in the same database
still get their documents. SQLite; PostgreSQL with SWARMSCOPE_TEST_PG_URL (exhibits and notices).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.cases.acns import Complainant
from swarmscope.cases.candidates import build_cases
from swarmscope.cases.case_actions import escalate_case
from swarmscope.cases.case_proof import UNLINKED, UnprovenCase
from swarmscope.cases.exhibits import produce_exhibits
from swarmscope.cases.letter_flow import approve_letter, draft_letters, expire_letters, preview_letter
from swarmscope.cases.litigation import litigation_rows
from swarmscope.cases.notices import prepare_notices
from swarmscope.cases.thresholds import ThresholdPolicy
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.legal import cases as sc
from swarmscope.store.legal import letters as letter_store
from tests.cases.evidence import IH, MIN, OTHER_IH, T0, attributed, hit, seal
from tests.cases.test_tampered_clock import tamper
from tests.cli import letter_world as lw
from tests.tampering import backend_store, key_trust

KEY = Ed25519PrivateKey.generate()
HONEST, ISP_EDIT, REGION_EDIT, CITY_EDIT, WORK_EDIT = (f"127.0.0.{n}" for n in (2, 3, 4, 5, 6))
NOW = T0 + 10**12 + MIN  # after the helper's seal time


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Five addresses with three verified hits each, attributed to AS64500 in Bavaria/Munich; cases built."""
    with backend_store(request.param, tmp_path, KEY, T0) as s:
        ips = (HONEST, ISP_EDIT, REGION_EDIT, CITY_EDIT, WORK_EDIT)
        places = [attributed(ip, -5, 64500, region="Bavaria", city="Munich") for ip in ips]
        seal(s, [*places, *(hit(ip, m) for ip in ips for m in (0, 30, 70))])
        sc.link_torrent(s, sc.add_work(s, "Rights Ltd", "Film", None, None, T0), IH, T0)
        sc.link_torrent(s, sc.add_work(s, "Other Ltd", "Other film", None, None, T0), OTHER_IH, T0)
        sc.add_isp(s, "Loopnet", [64500], "abuse@loop.example", "1 Loop St", "DE", T0)
        sc.add_isp(s, "Othernet", [64501], "abuse@other.example", "2 Other St", "DE", T0)
        yield s


def trust() -> EvidenceTrust:
    return key_trust(KEY, NOW)


def _ids(store: Store) -> tuple[int, int, int, int]:
    """(Loopnet, Othernet, the film's work, the other work) ids."""
    loop, other = (sc.get_isp(store, name).id for name in ("Loopnet", "Othernet"))
    film, other_film = (sc.get_work(store, title).id for title in ("Film", "Other film"))
    return loop, other, film, other_film


def _edits(does: dict[str, str], ids: tuple[int, int, int, int]) -> dict[str, tuple[str, str]]:
    """DOE → (the UPDATE of its row, what the refusal must say)."""
    loop, other, film, other_film = ids
    return {
        does[ISP_EDIT]: (
            f"isp_id = {other}",
            f"isp_id {other} is not the ISP of the proven attribution's ASN 64500 at the first hit "
            f"(isp_id {loop})",
        ),
        does[REGION_EDIT]: (
            "region = 'Sachsen'",
            "region/city Sachsen/Munich are not the proven attribution's Bavaria/Munich",
        ),
        does[CITY_EDIT]: (
            "city = 'Leipzig'",
            "region/city Bavaria/Leipzig are not the proven attribution's Bavaria/Munich",
        ),
        does[WORK_EDIT]: (
            f"work_id = {other_film}",
            f"work_id {other_film} is not the work of its torrent {IH} (work {film} of Rights Ltd: its "
            "earliest confirmed link, else its earliest plain one, as cases build derives it)",
        ),
    }


def test_an_edited_isp_region_city_or_work_reaches_no_exhibit_or_notice(store: Store, tmp_path: Path) -> None:
    report = build_cases(store, ThresholdPolicy(), NOW, trust=trust())
    does = {c.ip: c.doe for c in report.created}
    assert set(does) == {HONEST, ISP_EDIT, REGION_EDIT, CITY_EDIT, WORK_EDIT}
    edits = _edits(does, _ids(store))
    tamper(store, *(f"UPDATE legal_case SET {sql} WHERE doe = '{doe}'" for doe, (sql, _) in edits.items()))

    refused: list[tuple[str, str]] = []
    written = produce_exhibits(
        store, tmp_path / "ex", actor="counsel", now_us=NOW, trust=trust(), refused=refused
    )
    assert [line[0] for w in written for line in w.exhibit.lines] == [does[HONEST]]
    assert sorted(d for d, _ in refused) == sorted(edits)  # by ISP name, then DOE number
    for doe, why in refused:
        assert why == f"{doe}: refused: {UNLINKED} ({edits[doe][1]})"
        assert "\n" not in why

    sender = Complainant("Rights Ltd", "notices@rights.test")
    batch = prepare_notices(store, tmp_path / "notices", now_us=NOW, complainant=sender, trust=trust())
    assert [n.doc.doe for n in batch.notices] == [does[HONEST]]
    assert sorted(batch.skipped) == sorted(refused)
    assert len(list((tmp_path / "notices").glob("*.xml"))) == 1


@pytest.mark.parametrize("column", ["isp_id", "region", "city", "work_id"])
def test_an_edited_isp_region_city_or_work_reaches_no_letter_or_escalation(
    tmp_path: Path, column: str
) -> None:
    """The letters world: DOE-000001 and -000002 approved honestly, then DOE-000001's column (and the
    undrafted DOE-000003's) edited: every letter step and the escalation refuse them, naming the column,
    while DOE-000002 is sent, expires, is escalated and listed; edited in turn, it leaves the list."""
    world = lw.build_world(tmp_path)
    store, (victim, honest, undrafted) = world.store, world.dois
    try:
        other_isp = sc.add_isp(store, "Other Telecom", [64501], "abuse@other.test", "2 ISP Way", "DE", lw.T0)
        other_work = sc.add_work(store, "Other Rights", "Other Film", None, None, lw.T0)
        sc.link_torrent(store, other_work, "ef" * 20, lw.T0)  # a real link, to another torrent
        values = {"isp_id": other_isp, "region": "'Sachsen'", "city": "'Leipzig'", "work_id": other_work}
        value = values[column]

        def edit(doe: str) -> None:
            tamper(store, f"UPDATE legal_case SET {column} = {value} WHERE doe = '{doe}'")

        for doe in (victim, honest):
            lw.draft_approve(world, doe)
        edit(victim)
        edit(undrafted)
        names = f"{column} {other_isp if column == 'isp_id' else other_work}"
        if column in ("region", "city"):
            names = "region/city " + ("Sachsen/Berlin" if column == "region" else "Berlin/Leipzig")
        refusal = f"refused: {UNLINKED} ({names}"
        with pytest.raises(UnprovenCase, match=f"^{undrafted}: ") as refused:
            draft_letters(store, lw.SETTINGS, [undrafted], "counsel", lw.T0)
        assert refusal in str(refused.value)
        for step in (
            lambda: draft_letters(store, lw.SETTINGS, [victim], "counsel", lw.T0),
            lambda: preview_letter(store, victim),
            lambda: approve_letter(store, victim, "alice", lw.T0),
            lambda: lw.send(world, victim, None, tmp_path / "post", lw.T0 + lw.HOUR),
            lambda: escalate_case(store, victim, "counsel", lw.T0, None),
        ):
            with pytest.raises(UnprovenCase, match=f"^{victim}: ") as refused:
                step()
            assert refusal in str(refused.value)
        assert lw.status(world, victim) == "approved" and lw.status(world, undrafted) == "identified"
        assert all(letter.sent_us is None for letter in letter_store.list_letters(store))

        sent = lw.send(world, honest, None, tmp_path / "post", lw.T0 + lw.HOUR)
        assert expire_letters(store, "counsel", sent.letter.deadline_us + 1) == [honest]
        escalate_case(store, honest, "counsel", sent.letter.deadline_us + 2, None)
        assert [row["doe"] for row in litigation_rows(store, None, "counsel", lw.T0)] == [honest]
        edit(honest)
        left_out: list[tuple[str, str]] = []
        assert litigation_rows(store, None, "counsel", lw.T0, refused=left_out) == []
        assert [d for d, _ in left_out] == [honest] and refusal in left_out[0][1]
    finally:
        store.close()
