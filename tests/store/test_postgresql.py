"""The same store on PostgreSQL: migrations, round trips, append-only triggers.

Runs only when ``SWARMSCOPE_TEST_PG_URL`` names an empty scratch database, e.g.
``postgresql+psycopg://postgres@/swarmscope_test?host=/tmp/pg/sock`` (a server on a Unix socket or
loopback); the database is downgraded to empty afterwards. Needs the ``psycopg`` driver.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.cases.identities import IdentityError
from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.records import BlockProof, ClockSample, ExtensionInfo, RunStarted
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger import queries, seal_state, writer
from swarmscope.store.ledger.entries import load_batches, load_blob, load_capture, load_ledger
from swarmscope.store.ledger.schema import compared_on
from swarmscope.store.ledger.schema import observation as observation_table
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.store.legal.schema import subscriber
from swarmscope.store.legal.subscribers import UnboundIdentity, read_identity, subscriber_rows
from swarmscope.store.metadata import metadata
from swarmscope.store.migrate import alembic_config
from tests.store.factories import (
    SWARM_A,
    SWARM_B,
    T0,
    check_two_writers_serialise,
    full_observation,
    insert_unlinked,
    observation,
    sighting,
)
from tests.store.test_recovery import _orphans
from tests.store.test_subscribers import ALICE_ROW, KEY, disclosure, do_import, make_case

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")


@pytest.fixture
def node_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_round_trip_on_postgresql(pg_store: Store) -> None:
    run = pg_store.start_run({"k": [1, 2]}, "0.1.0", T0)
    obs = [
        full_observation(),
        observation(),
        full_observation(extension=ExtensionInfo(), infohash=SWARM_B, quirks=('he said "hi"\\',)),
    ]
    pg_store.add_observations(run, obs)
    pg_store.add_sightings(run, [sighting(), sighting(peer_id=b"\x00" * 20)])
    pg_store.end_run(run, T0 + 1)
    assert queries.load_observations(pg_store) == obs
    assert queries.load_sightings(pg_store) == [sighting(), sighting(peer_id=b"\x00" * 20)]
    assert queries.run_rows(pg_store)[0].settings == {"k": [1, 2]}


@pytest.mark.parametrize("statement", ["UPDATE observation SET ip = 'x'", "DELETE FROM sighting"])
def test_append_only_on_postgresql(pg_store: Store, statement: str) -> None:
    run = pg_store.start_run({}, "0.1.0", T0)
    pg_store.add_observations(run, [observation()])
    pg_store.add_sightings(run, [sighting()])
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), pg_store.engine.begin() as conn:
        conn.execute(sa.text(statement))


def test_downgrade_upgrade_on_postgresql(pg_store: Store) -> None:
    with pg_store.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
        command.upgrade(alembic_config(conn), "head")
    assert {"swarm", "monitor_run", "sighting", "observation"} <= set(
        sa.inspect(pg_store.engine).get_table_names()
    )


def test_no_drift_from_schema_module_on_postgresql(pg_store: Store) -> None:
    with pg_store.engine.connect() as conn:
        opts = {"compare_type": True, "include_object": compared_on("postgresql")}
        context = MigrationContext.configure(conn, opts=opts)
        assert compare_metadata(context, metadata) == []


def test_commit_evidence_on_postgresql(pg_store: Store) -> None:
    run = pg_store.start_run({}, "0.1.0", T0)
    block = bytes(range(256)) * 64
    capture = b"capture" * 80
    proof = BlockProof(1, 0, len(block), hashlib.sha256(block).digest())
    obs = full_observation(verified_blocks=(proof,), capture_sha256=hashlib.sha256(capture).digest())
    records = [RunStarted(run, T0, "0.1.0", None, "{}"), obs, sighting(), ClockSample("127.0.0.1:123", T0, 5)]
    for i in range(2):  # the second commit finds the capture, blob and piece already stored
        sealed = pg_store.commit_evidence(
            run,
            records=records,  # type: ignore[arg-type]
            captures={hashlib.sha256(capture).digest(): capture},
            blobs={proof.sha256: block},
            reference_pieces=[(SWARM_A, 1, block)],
            sealed_at_us=T0 + i,
            clock={"offset_us": 5, "server": "127.0.0.1:123"},
        )
        assert sealed is not None and sealed.batch.first_index == 4 * i
    assert load_capture(pg_store, hashlib.sha256(capture).digest()) == capture
    assert load_blob(pg_store, proof.sha256) == block
    (stored_obs, _again) = queries.load_observations(pg_store)
    assert stored_obs == obs
    assert canonical_bytes(stored_obs) == next(c for _e, k, c in load_ledger(pg_store) if k == "observation")
    verdict = verify_ledger(pg_store)
    assert verdict.ok and (verdict.entries, verdict.batches, verdict.rows) == (8, 2, 8), verdict.problems


def test_recover_on_postgresql(pg_store: Store, node_key: Ed25519PrivateKey) -> None:
    assert PG_URL is not None
    run = pg_store.start_run({}, "0.1.0", T0)
    pg_store.add_observations(run, [observation()], sealed_at_us=T0)
    assert _orphans(pg_store, run, 2) == (1, 2)
    with open_store(PG_URL, node_key=node_key, now_us=T0 + 9) as again:
        assert again.recovery is not None and again.recovery.recovered_batch == (1, 2)
        assert [b.recovered for b in load_batches(again)] == [False, True]
        again.add_observations(run, [observation()], sealed_at_us=T0 + 10)
        assert verify_ledger(again).ok


def test_concurrent_writers_of_one_node_serialise_on_postgresql(
    pg_store: Store, node_key: Ed25519PrivateKey
) -> None:
    assert PG_URL is not None
    run = pg_store.start_run({}, "0.1.0", T0)
    check_two_writers_serialise(pg_store, PG_URL, node_key, run)


def test_seal_states_on_postgresql(pg_store: Store, node_key: Ed25519PrivateKey) -> None:
    """Report and export read sealed / unsealed / quarantined the same way on PostgreSQL."""
    run = pg_store.start_run({}, "0.1.0", T0)
    pg_store.add_observations(run, [observation()], sealed_at_us=T0)
    _orphans(pg_store, run, 1)  # an entry past the last seal: port 9000
    with pg_store.engine.begin() as conn:  # no ledger entry at all (a row of an older version): port 7
        insert_unlinked(
            conn, observation_table, [writer.observation_row(run, observation(port=7), (None, None))]
        )
    states = {o.observation.port: o.state for o in seal_state.load_peer_records(pg_store)[1]}
    assert states == {6881: "sealed", 9000: "unsealed", 7: "unsealed"}
    (outside,) = seal_state.rows_outside_ledger(pg_store)
    assert (outside.table, outside.quarantined) == ("observation", None)
    assert PG_URL is not None
    open_store(PG_URL, node_key=node_key, now_us=T0 + 1).close()  # recovery: seal late, quarantine
    states = {o.observation.port: o.state for o in seal_state.load_peer_records(pg_store)[1]}
    assert states == {6881: "sealed", 9000: "sealed", 7: "quarantined"}
    (outside,) = seal_state.rows_outside_ledger(pg_store)
    assert outside.quarantined is not None and "no ledger entry" in outside.quarantined


def test_report_proves_rows_on_postgresql(pg_store: Store) -> None:
    """Report's proof of each sealed row (two connections: rows and ledger) reads the same on PostgreSQL."""
    from swarmscope.store.ledger.proven import EvidenceTrust

    run = pg_store.start_run({}, "0.1.0", T0)
    pg_store.add_observations(run, [observation()], sealed_at_us=T0 + 10_000)
    pg_store.add_sightings(run, [sighting(ip="127.0.0.9")], sealed_at_us=T0 + 10_000)
    assert pg_store.node is not None
    ours = EvidenceTrust(frozenset({pg_store.node.fingerprint}), T0 + 20_000)
    other = EvidenceTrust(frozenset({"00" * 32}), T0 + 20_000)
    for trust, state in ((ours, "sealed"), (None, "unchecked"), (other, "altered")):
        records = seal_state.proven_peer_records(pg_store, trust)
        assert [o.state for o in records.observations] == [s.state for s in records.sightings] == [state]
        assert len(records.altered) == (2 if state == "altered" else 0)


