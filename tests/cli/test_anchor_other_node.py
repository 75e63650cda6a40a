"""The outside anchor (``verify --db --expect-head FINGERPRINT:INDEX:HASH``) must be met by the recorded
node's own chain. Entry hashes do not name the node (evidence.chain: SHA-256(prev || index || record
hash) from GENESIS), so someone who can write the database and the key's directory (the limit the anchor
answers, README "Sealed ledger") registers a key of their own, seals the same records in the same order
(same hashes), truncates the node's tail and puts back the older witness copy: an anchor without its
node would be met by the copy. The node is found by the fingerprint of its stored public key (an edited
``fingerprint`` column does not move it); a prefix of 16 or more hex digits must name one node; the old
``INDEX:HASH`` and malformed anchors are refused in one line (exit 2)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

import swarmscope.cli.verify  # noqa: F401
from swarmscope.cli.app import app
from swarmscope.evidence.records import WorkflowEvent
from swarmscope.evidence.seal import key_fingerprint
from swarmscope.store.database import open_store
from swarmscope.store.ledger import commit as ledger
from swarmscope.store.ledger.head_witness import witness_path, write_witness
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from tests.tampering import tamper_file

T0 = 1_780_000_000_000_000


def _seal(db: str, key: Ed25519PrivateKey, n: int):  # type: ignore[no-untyped-def]
    store = open_store(db, node_key=key, now_us=T0)
    try:
        assert store.node is not None
        with store._write(immediate=True) as conn:
            event = WorkflowEvent(f"note:{n}", "note", T0 + n, bytes([n]) * 32)
            sealed, _ = ledger.commit(conn, store.node, 0, [event], ledger.Commit({}, {}, (), T0 + n, None))
        return sealed.batch
    finally:
        store.close()


def test_a_copy_of_the_chain_under_another_key_does_not_meet_the_anchor(tmp_path: Path) -> None:
    db, runner = str(tmp_path / "e.db"), CliRunner()
    key_path = default_key_path(db)
    victim = load_or_create_node_key(key_path, make_dir=True)
    witness = witness_path(key_path)
    saved = tmp_path / "old.head"
    for n in range(3):
        batch = _seal(db, victim, n)
        write_witness(witness, victim, batch.last_index, batch.head_hash)
        if n == 1:
            shutil.copy(witness, saved)
    v = runner.invoke(app, ["verify", "--db", db])
    assert v.exit_code == 0, v.output
    line = next(x for x in v.output.splitlines() if x.startswith("checked to:")).split()
    recorded = line[line.index("--expect-head") + 1].rstrip(")")  # FINGERPRINT:INDEX:HASH
    attacker = Ed25519PrivateKey.generate()
    for n in range(3):
        _seal(db, attacker, n)
    tamper_file(
        Path(db),
        "DELETE FROM ledger_batch WHERE node_id = 1 AND last_index = 2",
        "DELETE FROM ledger_entry WHERE node_id = 1 AND idx = 2",
        "DELETE FROM workflow_event WHERE ledger_node = 1 AND ledger_index = 2",
    )
    shutil.copy(saved, witness)
    anchored = runner.invoke(app, ["verify", "--db", db, "--expect-head", recorded])
    assert anchored.exit_code == 1 and "recorded head" in anchored.output, anchored.output
    assert "does not reach index 2" in anchored.output, anchored.output


def _victim(tmp_path: Path) -> tuple[str, CliRunner, str]:
    """A database with one node that sealed three batches; its ``FINGERPRINT:INDEX:HASH`` anchor."""
    db, runner = str(tmp_path / "e.db"), CliRunner()
    victim = load_or_create_node_key(default_key_path(db), make_dir=True)
    for n in range(3):
        _seal(db, victim, n)
    v = runner.invoke(app, ["verify", "--db", db])
    assert v.exit_code == 0, v.output
    line = next(x for x in v.output.splitlines() if x.startswith("checked to:")).split()
    anchor = line[line.index("--expect-head") + 1].rstrip(")")
    body = json.loads(runner.invoke(app, ["verify", "--db", db, "--json"]).output)
    assert [h["anchor"] for h in body["heads"]] == [anchor]
    return db, runner, anchor


def test_a_fingerprint_column_edited_to_the_victims_does_not_meet_the_anchor(tmp_path: Path) -> None:
    db, runner, recorded = _victim(tmp_path)
    victim = recorded.split(":")[0]
    short = ":".join([victim[:16], *recorded.split(":")[1:]])
    held = runner.invoke(app, ["verify", "--db", db, "--expect-head", short])
    assert held.exit_code == 0, held.output  # a 16-digit prefix naming one node
    for n in range(3):
        _seal(db, Ed25519PrivateKey.generate(), n)  # the same records under a key of the attacker's
    tamper_file(
        Path(db),
        f"UPDATE node_key SET fingerprint = '{'0' * 64}' WHERE id = 1",
        f"UPDATE node_key SET fingerprint = '{victim}' WHERE id = 2",
        "DELETE FROM ledger_batch WHERE node_id = 1 AND last_index = 2",
        "DELETE FROM ledger_entry WHERE node_id = 1 AND idx = 2",
        "DELETE FROM workflow_event WHERE ledger_node = 1 AND ledger_index = 2",
    )
    anchored = runner.invoke(app, ["verify", "--db", db, "--expect-head", recorded])
    assert anchored.exit_code == 1 and "NOT VERIFIED" in anchored.output, anchored.output
    (line,) = [x for x in anchored.output.splitlines() if "recorded head" in x]
    assert f"the chain of node {victim} does not reach index 2" in line, line
    assert "fingerprint column" in anchored.output, anchored.output
    checked = [x.split()[3] for x in anchored.output.splitlines() if x.startswith("checked to:")]
    with sqlite3.connect(db) as conn:  # each "checked to:" node is named by its key, never by the column
        own = {key_fingerprint(bytes(pk)) for (pk,) in conn.execute("SELECT public_key FROM node_key")}
    assert checked and set(checked) <= own and "0" * 64 not in own, checked


def test_an_unknown_or_ambiguous_node_is_refused_in_one_line(tmp_path: Path) -> None:
    db, runner, recorded = _victim(tmp_path)
    _node, index, digest = recorded.split(":")
    unknown = runner.invoke(app, ["verify", "--db", db, "--expect-head", f"{'f' * 16}:{index}:{digest}"])
    assert unknown.exit_code == 1 and f"no node of the database has fingerprint {'f' * 16}" in unknown.output
    tamper_file(  # a second row with the node's public key under another name: two rows are that node
        Path(db),
        f"INSERT INTO node_key (fingerprint, public_key, public_key_pem, created_us) SELECT '{'0' * 64}',"
        " public_key, public_key_pem, created_us FROM node_key WHERE id = 1",
    )
    twice = runner.invoke(app, ["verify", "--db", db, "--expect-head", recorded])
    assert twice.exit_code == 1, twice.output
    (line,) = [x for x in twice.output.splitlines() if "recorded head" in x]
    assert "names 2 node keys" in line and "give more of its digits" in line, line


def test_the_old_form_and_bad_anchors_are_refused_in_one_line(tmp_path: Path) -> None:
    db, runner, recorded = _victim(tmp_path)
    node, index, digest = recorded.split(":")
    old = runner.invoke(app, ["verify", "--db", db, "--expect-head", f"{index}:{digest}"])
    assert old.exit_code == 2 and "give FINGERPRINT:INDEX:HASH" in old.output, old.output
    assert "does not name the node" in old.output and len(old.output.strip().splitlines()) == 1
    bad = [
        f"{node[:15]}:{index}:{digest}", f"{node}0:{index}:{digest}", f"{node}:nan:{digest}",
        f"{node}:-1:{digest}", f"{node}:{2**63}:{digest}", f"{node}:{'9' * 400}:{digest}",
        f"{node}:{index}:{digest[:-1]}", f"{node}:{index}", f"{node}::{digest}", f"{node}:{index}:{digest}:x",
        f"{node}:1e3:{digest}", f"{node}:{index}:{'g' * 64}", f"{node[:-1]}-:{index}:{digest}", "",
    ]  # fmt: skip
    for text in bad:
        refused = runner.invoke(app, ["verify", "--db", db, "--expect-head", text])
        assert refused.exit_code == 2 and "--expect-head" in refused.output, (text, refused.output)
        assert len(refused.output.strip().splitlines()) == 1, (text, refused.output)
