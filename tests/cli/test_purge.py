"""``swarmscope purge``: --dry-run changes nothing; a real run deletes due identities only and logs it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from swarmscope.cases.retention import RetentionPolicy
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.purge import run_purge
from swarmscope.evidence.seal import private_key_pem
from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import default_key_path
from swarmscope.store.ledger.queries import load_observations
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.store.legal.purge import purge_log_rows
from swarmscope.store.legal.subscribers import subscriber_rows
from tests.store.factories import T0, add_swarms
from tests.store.test_purge import NOW, build_world, snapshot

register_commands()  # as the swarmscope entry point does: every command, whatever ran before

RUNNER = CliRunner()


def make_db(tmp_path: Path) -> Path:
    """The world of tests/store/test_purge.py, its node key in the default file beside the database."""
    db = tmp_path / "evidence.db"
    key = Ed25519PrivateKey.generate()
    key_file = default_key_path(str(db))
    key_file.write_bytes(private_key_pem(key))
    key_file.chmod(0o600)
    store = open_store(str(db), node_key=key, now_us=T0)
    try:
        add_swarms(store)
        build_world(store, store.start_run({}, "0.1.0", T0))
    finally:
        store.close()
    return db


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    store = open_store(str(db), create=False)
    before = snapshot(store)
    store.close()
    outcome = run_purge(str(db), RetentionPolicy(30, 6), actor="dpo", now_us=NOW, dry_run=True)
    assert outcome.identity_does == ("DOE-000001",) and outcome.identities_deleted == 0
    result = RUNNER.invoke(app, ["purge", "--dry-run", "--db", str(db)])  # the real clock
    assert result.exit_code == 0, result.output
    store = open_store(str(db), create=False)
    try:
        assert snapshot(store) == before
    finally:
        store.close()


def test_purge_deletes_and_reports(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    dry = run_purge(str(db), RetentionPolicy(30, 6), actor="dpo", now_us=NOW, dry_run=True)
    outcome = run_purge(str(db), RetentionPolicy(30, 6), actor="dpo", now_us=NOW, dry_run=False)
    assert outcome.identities_deleted == 1
    # 127.0.0.3 (withdrawn case) and 127.0.0.5 (no case) are stale unresolved evidence: purged
    rows = {"observation": 2, "sighting": 1, "attribution": 0}
    assert outcome.ip_addresses == 2 and outcome.ip_rows == rows and outcome.ip.entries == 3
    assert dry.ip == outcome.ip
    result = RUNNER.invoke(app, ["purge", "--db", str(db), "--actor", "dpo", "--identity-months", "1"])
    assert result.exit_code == 0, result.output
    assert "identities (identity_months_after_close=1)" in result.output
    assert "unresolved IP evidence (ip_evidence_days=90): 0 addresses purged" in result.output
    store = open_store(str(db), create=False)
    try:
        # the fixtures' cases close after the real clock's today: the CLI run finds nothing due, logs that
        assert [r.doe for r in subscriber_rows(store)] == ["DOE-000002", "DOE-000003"]
        assert [(log.kind, log.count) for log in purge_log_rows(store)] == [
            ("identity", 1),
            ("ip_evidence", 2),
            ("identity", 0),
            ("ip_evidence", 0),
        ]
        assert {o.ip for o in load_observations(store)} == {"127.0.0.2", "127.0.0.4"}
        verdict = verify_ledger(store)
        assert verdict.ok and verdict.redacted == (("ip_evidence_days=30", 3),), verdict.problems
    finally:
        store.close()


def test_purge_seals_its_record_with_the_node_key_beside_the_database(tmp_path: Path) -> None:
    """The real command and clock: the fixtures' evidence (from 2026-11-30) is older than one day."""
    db = make_db(tmp_path)
    args = [
        "purge",
        "--db",
        str(db),
        "--actor",
        "dpo",
        "--ip-evidence-days",
        "1",
        "--identity-months",
        "1200",
    ]
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "unresolved IP evidence (ip_evidence_days=1): 2 addresses purged" in result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("purge record sealed")]
    store = open_store(str(db), create=False)
    try:
        verdict = verify_ledger(store)
    finally:
        store.close()
    assert verdict.ok and verdict.redacted == (("ip_evidence_days=1", 3),), verdict.problems
    ((node, index, rule, _at, entries),) = verdict.purges
    assert line == f"purge record sealed at ledger index {index} by node {node}"
    assert (rule, entries) == ("ip_evidence_days=1", 3)
    shown = RUNNER.invoke(app, ["verify", "--db", str(db)])
    assert shown.exit_code == 0, shown.output
    assert "redacted: 3 entries under ip_evidence_days=1" in shown.output
    assert f"purge record: node {node} index {index}: 3 entries under ip_evidence_days=1, " in shown.output
    assert shown.output.rstrip().endswith("VERIFIED: the ledger holds")


def test_verify_db_names_each_index_a_faked_purge_hid(tmp_path: Path) -> None:
    """Without the key: a sealed observation's bytes removed, a purge rule and time filled in."""
    db = make_db(tmp_path)
    with sqlite3.connect(db) as raw:
        raw.execute("DROP TRIGGER ledger_entry_append_only_update")
        hidden = [
            int(i)
            for (i,) in raw.execute("SELECT ledger_index FROM observation WHERE ip = '127.0.0.2'").fetchall()
        ]
        raw.execute(
            "UPDATE ledger_entry SET canonical = NULL, redacted_rule = 'ip_evidence_days=90', redacted_us = 1"
            " WHERE idx IN (SELECT ledger_index FROM observation WHERE ip = '127.0.0.2')"
        )
    raw.close()
    result = RUNNER.invoke(app, ["verify", "--db", str(db)])
    assert result.exit_code == 1, result.output
    for index in hidden:
        assert (
            f" index {index}: record bytes missing (redacted without a sealed purge record)" in result.output
        )
    as_json = json.loads(RUNNER.invoke(app, ["verify", "--db", str(db), "--json"]).output)
    assert as_json["ok"] is False and as_json["redacted"] == [] and as_json["purge_records"] == []
    missing = [p["index"] for p in as_json["problems"] if p["what"] == "record bytes missing"]
    assert missing == sorted(hidden)
    assert RUNNER.invoke(app, ["verify", "--db", str(tmp_path / "none.db")]).exit_code == 2
    assert RUNNER.invoke(app, ["verify"]).exit_code == 2


def test_purge_without_a_key_file_refuses_in_one_line_and_changes_nothing(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    default_key_path(str(db)).rename(tmp_path / "elsewhere.pem")
    store = open_store(str(db), create=False)
    before = snapshot(store)
    store.close()
    args = ["purge", "--db", str(db), "--ip-evidence-days", "1", "--identity-months", "1"]
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "Traceback" not in result.output, result.output
    assert "3 sealed ledger entries are due for redaction" in result.output
    assert "no such file; pass --node-key" in result.output
    assert RUNNER.invoke(app, [*args, "--dry-run"]).exit_code == 0  # a dry run needs no key
    assert RUNNER.invoke(app, ["purge", "--db", str(db), "--identity-months", "1"]).exit_code == 0
    store = open_store(str(db), create=False)
    try:
        after = snapshot(store)
    finally:
        store.close()
    # the identity-only purge (IP evidence: 90 days, nothing due) ran without a key; no evidence changed
    assert {t: rows for t, rows in after.items() if t not in ("subscriber", "audit_log", "purge_log")} == {
        t: rows for t, rows in before.items() if t not in ("subscriber", "audit_log", "purge_log")
    }