def test_hit_proofs_and_signers_on_postgresql(pg_store: Store) -> None:
    """Piece and block proofs read back for the documents, and which node keys sealed batches."""
    from swarmscope.cases.hit_proofs import hit_proof, proven_windows, torrent_pieces
    from swarmscope.evidence.records import Observation, Source, Tier
    from swarmscope.evidence.seal import key_fingerprint, public_key_raw
    from swarmscope.store.ledger.entries import sealing_nodes
    from swarmscope.store.ledger.proven import proven_observations
    from swarmscope.store.legal.notices import swarm_pieces

    assert PG_URL is not None
    run = pg_store.start_run({}, "0.1.0", T0)
    block = BlockProof(2, 16384, 16384, bytes(32))
    hits = [
        Observation(SWARM_A, "127.0.0.9", 6881, Source.TRACKER.value, T0, T0 + 1, Tier.VERIFIED,
                    verified_pieces=(11,), bytes_received=32763),
        Observation(SWARM_A, "127.0.0.9", 6881, Source.TRACKER.value, T0 + 2, T0 + 3, Tier.VERIFIED,
                    verified_blocks=(block,), bytes_received=16384),
    ]  # fmt: skip
    pg_store.commit_evidence(run, records=hits, sealed_at_us=T0 + 4)
    pieces = torrent_pieces(swarm_pieces(pg_store, SWARM_A), SWARM_A)  # stored metainfo is not a torrent
    assert pg_store.node is not None
    found = proven_observations(pg_store, {pg_store.node.fingerprint}, T0 + 10, ips=["127.0.0.9"])
    assert [hit_proof(w, pieces) for w in proven_windows(found.hits)] == [
        "piece 11 (length unknown, SHA-1 of the piece matched the torrent)",  # no matching metainfo stored
        "block at offset 16,384 of piece 2 (16,384 bytes, SHA-256 matched a piece already checked against the"
        " torrent)",
    ]
    assert pg_store.node is not None
    other = Ed25519PrivateKey.generate()
    with open_store(PG_URL, node_key=other, now_us=T0) as second:
        assert sealing_nodes(second) == {pg_store.node.fingerprint: 1}  # registered, sealed nothing yet
        second.commit_evidence(run, records=[observation()], sealed_at_us=T0 + 5)
        fingerprints = {pg_store.node.fingerprint: 1, key_fingerprint(public_key_raw(other)): 1}
        assert sealing_nodes(second) == fingerprints


