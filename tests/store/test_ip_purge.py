"""Purge of unresolved IP evidence: exactly the due addresses' rows go, their ledger entries are redacted,
the ledger still verifies and extends, an export of what remains verifies, and every append-only table
still refuses ordinary UPDATE/DELETE (SQLite; PostgreSQL too when ``SWARMSCOPE_TEST_PG_URL`` is set).

The evidence is the world of tests/evidence/test_bundle.py (real probe runs with real captures): three
peers, each with a sighting, an observation with its wire capture, and (added here) an attribution.
SEED_IP has an open case (protected), CHOKE_IP only a withdrawn one and BLOCK_IP none (both due).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from swarmscope.cases.retention import RetentionPolicy, due_ip_addresses
from swarmscope.cli.export import run_export
from swarmscope.cli.purge import run_purge
from swarmscope.cli.verify import run_verify
from swarmscope.errors import InputError
from swarmscope.evidence.capture.decode import decode_capture
from swarmscope.evidence.records import Attribution, Sighting
from swarmscope.evidence.seal import key_fingerprint, private_key_pem, public_key_raw
from swarmscope.store.database import APPEND_ONLY_TABLES, Store, StoreError, open_store
from swarmscope.store.ledger.export import ExportFilters, collect_export
from swarmscope.store.ledger.proven import LedgerProver
from swarmscope.store.ledger.purge_records import NO_PURGE_RECORD
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.store.legal.purge import IpPurge, purge_ip_evidence, purge_log_rows
from swarmscope.store.legal.schema import legal_case, purge_authorization
from swarmscope.store.legal.workflow_seals import seal_current_entry
from swarmscope.store.metadata import metadata
from tests import tampering
from tests.evidence.test_bundle import BLOCK_IP, CHOKE_IP, SEED_IP, T0, World, commit_world, make_world
from tests.pg_server import backend_url, drop_schema

WORLD = make_world()
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
DAY = 86_400 * 10**6
NOW = T0 + 100 * DAY
POLICY = RetentionPolicy(ip_evidence_days=30)
PURGED = {BLOCK_IP, CHOKE_IP}
IP_TABLES = ("observation", "sighting", "attribution")


def due(seen: Any, cases: Any) -> list[str]:
    return due_ip_addresses(seen, cases, NOW, POLICY)


def due_at(now: int) -> Any:
    return lambda seen, cases: due_ip_addresses(seen, cases, now, POLICY)


def _case(doe: str, ip: str, status: str) -> dict[str, Any]:
    return {
        "doe": doe,
        "ip": ip,
        "port": 6881,
        "infohash": WORLD.infohash,
        "first_hit_us": T0,
        "last_hit_us": T0,
        "hits": 3,
        "status": status,
        "created_us": T0,
        "status_us": T0,
    }


def populate(db: str, world: World = WORLD) -> None:
    """The world in three sealed batches with content, attributions in a fourth, two cases."""
    store = open_store(db, node_key=KEY, now_us=T0)
    try:
        run_id = commit_world(store, world)
        attributions = [
            Attribution(ip, T0 + 5_000_000, 64500, "AS64500 Test") for ip in sorted(PURGED | {SEED_IP})
        ]
        store.commit_evidence(run_id, records=attributions, sealed_at_us=T0 + 200_000_000)
        with store._write() as conn:
            conn.execute(
                sa.insert(legal_case),
                [_case("DOE-1", SEED_IP, "identified"), _case("DOE-2", CHOKE_IP, "withdrawn")],
            )
    finally:
        store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A populated store: a SQLite file, or the scratch PostgreSQL database (emptied afterwards)."""
    url = backend_url(request.param, tmp_path)
    try:
        populate(url)
        yield url
    finally:
        if request.param == "postgresql":
            drop_schema(url)


@pytest.fixture
def populated(db: str) -> Iterator[Store]:
    """The populated store of ``db``, opened with its node key (a purge seals its purge record with it)
    for the test and closed after it."""
    store = open_store(db, create=False, node_key=KEY, now_us=T0)
    try:
        yield store
    finally:
        store.close()


