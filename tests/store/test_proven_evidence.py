"""Verified observations proven against the sealed ledger (SQLite; PostgreSQL with SWARMSCOPE_TEST_PG_URL).

Each test tampers with the database the way someone with write access but without the node's key can:
the append-only triggers disabled, rows UPDATEd or INSERTed, a node key of their own registered and used
to seal. Only rows proven equal to a record sealed under a trusted key, dated before their seal and the
caller's "now", and not a second copy of a record or capture, come back as hits; the rest are named.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.evidence.records import Observation, Source, Tier
from swarmscope.evidence.seal import NOT_EVIDENCE, key_fingerprint, public_key_raw
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.proven import ProvenEvidence, proven_observations
from swarmscope.store.ledger.schema import observation
from swarmscope.store.ledger.verify import verify_ledger
from tests import tampering
from tests.tampering import append_unsealed, backend_store

IH = "ab" * 20
T0 = 1_796_000_000_000_000  # UTC µs
MIN = 60 * 10**6
SEALED = T0 + 60 * MIN
NOW = T0 + 120 * MIN
KEY = Ed25519PrivateKey.generate()
TRUSTED = {key_fingerprint(public_key_raw(KEY))}


def obs(ip: str, minute: int, tier: Tier = Tier.VERIFIED, **kw: object) -> Observation:
    start = T0 + minute * MIN
    verified = tier is Tier.VERIFIED
    fields: dict[str, object] = {
        "failure": None if verified else "no_pieces",
        "verified_pieces": (0,) if verified else (),
        "bytes_received": 16384 if verified else 0,
        "capture_sha256": hashlib.sha256(f"{ip} {minute}".encode()).digest(),
    }
    fields.update(kw)
    return Observation(IH, ip, 6881, Source.TRACKER.value, start, start + 2_000_000, tier, **fields)  # type: ignore[arg-type]


HONEST = [obs("127.0.1.1", m) for m in (0, 10, 20)]
LEECHER = obs("127.0.1.2", 5, Tier.CONNECTED)
CORRUPT = obs("127.0.1.3", 6, Tier.CONNECTED, failure="hash_mismatch", failed_pieces=(0,))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store sealed by KEY: three honest verified hits, an empty leecher, a corrupt peer."""
    with backend_store(request.param, tmp_path, KEY, T0) as s:
        s.add_swarm(IH, IH, None, "work.bin", 4, 16384, 65536, None, None, T0)
        run = s.start_run({}, "0.1.0", T0)
        s.commit_evidence(run, records=[*HONEST, LEECHER, CORRUPT], sealed_at_us=SEALED)
        yield s


def tamper(store: Store, *statements: str) -> None:
    """Run SQL with the append-only triggers out of the way (an attacker with write access)."""
    tampering.tamper(store, ("observation", "ledger_entry", "ledger_batch"), *statements)


def proven(store: Store, trusted: set[str] = TRUSTED, now_us: int = NOW) -> ProvenEvidence:
    return proven_observations(store, trusted, now_us, infohash=IH)


def refused_ips(result: ProvenEvidence) -> dict[str, str]:
    return {r.ip: r.reason for r in result.refused}


def test_honest_rows_are_proven(store: Store) -> None:
    result = proven(store)
    assert [h.started_us for h in result.hits] == [o.started_us for o in HONEST]
    assert result.refused == ()


@pytest.mark.parametrize("ip", ["127.0.1.2", "127.0.1.3"])
def test_a_row_edited_to_verified_is_refused_and_named(store: Store, ip: str) -> None:
    tamper(store, f"UPDATE observation SET tier = 'verified', failure = NULL WHERE ip = '{ip}'")
    result = proven(store)
    assert len(result.hits) == 3 and {h.ip for h in result.hits} == {"127.0.1.1"}
    (row,) = result.refused
    assert row.ip == ip and "row altered" in row.reason and row.ledger_index is not None
    assert f"observation {row.observation_id} (ledger index {row.ledger_index}) {ip}:6881" in row.describe()


def test_a_hit_moved_into_the_future_is_refused(store: Store) -> None:
    tamper(store, f"UPDATE observation SET started_us = {NOW + MIN}, ended_us = {NOW + 2 * MIN} WHERE id = 3")
    result = proven(store)
    assert len(result.hits) == 2 and [r.observation_id for r in result.refused] == [3]


def test_an_invented_row_borrowing_a_ledger_index_is_refused(store: Store) -> None:
    columns = [c.name for c in observation.c if c.name != "id"]
    copied = ", ".join("'127.0.1.9'" if c == "ip" else c for c in columns)
    tamper(
        store, f"INSERT INTO observation ({', '.join(columns)}) SELECT {copied} FROM observation WHERE id = 1"
    )
    result = proven(store)
    assert len(result.hits) == 3
    assert refused_ips(result) == {"127.0.1.9": "row altered: it differs from its sealed record"}


