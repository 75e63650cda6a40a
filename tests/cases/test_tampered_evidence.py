"""The workflow reads only evidence proven against the sealed ledger, whatever was done to the rows.

An attacker with write access to the SQLite file (append-only triggers dropped) but without the node's key
turns an empty leecher and a corrupt peer into verified hits, invents rows, moves a hit into the future and
seals rows under a key of their own. None of it may become a case; each refused row is named; the honest
peers' cases are still built. A case whose rows are altered after it was built is refused, named, by
exhibits, notices and letters.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.cases.acns import Complainant
from swarmscope.cases.candidates import build_cases
from swarmscope.cases.case_proof import UnprovenCase
from swarmscope.cases.exhibits import produce_exhibits
from swarmscope.cases.letter_flow import draft_letters, preview_letter
from swarmscope.cases.letter_settings import load_settings
from swarmscope.cases.letters import TEMPLATES as LETTER_TEMPLATES
from swarmscope.cases.notices import prepare_notices
from swarmscope.cases.thresholds import ThresholdPolicy
from swarmscope.evidence.records import Tier
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.legal import cases as sc
from tests.cases.evidence import IH, MIN, T0, attributed, fresh_store, hit, seal
from tests.tampering import node_trust, tamper_file

HONEST, HONEST_4, LEECHER, CORRUPT, INVENTED, FOREIGN = (f"127.0.0.{n}" for n in (2, 3, 4, 5, 6, 7))
NOW = T0 + 10**12 + MIN  # after the helper's seal time
POLICY = ThresholdPolicy()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from fresh_store(tmp_path)


def trust(store: Store) -> EvidenceTrust:
    return node_trust(store, NOW)


def tamper(store: Store, *statements: str) -> None:
    """Drop every append-only trigger of the SQLite file and run ``statements`` (no node key needed)."""
    tamper_file(store, *statements)


def populate(store: Store) -> EvidenceTrust:
    """Honest peers (3 and 4 hits), an empty leecher, a corrupt peer; attributed; linked; an ISP."""
    records: list[object] = [
        attributed(ip, -1, 64500) for ip in (HONEST, HONEST_4, LEECHER, CORRUPT, INVENTED)
    ]
    records += [hit(HONEST, m) for m in (0, 30, 70)]
    records += [hit(HONEST_4, m) for m in (0, 30, 70, 100)]
    records += [hit(LEECHER, m, tier=Tier.CONNECTED) for m in (0, 30, 70)]
    records += [hit(CORRUPT, m, tier=Tier.CONNECTED) for m in (1, 31, 71)]
    seal(store, records)
    sc.link_torrent(store, sc.add_work(store, "Rights Ltd", "Film", None, None, T0), IH, T0)
    sc.add_isp(store, "Loopnet", [64500], "abuse@loop.example", "1 Loop St", "DE", T0)
    return trust(store)


def test_altered_invented_future_and_foreign_rows_make_no_case(store: Store) -> None:
    trusted = populate(store)
    columns = (
        "run_id, infohash, ip, port, source, started_us, ended_us, tier, verified_pieces, failed_pieces,"
    )
    columns += " quirks, encrypted, bytes_received, wire_bytes_in, wire_bytes_out, payload_bytes_sent,"
    columns += " verified_blocks, failed_blocks, num_pieces, pieces_have, ledger_node, ledger_index"
    copied = columns.replace(" ip,", f" '{INVENTED}',")
    tamper(
        store,
        f"UPDATE observation SET tier = 'verified', failure = NULL WHERE ip IN ('{LEECHER}', '{CORRUPT}')",
        f"UPDATE observation SET started_us = {NOW + 60 * MIN} WHERE ip = '{HONEST_4}' AND id = "
        f"(SELECT MAX(id) FROM observation WHERE ip = '{HONEST_4}')",
        f"INSERT INTO observation ({columns}) SELECT {copied} FROM observation WHERE ip = '{HONEST}'",
    )
    foreign = Ed25519PrivateKey.generate()  # the attacker's own node key, registered in node_key
    store.attach_node_key(foreign, T0)
    seal(store, [hit(FOREIGN, m) for m in (0, 30, 70)], swarms=())

    report = build_cases(store, POLICY, NOW, trust=trusted)
    assert sorted(c.ip for c in report.created) == [HONEST, HONEST_4]
    assert {c.ip: c.hits for c in report.created} == {HONEST: 3, HONEST_4: 3}
    refused = {(r.ip, r.reason.split(":")[0].split(" (")[0]) for r in report.refused}
    assert refused == {
        (LEECHER, "row altered"),
        (CORRUPT, "row altered"),
        (HONEST_4, "row altered"),
        (INVENTED, "row altered"),
        # batches 2, 3 and 4 seal the work entry, its link to the torrent and the ISP entry
        (FOREIGN, "its batch 5 is sealed by an untrusted key"),
    }
    assert len(report.refused) == 3 + 3 + 1 + 3 + 3
    assert all(
        r.describe().startswith(f"observation {r.observation_id} (ledger index") for r in report.refused
    )


def test_documents_refuse_a_case_whose_rows_changed_after_it_was_built(store: Store, tmp_path: Path) -> None:
    trusted = populate(store)
    created = {c.ip: c.doe for c in build_cases(store, POLICY, NOW, trust=trusted).created}
    assert sorted(created) == [HONEST, HONEST_4]
    tamper(
        store, f"UPDATE observation SET ended_us = ended_us + 1 WHERE ip = '{HONEST}' AND started_us = {T0}"
    )

    refused: list[tuple[str, str]] = []
    written = produce_exhibits(
        store, tmp_path / "ex", actor="counsel", now_us=NOW, trust=trusted, refused=refused
    )
    (exhibit,) = [w.exhibit for w in written]
    assert [line[0] for line in exhibit.lines] == [created[HONEST_4]]
    ((doe, why),) = refused
    assert doe == created[HONEST] and why.startswith(f"{doe}: refused: rows behind it fail the ledger check")
    assert "row altered" in why

    sender = Complainant("Rights Ltd", "notices@rights.test")
    batch = prepare_notices(store, tmp_path / "notices", now_us=NOW, complainant=sender, trust=trusted)
    assert [n.doc.doe for n in batch.notices] == [created[HONEST_4]]
    assert [d for d, _ in batch.skipped] == [created[HONEST]]

    settings = load_settings(LETTER_TEMPLATES / "settings.example.toml", {})
    with pytest.raises(UnprovenCase, match=created[HONEST]):
        draft_letters(store, settings, [created[HONEST]], "counsel", NOW, trusted)
    with pytest.raises(UnprovenCase, match=created[HONEST]):
        preview_letter(store, created[HONEST], trust=trusted)


def test_a_case_row_edited_after_the_build_is_refused(store: Store, tmp_path: Path) -> None:
    trusted = populate(store)
    created = {c.ip: c.doe for c in build_cases(store, POLICY, NOW, trust=trusted).created}
    tamper(store, f"UPDATE legal_case SET hits = 9 WHERE doe = '{created[HONEST]}'")
    refused: list[tuple[str, str]] = []
    produce_exhibits(store, tmp_path / "ex", actor="counsel", now_us=NOW, trust=trusted, refused=refused)
    assert [doe for doe, _ in refused] == [created[HONEST]]
    assert "shows 3 verified hit(s)" in refused[0][1] and "not the 9 the case states" in refused[0][1]


def test_a_duplicated_observation_counts_once(store: Store) -> None:
    trusted = populate(store)
    seal(store, [hit(HONEST, 70)], swarms=())  # the same record (same capture) sealed again, later
    report = build_cases(store, ThresholdPolicy(min_hits=4), NOW, trust=trusted)
    assert [c.ip for c in report.created] == [HONEST_4]
    ((row),) = report.refused
    assert (
        row.ip == HONEST
        and row.duplicate
        and "duplicate: the same sealed record as observation" in row.reason
    )


def test_an_unproven_row_outside_a_case_does_not_block_it(store: Store, tmp_path: Path) -> None:
    trusted = populate(store)
    created = {c.ip: c.doe for c in build_cases(store, POLICY, NOW, trust=trusted).created}
    last = T0 + 100 * MIN
    tamper(
        store,
        f"UPDATE observation SET started_us = {NOW + MIN} WHERE ip = '{HONEST_4}' AND started_us = {last}",
    )
    refused: list[tuple[str, str]] = []
    (written,) = produce_exhibits(
        store, tmp_path / "ex", actor="a", now_us=NOW, trust=trusted, refused=refused
    )
    assert [line[0] for line in written.exhibit.lines] == [
        created[HONEST]
    ]  # a hit moved away: recount differs
    assert [doe for doe, _ in refused] == [created[HONEST_4]] and "shows 3 verified hit(s)" in refused[0][1]
    # the next build names the moved row and records what is proven: 3 hits; the row, now dated outside
    # the case's interval, is not one of its hits and does not keep the case out of the documents
    report = build_cases(store, POLICY, NOW, trust=trusted)
    assert [r.ip for r in report.refused] == [HONEST_4] and "row altered" in report.refused[0].reason
    assert {c.doe: c.hits for c in report.refreshed} == {created[HONEST]: 3, created[HONEST_4]: 3}
    refused.clear()
    (written,) = produce_exhibits(
        store, tmp_path / "ex2", actor="a", now_us=NOW, trust=trusted, refused=refused
    )
    assert sorted(line[0] for line in written.exhibit.lines) == sorted(created.values()) and refused == []