def snapshot(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (as column → value), in primary-key order."""
    out = {}
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            query = sa.select(table).order_by(*table.primary_key.columns)
            out[table.name] = [dict(row._mapping) for row in conn.execute(query)]
    return out


def _refs(before: dict[str, list[dict[str, Any]]], keep: bool) -> tuple[set[bytes], set[bytes]]:
    """(captures, blobs) the kept (or the purged) observations reference."""
    captures, blobs = set(), set()
    stored = {bytes(r["sha256"]): bytes(r["data"]) for r in before["capture"]}
    for row in before["observation"]:
        if (row["ip"] not in PURGED) is keep:
            blobs |= {bytes.fromhex(p[3]) for p in row["verified_blocks"]}
            if row["capture_sha256"] is not None:
                sha = bytes(row["capture_sha256"])
                captures.add(sha)
                blobs |= {s[0] for s in decode_capture(stored[sha]).received if isinstance(s, tuple)}
    return captures, blobs


def test_purge_removes_exactly_the_due_evidence(populated: Store) -> None:
    before = snapshot(populated)
    outcome = purge_ip_evidence(populated, due, rule=POLICY.ip_rule, now_us=NOW)
    after = snapshot(populated)
    verdict = verify_ledger(populated)
    gone_index = {r["ledger_index"] for t in IP_TABLES for r in before[t] if r["ip"] in PURGED}
    assert len(gone_index) == 6  # a sighting, an observation and an attribution per purged address
    for table in IP_TABLES:
        assert after[table] == [r for r in before[table] if r["ip"] not in PURGED]
        assert {r["ip"] for r in after[table]} == {SEED_IP}  # the open case protects its address
    for old, new in zip(before["ledger_entry"], after["ledger_entry"][:-1], strict=True):
        if old["idx"] in gone_index:
            assert new == {**old, "canonical": None, "redacted_rule": POLICY.ip_rule, "redacted_us": NOW}
        else:
            assert new == old
    sealed = after["ledger_entry"][-1]  # the purge record, sealed after the redaction in a batch of its own
    assert (sealed["kind"], sealed["idx"]) == ("redaction", before["ledger_entry"][-1]["idx"] + 1)
    [purge_record] = after["redaction"]
    assert (purge_record["rule"], purge_record["purged_at_us"], purge_record["ledger_index"]) == (
        POLICY.ip_rule,
        NOW,
        sealed["idx"],
    )
    named = {
        (fingerprint, index, kind, bytes.fromhex(digest))
        for fingerprint, index, kind, digest in purge_record["entries"]
    }
    assert named == {
        (key_fingerprint(public_key_raw(KEY)), old["idx"], old["kind"], bytes(old["record_hash"]))
        for old in before["ledger_entry"]
        if old["idx"] in gone_index
    }
    assert len(after["ledger_batch"]) == len(before["ledger_batch"]) + 1
    kept_captures, kept_blobs = _refs(before, keep=True)
    gone_captures, gone_blobs = _refs(before, keep=False)
    assert {bytes(r["sha256"]) for r in after["capture"]} == kept_captures and len(gone_captures) == 2
    assert {bytes(r["sha256"]) for r in after["blob"]} == {
        bytes(r["sha256"]) for r in before["blob"] if bytes(r["sha256"]) not in gone_blobs - kept_blobs
    }
    assert kept_blobs <= {bytes(r["sha256"]) for r in after["blob"]}  # nothing a kept record needs went
    removed_blobs = len(before["blob"]) - len(after["blob"])
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {*IP_TABLES, "ledger_entry", "ledger_batch", "redaction", "capture", "purge_log"} | (
        {"blob"} if removed_blobs else set()
    )
    assert after["purge_log"][:-1] == before["purge_log"] and after["purge_authorization"] == []
    counts = {t: 2 for t in IP_TABLES}
    assert outcome == IpPurge(2, counts, 6, 2, removed_blobs)
    [log] = after["purge_log"]
    assert (log["kind"], log["rule"], log["count"], log["at_us"]) == (
        "ip_evidence",
        "ip_evidence_days=30",
        2,
        NOW,
    )
    assert log["detail"] == outcome.detail()
    assert not any(ip in repr(after["purge_log"]) for ip in (SEED_IP, BLOCK_IP, CHOKE_IP))
    assert verdict.ok, verdict.problems
    assert verdict.redacted == ((POLICY.ip_rule, 6),)
    assert verdict.purges == ((key_fingerprint(public_key_raw(KEY)), sealed["idx"], POLICY.ip_rule, NOW, 6),)


def test_a_second_purge_finds_nothing_and_logs_that(populated: Store) -> None:
    purge_ip_evidence(populated, due, rule=POLICY.ip_rule, now_us=NOW)
    again = purge_ip_evidence(populated, due, rule=POLICY.ip_rule, now_us=NOW + DAY)
    assert again == IpPurge(0, {t: 0 for t in IP_TABLES}, 0, 0, 0)
    assert [(r.kind, r.count) for r in purge_log_rows(populated)] == [("ip_evidence", 2), ("ip_evidence", 0)]
    assert verify_ledger(populated).ok


def test_dry_run_changes_nothing(populated: Store) -> None:
    before = snapshot(populated)
    dry = purge_ip_evidence(populated, due, rule=POLICY.ip_rule, now_us=NOW, dry_run=True)
    assert snapshot(populated) == before
    assert dry == purge_ip_evidence(populated, due, rule=POLICY.ip_rule, now_us=NOW)


def test_fresh_evidence_and_cases_protect_an_address(populated: Store) -> None:
    before = snapshot(populated)
    early = purge_ip_evidence(populated, due_at(T0 + 10 * DAY), rule=POLICY.ip_rule, now_us=T0, dry_run=True)
    assert early.addresses == 0  # nothing is older than 30 days yet
    with populated._write() as conn:
        conn.execute(sa.insert(legal_case).values(_case("DOE-3", BLOCK_IP, "candidate")))
    assert purge_ip_evidence(populated, due, rule=POLICY.ip_rule, now_us=NOW).addresses == 1
    after = snapshot(populated)
    assert {r["ip"] for r in after["observation"]} == {SEED_IP, BLOCK_IP}
    assert [r for r in after["observation"] if r["ip"] == BLOCK_IP] == [
        r for r in before["observation"] if r["ip"] == BLOCK_IP
    ]
    assert verify_ledger(populated).ok


def test_ledger_extends_and_the_rest_exports_and_verifies(db: str, tmp_path: Path) -> None:
    store = open_store(db, create=False, node_key=KEY, now_us=T0)
    try:
        purge_ip_evidence(store, due, rule=POLICY.ip_rule, now_us=NOW)
    finally:
        store.close()
    writer = open_store(db, node_key=KEY, now_us=NOW)  # recovery re-checks the last batch: clean
    try:
        assert writer.recovery is not None and writer.recovery.clean
        later = Sighting(WORLD.infohash, "127.0.0.99", 6881, "tracker", "http://127.0.0.1:6969/announce", NOW)
        assert writer.commit_evidence(1, records=[later], sealed_at_us=NOW + 1) is not None
        verdict = verify_ledger(writer)
        assert verdict.ok and verdict.redacted == ((POLICY.ip_rule, 6),), verdict.problems
    finally:
        writer.close()
    key_file = tmp_path / "node-key.pem"
    key_file.write_bytes(private_key_pem(KEY))
    key_file.chmod(0o600)
    out = tmp_path / "bundle"
    result = run_export(db=db, out=out, key_path=key_file, now_us=NOW + 2)
    console = Console(file=open(os.devnull, "w"), width=200)  # noqa: SIM115
    assert run_verify(out, expect_key=key_fingerprint(public_key_raw(KEY)), console=console) == 0
    assert result.records > 0
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(ip.encode() in data for ip in PURGED), path  # no purged address anywhere
    assert SEED_IP.encode() in (out / "records/observations.jsonl").read_bytes()


# ---- the triggers ----------------------------------------------------------------------------------


def _fill_logs(store: Store) -> None:
    """A row in every append-only table the world leaves empty (inserts are allowed)."""
    store.add_timestamp_token(1, "http://127.0.0.1:3180/tsa", b"\x30\x00", T0)
    with store._write() as conn:
        values = {"at_us": T0, "actor": "dpo", "note": None}
        isp = conn.execute(
            sa.text("INSERT INTO isp (name, asns, added_us) VALUES ('ISP', '[]', 0) RETURNING id")
        ).scalar_one()
        request = conn.execute(
            sa.text(
                "INSERT INTO disclosure_request (isp_id, status, created_us, status_us) "
                "VALUES (:isp, 'drafted', 0, 0) RETURNING id"
            ),
            {"isp": isp},
        ).scalar_one()
        metadata.tables["disclosure_event"].insert()
        conn.execute(
            metadata.tables["disclosure_event"].insert().values(request_id=request, status="served", **values)
        )
        conn.execute(metadata.tables["case_event"].insert().values(case_id=1, status="identified", **values))
        conn.execute(
            metadata.tables["audit_log"]
            .insert()
            .values(at_us=T0, actor="dpo", action="read", subject="case:DOE-1")
        )
        conn.execute(
            metadata.tables["quarantined_row"]
            .insert()
            .values(table_name="observation", row_id=999, reason="test", detected_us=T0)
        )
    seal_current_entry(store, "isp", int(isp), T0)  # a sealed workflow decision (workflow_event)


def _first_column(table: str) -> str:
    return next(c.name for c in metadata.tables[table].columns if not c.primary_key)


@pytest.mark.parametrize("action", ["DELETE", "UPDATE"])
def test_every_append_only_table_still_refuses_writes_after_a_purge(populated: Store, action: str) -> None:
    purge_ip_evidence(populated, due, rule=POLICY.ip_rule, now_us=NOW)
    _fill_logs(populated)
    before = snapshot(populated)
    for table in APPEND_ONLY_TABLES:
        assert before[table], table
        column = _first_column(table)
        statement = (
            f"DELETE FROM {table}" if action == "DELETE" else f"UPDATE {table} SET {column} = {column}"
        )
        with pytest.raises(StoreError, match="append-only"), populated._write() as conn:
            conn.execute(sa.text(statement))
    redact = "UPDATE ledger_entry SET canonical = NULL, redacted_rule = 'x', redacted_us = 1"
    with pytest.raises(StoreError, match="append-only"), populated._write() as conn:
        conn.execute(sa.text(redact))
    assert snapshot(populated) == before


def _sealed_index(store: Store, kind: str, ip: str | None = None) -> int:
    query = "SELECT idx FROM ledger_entry WHERE kind = :kind ORDER BY idx"
    with store.engine.connect() as conn:
        indices = list(conn.execute(sa.text(query), {"kind": kind}).scalars())
        if ip is None:
            return int(indices[0])
        table = metadata.tables[kind]
        return int(conn.execute(sa.select(table.c.ledger_index).where(table.c.ip == ip)).scalar_one())


NARROW = {
    "delete a row whose entry is not redacted": "DELETE FROM observation WHERE ip = :ip",
    "delete a ledger entry": "DELETE FROM ledger_entry WHERE idx = :obs",
    "rewrite canonical bytes": "UPDATE ledger_entry SET canonical = :junk WHERE idx = :obs",
    "redact without a rule": "UPDATE ledger_entry SET canonical = NULL WHERE idx = :obs",
    "redact a clock sample": (
        "UPDATE ledger_entry SET canonical = NULL, redacted_rule = 'r', redacted_us = 1 WHERE idx = :clock"
    ),
    "redact and change a hash": (
        "UPDATE ledger_entry SET canonical = NULL, redacted_rule = 'r', redacted_us = 1, "
        "record_hash = :junk WHERE idx = :obs"
    ),
    "delete a capture an observation names": "DELETE FROM capture",
    "update an observation": "UPDATE observation SET port = 1 WHERE ip = :ip",
    "delete a clock sample": "DELETE FROM clock_sample",
    "delete a batch": "DELETE FROM ledger_batch",
    "delete the purge log": "DELETE FROM purge_log",
}


@pytest.mark.parametrize("statement", NARROW.values(), ids=NARROW.keys())
def test_an_authorization_allows_only_the_purge_itself(populated: Store, statement: str) -> None:
    purge_ip_evidence(populated, due, rule=POLICY.ip_rule, now_us=NOW)  # a purge_log row to protect
    params = {
        "ip": SEED_IP,
        "obs": _sealed_index(populated, "observation", SEED_IP),
        "clock": _sealed_index(populated, "clock_sample"),
        "junk": hashlib.sha256(b"junk").digest(),
    }
    before = snapshot(populated)
    with pytest.raises(StoreError, match="append-only"), populated._write() as conn:
        conn.execute(sa.insert(purge_authorization).values(rule="r", at_us=NOW))
        conn.execute(sa.text(statement), params)
    assert snapshot(populated) == before


def test_an_unsealed_entry_is_not_redacted(tmp_path: Path) -> None:
    db = str(tmp_path / "evidence.db")
    populate(db)
    raw = sqlite3.connect(db)  # as if the last batch's seal were lost (foreign keys off, trigger dropped)
    with raw:
        raw.execute("DROP TRIGGER ledger_batch_append_only_delete")
        raw.execute("DELETE FROM ledger_batch WHERE id = (SELECT max(id) FROM ledger_batch)")
    raw.close()
    store = open_store(db, create=False)
    try:
        before = snapshot(store)
        with pytest.raises(StoreError, match="not sealed yet"):
            purge_ip_evidence(store, due, rule=POLICY.ip_rule, now_us=NOW)
        assert snapshot(store) == before
    finally:
        store.close()


def test_missing_bytes_without_a_recorded_purge_are_a_problem(tmp_path: Path) -> None:
    db = str(tmp_path / "evidence.db")
    populate(db)
    raw = sqlite3.connect(db)  # tampering outside any purge: bytes gone, no rule recorded
    with raw:
        raw.execute("DROP TRIGGER ledger_entry_append_only_update")
        raw.execute("UPDATE ledger_entry SET canonical = NULL WHERE kind = 'clock_sample'")
    raw.close()
    store = open_store(db, create=False)
    try:
        verdict = verify_ledger(store)
    finally:
        store.close()
    assert not verdict.ok and verdict.redacted == ()
    assert {p.what for p in verdict.problems} == {
        "record bytes missing",
        "row of a purged entry",
        "entries without rows",
    }


# ---- the sealed purge record ----------------------------------------------------------------------


def key_file(tmp_path: Path) -> Path:
    """The node key in a file (``swarmscope purge --node-key``)."""
    path = tmp_path / "node-key.pem"
    path.write_bytes(private_key_pem(KEY))
    path.chmod(0o600)
    return path


def tamper(store: Store, *statements: str) -> None:
    """Run SQL with the append-only triggers out of the way (write access, no node key)."""
    tampering.tamper(store, ("ledger_entry", "redaction", "observation"), *statements)


def node_problem(store: Store) -> str | None:
    """What the workflow's prover (trusting KEY) says of the node's ledger as stored."""
    with store.engine.connect() as conn:
        prover = LedgerProver(conn, frozenset({key_fingerprint(public_key_raw(KEY))}), NOW)
        return prover.node_problem(1)


def test_an_honest_cli_purge_verifies_exports_and_the_bundle_verifies(db: str, tmp_path: Path) -> None:
    key = key_file(tmp_path)
    outcome = run_purge(db, POLICY, actor="dpo", now_us=NOW, dry_run=False, key_path=key)
    assert outcome.ip.entries == 6
    store = open_store(db, create=False)
    try:
        verdict = verify_ledger(store)
        purge_index = int(snapshot(store)["redaction"][0]["ledger_index"])
        assert node_problem(store) is None
    finally:
        store.close()
    assert verdict.ok and verdict.redacted == ((POLICY.ip_rule, 6),), verdict.problems
    assert verdict.purges == ((key_fingerprint(public_key_raw(KEY)), purge_index, POLICY.ip_rule, NOW, 6),)
    out = tmp_path / "bundle"
    assert run_export(db=db, out=out, key_path=key, now_us=NOW + 2).records > 0
    console = Console(file=open(os.devnull, "w"), width=200)  # noqa: SIM115
    assert run_verify(out, expect_key=key_fingerprint(public_key_raw(KEY)), console=console) == 0


def test_a_purge_without_the_node_key_changes_nothing(db: str, tmp_path: Path) -> None:
    store = open_store(db, create=False)  # a reader: no private key to seal the purge record with
    try:
        before = snapshot(store)
        with pytest.raises(StoreError, match="signing key"):
            purge_ip_evidence(store, due, rule=POLICY.ip_rule, now_us=NOW)
        assert purge_ip_evidence(store, due, rule=POLICY.ip_rule, now_us=NOW, dry_run=True).entries == 6
        assert snapshot(store) == before
    finally:
        store.close()
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(InputError, match=f"node key {missing}: no such file; pass --node-key"):
        run_purge(db, POLICY, actor="dpo", now_us=NOW, dry_run=False, key_path=missing)
    store = open_store(db, create=False)
    try:
        assert snapshot(store) == before
    finally:
        store.close()


def test_a_kind_column_altered_on_an_honestly_purged_entry_is_caught(populated: Store) -> None:
    purge_ip_evidence(populated, due, rule=POLICY.ip_rule, now_us=NOW)
    [record] = snapshot(populated)["redaction"]
    [index] = [int(i) for _node, i, kind, _hash in record["entries"] if kind == "observation"][:1]
    tamper(populated, f"UPDATE ledger_entry SET kind = 'sighting' WHERE idx = {index}")
    verdict = verify_ledger(populated)
    assert not verdict.ok
    [problem] = [p for p in verdict.problems if p.index == index]
    assert problem.detail.startswith("kind column altered: it says sighting"), problem
    assert node_problem(populated) == f"ledger index {index}: record bytes missing ({problem.detail})"
    with pytest.raises(StoreError, match=f"index {index}: record bytes missing \\(kind column altered"):
        collect_export(populated, ExportFilters())


PURGE_RECORD_ATTACKS = {
    "row deleted": "DELETE FROM redaction",
    "entry deleted": "DELETE FROM ledger_entry WHERE kind = 'redaction'",
    "bytes altered": (
        "UPDATE ledger_entry SET canonical = (SELECT canonical FROM ledger_entry WHERE kind = 'clock_sample' "
        "ORDER BY idx LIMIT 1) WHERE kind = 'redaction'"
    ),
    "itself redacted": (
        "UPDATE ledger_entry SET canonical = NULL, kind = 'observation', redacted_rule = 'r', "
        "redacted_us = 1 WHERE kind = 'redaction'"
    ),
    "rule column altered": (
        "UPDATE ledger_entry SET redacted_rule = 'ip_evidence_days=1' WHERE canonical IS NULL"
    ),
}


@pytest.mark.parametrize("attack", PURGE_RECORD_ATTACKS.values(), ids=PURGE_RECORD_ATTACKS.keys())
def test_a_purge_record_deleted_or_altered_is_caught(populated: Store, attack: str) -> None:
    purge_ip_evidence(populated, due, rule=POLICY.ip_rule, now_us=NOW)
    assert verify_ledger(populated).ok and node_problem(populated) is None
    tamper(populated, attack)
    verdict = verify_ledger(populated)
    assert not verdict.ok and verdict.problems
    # the workflow reads the sealed record, never its row: a deleted row changes nothing there
    assert (node_problem(populated) is None) == (attack == PURGE_RECORD_ATTACKS["row deleted"])
    with pytest.raises(StoreError, match="does not verify, refusing to export"):
        collect_export(populated, ExportFilters())


def test_a_purge_record_of_another_node_counts_for_verify_and_only_when_trusted_for_the_workflow(
    db: str,
) -> None:
    other = Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34)))
    store = open_store(db, create=False, node_key=other, now_us=T0)  # a second node of the store purges
    try:
        purge_ip_evidence(store, due, rule=POLICY.ip_rule, now_us=NOW)
        verdict = verify_ledger(store)
        [(sealer, index, *_rest)] = verdict.purges
        assert verdict.ok and verdict.redacted == ((POLICY.ip_rule, 6),), verdict.problems
        assert (sealer, index) == (key_fingerprint(public_key_raw(other)), 0)  # its own chain's first entry
        node_1_only = verify_ledger(store, key_fingerprint(public_key_raw(KEY)))
        assert node_1_only.ok and node_1_only.purges == verdict.purges
        problem = node_problem(store)  # the workflow trusts KEY only
        assert problem is not None and NO_PURGE_RECORD in problem and "untrusted key" in problem, problem
        both = frozenset(key_fingerprint(public_key_raw(k)) for k in (KEY, other))
        with store.engine.connect() as conn:
            assert LedgerProver(conn, both, NOW).node_problem(1) is None
    finally:
        store.close()


def test_a_row_pointing_at_a_clock_sample_entry_is_refused_not_redacted(populated: Store) -> None:
    """A due row relinked (triggers dropped) to a clock sample's entry: the purge reads the entry's true
    kind from its bytes and refuses, naming the index; nothing changes."""
    clock = _sealed_index(populated, "clock_sample")
    tamper(populated, f"UPDATE observation SET ledger_index = {clock} WHERE ip = '{BLOCK_IP}'")
    before = snapshot(populated)
    with pytest.raises(StoreError, match=f"ledger entry {clock} holds a clock_sample, which no purge may"):
        purge_ip_evidence(populated, due, rule=POLICY.ip_rule, now_us=NOW)
    assert snapshot(populated) == before