def test_identity_bound_to_its_disclosure_on_postgresql(pg_store: Store) -> None:
    """The disclosed address, port and window are stored and authenticated on PostgreSQL too: an edited
    disclosure does not open, an unbound identity is refused until re-imported."""
    case = make_case(pg_store, "DOE-000001", "127.0.0.2")
    assert do_import(pg_store, disclosure(ALICE_ROW)).imported == ((2, "DOE-000001"),)
    (row,) = subscriber_rows(pg_store)
    assert (row.ip, row.port) == ("127.0.0.2", None)
    for values in ({"ip": "127.0.0.3"}, {"ip": None}):
        with pg_store._write() as conn:
            conn.execute(sa.update(subscriber).where(subscriber.c.case_id == case).values(**values))
        with pytest.raises((IdentityError, UnboundIdentity)):
            read_identity(pg_store, KEY, "DOE-000001", "clerk", T0)
    do_import(pg_store, disclosure(ALICE_ROW))  # re-binds the unbound row
    assert read_identity(pg_store, KEY, "DOE-000001", "clerk", T0).name == ALICE_ROW[3]


def test_a_large_batch_goes_in_by_copy_and_reads_back_as_sealed_on_postgresql(pg_store: Store) -> None:
    run = pg_store.start_run({}, "0.1.0", T0)
    awkward = full_observation()  # bytes with NUL, tabs and backslashes, big ints, None fields
    records = [
        dataclasses.replace(awkward, started_us=T0 + i, client="tab\there\\ \N{BOM}" if i % 2 else None)
        for i in range(200)  # above writer.COPY_MIN_ROWS
    ]
    statements: list[str] = []
    sa.event.listen(pg_store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    pg_store.commit_evidence(run, records=records, sealed_at_us=T0 + 10**9)
    assert not any(s.lstrip().upper().startswith("INSERT INTO OBSERVATION") for s in statements)
    stored = sorted(queries.load_observations(pg_store), key=lambda o: o.started_us)
    assert stored == records
    verdict = verify_ledger(pg_store)
    assert verdict.ok and verdict.rows == len(records), verdict.problems