def test_seals_under_a_key_the_caller_does_not_trust_are_refused(store: Store) -> None:
    foreign = Ed25519PrivateKey.generate()  # registered in node_key by whoever can write the database
    store.attach_node_key(foreign, T0)
    run = store.start_run({}, "0.1.0", T0)
    store.commit_evidence(run, records=[obs("127.0.1.7", m) for m in (0, 10, 20)], sealed_at_us=SEALED)
    result = proven(store)
    assert {h.ip for h in result.hits} == {"127.0.1.1"}
    assert [r.ip for r in result.refused] == ["127.0.1.7"] * 3
    assert all("untrusted key" in r.reason for r in result.refused)
    both = proven(store, TRUSTED | {key_fingerprint(public_key_raw(foreign))})
    assert len(both.hits) == 6 and both.refused == ()


def test_a_broken_seal_or_chain_refuses_the_rows_of_its_batch(store: Store) -> None:
    tamper(store, "UPDATE ledger_entry SET record_hash = entry_hash WHERE idx = 2")
    result = proven(store)
    assert result.hits == () and len(result.refused) == 3
    assert all("chain of its batch" in r.reason for r in result.refused)


def test_sealed_hits_dated_after_their_seal_or_after_now_are_refused(store: Store) -> None:
    run = store.start_run({}, "0.1.0", T0)
    late = obs("127.0.1.5", 100)  # starts 40 minutes after the seal below
    store.commit_evidence(run, records=[late], sealed_at_us=SEALED)
    store.commit_evidence(run, records=[obs("127.0.1.6", 150)], sealed_at_us=NOW + 60 * MIN)
    result = proven(store)
    reasons = refused_ips(result)
    assert reasons["127.0.1.5"].startswith("dated after its seal")
    assert reasons["127.0.1.6"].startswith("dated in the future")
    assert len(result.hits) == 3


def test_a_duplicated_observation_counts_once_and_is_named(store: Store) -> None:
    run = store.start_run({}, "0.1.0", T0)
    store.commit_evidence(run, records=[HONEST[1]], sealed_at_us=SEALED + 1)  # the same record re-sealed
    store.commit_evidence(
        run, records=[replace(HONEST[2], ended_us=HONEST[2].ended_us + 1)], sealed_at_us=SEALED + 2
    )
    result = proven(store)
    assert len(result.hits) == 3
    assert [r.duplicate for r in result.refused] == [True, True]
    assert "the same sealed record as observation 2" in result.refused[0].reason
    assert "the same wire capture as observation 3" in result.refused[1].reason


def test_an_empty_trust_proves_nothing(store: Store) -> None:
    result = proven(store, set())
    assert result.hits == () and len(result.refused) == 3


def test_a_row_whose_columns_no_longer_rebuild_is_refused_not_a_crash(store: Store) -> None:
    tamper(store, "UPDATE observation SET verified_pieces = '\"x\"', quirks = '7' WHERE id = 2")
    result = proven(store)
    assert len(result.hits) == 2
    ((row),) = result.refused
    assert row.observation_id == 2 and row.reason.startswith("row altered")


def test_records_sealed_late_by_recovery_are_not_evidence(store: Store) -> None:
    # hashes need no key: a database writer appends entries and rows after the last seal; the next writer
    # open seals them late (to keep the chain tiling) in a batch whose signed clock says so
    run = store.start_run({}, "0.1.0", T0)
    span = append_unsealed(store, run, [obs("127.0.1.8", m) for m in (1, 11, 21)])
    url = str(store.engine.url.render_as_string(hide_password=False))
    if store.engine.dialect.name == "sqlite":
        url = str(store.engine.url.database)
    with open_store(url, node_key=KEY, now_us=SEALED) as again:
        assert again.recovery is not None and again.recovery.recovered_batch == span
        result = proven(again)
        assert len(result.hits) == 3 and {h.ip for h in result.hits} == {"127.0.1.1"}
        assert {r.ip for r in result.refused} == {"127.0.1.8"} and len(result.refused) == 3
        assert all(r.reason.startswith(NOT_EVIDENCE) for r in result.refused)
        verdict = verify_ledger(again)
        assert verdict.ok and [(b.first, b.last, b.entries) for b in verdict.late] == [(*span, 3)]
        tamper(again, "UPDATE ledger_batch SET recovered = FALSE, recovered_detail = NULL")
        assert {r.ip for r in proven(again).refused} == {"127.0.1.8"}  # the flag that counts is signed
