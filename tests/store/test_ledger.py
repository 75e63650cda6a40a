"""Sealed commits: rows, chain entries, content and the seal land together; the ledger verifies."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.evidence.canonical import canonical_bytes, record_from_canonical
from swarmscope.evidence.chain import GENESIS
from swarmscope.evidence.records import BlockProof, ClockSample, RunStarted
from swarmscope.evidence.seal import key_fingerprint, public_key_raw, verify_seal
from swarmscope.store.database import Store, StoreError, open_store
from swarmscope.store.ledger import queries
from swarmscope.store.ledger.entries import (
    load_batches,
    load_blob,
    load_capture,
    load_ledger,
    load_reference_pieces,
    node_keys,
)
from swarmscope.store.ledger.verify import verify_ledger
from tests.store.factories import (
    SWARM_A,
    T0,
    add_swarms,
    check_two_writers_serialise,
    full_observation,
    observation,
    sighting,
)

CAPTURE = b"capture bytes " * 30
BLOCK = bytes(range(256)) * 64
PROOF = BlockProof(2, 16384, len(BLOCK), hashlib.sha256(BLOCK).digest())


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _records(run_id: int) -> list[object]:
    obs = full_observation(verified_blocks=(PROOF,), failed_blocks=(PROOF,), capture_sha256=_sha(CAPTURE))
    return [
        RunStarted(run_id, T0, "0.1.0", "abc123", '{"k":1}'),
        obs,
        sighting(),
        ClockSample("127.0.0.1:123", T0 + 5, -1200, 300, 2, 0, None),
        ClockSample("127.0.0.2:123", T0 + 6, error="timeout"),
    ]


def test_commit_stores_rows_entries_content_and_a_verifying_seal(
    store: Store, run_id: int, node_key: Ed25519PrivateKey
) -> None:
    records = _records(run_id)
    sealed = store.commit_evidence(
        run_id,
        records=records,  # type: ignore[arg-type]
        captures={_sha(CAPTURE): CAPTURE},
        blobs={PROOF.sha256: BLOCK},
        reference_pieces=[(SWARM_A.upper(), 2, BLOCK)],
        sealed_at_us=T0 + 10,
        clock={"server": "127.0.0.1:123", "offset_us": -1200},
    )
    assert sealed is not None
    assert (sealed.batch.first_index, sealed.batch.last_index, sealed.batch.sealed_at_us) == (0, 4, T0 + 10)
    assert verify_seal(sealed, public_key_raw(node_key))
    ledger = list(load_ledger(store))
    assert [k for _e, k, _c in ledger] == [
        "run_started",
        "observation",
        "sighting",
        "clock_sample",
        "clock_sample",
    ]
    assert [record_from_canonical(c) for _e, _k, c in ledger] == records
    assert ledger[0][0].prev_hash == GENESIS and ledger[-1][0].entry_hash == sealed.batch.head_hash
    (stored,) = load_batches(store)
    assert stored.sealed == sealed and not stored.recovered and stored.tokens == ()
    assert stored.node == key_fingerprint(public_key_raw(node_key))
    assert [n.fingerprint for n in node_keys(store)] == [stored.node]
    assert load_capture(store, _sha(CAPTURE)) == CAPTURE and load_capture(store, bytes(32)) is None
    assert load_blob(store, PROOF.sha256) == BLOCK
    assert load_reference_pieces(store, SWARM_A) == {2: BLOCK}
    assert queries.load_observations(store) == [records[1]]
    assert queries.load_sightings(store) == [records[2]]
    verdict = verify_ledger(store)
    assert verdict.ok, verdict.problems
    assert (verdict.entries, verdict.batches, verdict.rows) == (5, 1, 5)


def test_batches_chain_on_and_content_is_stored_once(store: Store, run_id: int) -> None:
    for i in range(3):
        store.commit_evidence(
            run_id,
            records=[observation(port=1000 + i)],
            captures={_sha(CAPTURE): CAPTURE},
            blobs={PROOF.sha256: BLOCK},
            reference_pieces=[(SWARM_A, 2, BLOCK)],
            sealed_at_us=T0 + i,
        )
    batches = load_batches(store)
    assert [(b.sealed.batch.first_index, b.sealed.batch.last_index) for b in batches] == [
        (0, 0),
        (1, 1),
        (2, 2),
    ]
    with store.engine.connect() as conn:
        for table in ("capture", "blob", "reference_piece"):
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 1
    assert verify_ledger(store).ok


def test_timestamp_tokens_attach_to_batches(store: Store, run_id: int) -> None:
    sealed = store.commit_evidence(run_id, records=[observation()], sealed_at_us=T0)
    assert sealed is not None
    (batch,) = load_batches(store)
    store.add_timestamp_token(batch.id, "http://127.0.0.1:8318/tsa", b"\x30\x03\x02\x01\x01", T0 + 1)
    store.add_timestamp_token(sealed, "http://127.0.0.1:8319/tsa", b"\x30\x00", T0 + 2)
    (again,) = load_batches(store)
    assert [(t.tsa_url, t.token, t.added_us) for t in again.tokens] == [
        ("http://127.0.0.1:8318/tsa", b"\x30\x03\x02\x01\x01", T0 + 1),
        ("http://127.0.0.1:8319/tsa", b"\x30\x00", T0 + 2),
    ]
    with pytest.raises(StoreError):
        store.add_timestamp_token(batch.id + 100, "x", b"", T0)
    other = dataclasses.replace(sealed, batch=dataclasses.replace(sealed.batch, head_hash=bytes(32)))
    with pytest.raises(StoreError, match="no such sealed batch"):
        store.add_timestamp_token(other, "x", b"", T0)


def test_nothing_to_commit_returns_none_but_keeps_content(store: Store, run_id: int) -> None:
    assert store.commit_evidence(run_id, records=[], blobs={PROOF.sha256: BLOCK}, sealed_at_us=T0) is None
    assert load_blob(store, PROOF.sha256) == BLOCK
    assert load_batches(store) == []


def test_a_refused_commit_writes_nothing(store: Store, run_id: int) -> None:
    with pytest.raises(StoreError, match="SHA-256"):
        store.commit_evidence(run_id, records=[observation()], captures={bytes(32): CAPTURE}, sealed_at_us=T0)
    with pytest.raises(StoreError):  # unknown swarm: foreign key
        store.commit_evidence(
            run_id, records=[observation(), observation(infohash="ee" * 20)], sealed_at_us=T0
        )
    assert list(load_ledger(store)) == [] and load_batches(store) == []
    assert queries.load_observations(store) == []
    store.add_observations(run_id, [observation()], sealed_at_us=T0)  # the chain still starts at 0
    assert [e.index for e, _k, _c in load_ledger(store)] == [0]


def test_writes_without_a_node_key_are_refused(db_path: Path, store: Store, run_id: int) -> None:
    reader = open_store(str(db_path), create=False)
    try:
        with pytest.raises(StoreError, match="signing key"):
            reader.add_observations(run_id, [observation()])
        with pytest.raises(StoreError, match="signing key"):
            reader.commit_evidence(run_id, records=[sighting()], sealed_at_us=T0)
        with pytest.raises(StoreError, match="signing key"):
            reader.recover(T0)
    finally:
        reader.close()


def test_two_nodes_keep_separate_chains(db_path: Path, store: Store, run_id: int) -> None:
    other = open_store(str(db_path), node_key=Ed25519PrivateKey.generate(), now_us=T0)
    try:
        store.add_observations(run_id, [observation()], sealed_at_us=T0)
        other.add_observations(run_id, [observation(), observation()], sealed_at_us=T0)
        store.add_sightings(run_id, [sighting()], sealed_at_us=T0)
        verdict = verify_ledger(store)
        assert verdict.ok and verdict.nodes == 2 and verdict.entries == 4 and verdict.batches == 3
    finally:
        other.close()


def _tamper(db_path: Path, statement: str, table: str) -> None:
    """Change a stored row the way an attacker with file access could (dropping the append-only trigger)."""
    with sqlite3.connect(db_path) as raw:
        raw.execute(f"DROP TRIGGER {table}_append_only_update")
        raw.execute(statement)
    raw.close()


@pytest.mark.parametrize(
    ("statement", "table", "what"),
    [
        ("UPDATE observation SET port = 1", "observation", "row altered"),
        ("UPDATE sighting SET ledger_index = 77", "sighting", "row without entry"),
        ("UPDATE ledger_entry SET canonical = canonical || x'00' WHERE idx = 1", "ledger_entry", "chain"),
        ("UPDATE ledger_batch SET signature = zeroblob(64) WHERE id = 1", "ledger_batch", "signature"),
        ("UPDATE ledger_batch SET sealed_at_us = 5 WHERE id = 2", "ledger_batch", "batch columns"),
        (
            "UPDATE ledger_batch SET last_index = 0, head_hash = zeroblob(32) WHERE id = 2",
            "ledger_batch",
            "batch",
        ),
    ],
)
def test_verify_ledger_names_tampering(
    db_path: Path, store: Store, run_id: int, statement: str, table: str, what: str
) -> None:
    store.add_observations(run_id, [observation(), observation(port=2)], sealed_at_us=T0)
    store.add_sightings(run_id, [sighting()], sealed_at_us=T0 + 1)
    assert verify_ledger(store).ok
    _tamper(db_path, statement, table)
    verdict = verify_ledger(store)
    assert not verdict.ok
    assert any(p.what.startswith(what) for p in verdict.problems), verdict.problems


def test_canonical_bytes_of_rebuilt_rows_equal_the_ledger(store: Store, run_id: int) -> None:
    records = _records(run_id)
    store.commit_evidence(run_id, records=records, captures={_sha(CAPTURE): CAPTURE}, sealed_at_us=T0)  # type: ignore[arg-type]
    (obs,) = queries.load_observations(store)
    ledger = {k: c for _e, k, c in load_ledger(store)}
    assert canonical_bytes(obs) == ledger["observation"]
    assert obs.verified_blocks == (PROOF,) and obs.capture_sha256 == _sha(CAPTURE)


def test_append_only_on_ledger_tables(store: Store, run_id: int) -> None:
    store.commit_evidence(run_id, records=[observation()], captures={_sha(CAPTURE): CAPTURE}, sealed_at_us=T0)
    for statement in (
        "UPDATE ledger_entry SET kind = 'x'",
        "DELETE FROM ledger_batch",
        "DELETE FROM capture",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(sa.text(statement))


def test_legacy_store_without_key_still_reads(db_path: Path) -> None:
    open_store(str(db_path)).close()
    with open_store(str(db_path), create=False) as reader:
        add_swarms(reader)
        assert queries.load_observations(reader) == []
        assert verify_ledger(reader).ok


def test_concurrent_writers_of_one_node_serialise_on_sqlite(
    db_path: Path, store: Store, run_id: int, node_key: Ed25519PrivateKey
) -> None:
    check_two_writers_serialise(store, str(db_path), node_key, run_id)
