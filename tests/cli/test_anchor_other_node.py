"""The outside anchor (``verify --db --expect-head INDEX:HASH``) must be met by the recorded node's own
chain. Entry hashes do not name the node (evidence.chain: SHA-256(prev || index || record hash) from
GENESIS), so someone who can write the database and the key's directory (the limit the anchor answers,
README "Sealed ledger") registers a key of their own, seals the same records in the same order (same
hashes), truncates the node's tail and puts back the older witness copy: the anchor is met by the copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

import swarmscope.cli.verify  # noqa: F401
from swarmscope.cli.app import app
from swarmscope.evidence.records import WorkflowEvent
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


@pytest.mark.xfail(strict=True, reason="anchor_problem accepts the recorded head in any node's chain")
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
    recorded = f"{line[line.index('index') + 1]}:{line[line.index('head') + 1]}"
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
