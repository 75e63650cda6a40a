"""Scratch (rev11a9): someone who can write the database file and the directory beside it (the default
layout: the witness sits beside the SQLite file) but lacks the node key truncates a withdrawal and, instead
of deleting the chain-head witness, (a) puts back an older copy of it, or (b) swaps in a witness signed by a
key of their own whose node and chain they add to the database. Either should be refused as a truncated
tail (README "Sealed ledger", chain-head witness)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

import swarmscope.cli.cases
import swarmscope.cli.letters
import swarmscope.cli.verify  # noqa: F401  (registers the commands)
from swarmscope.cases import letters as L
from swarmscope.cli.app import app
from swarmscope.evidence.records import WorkflowEvent
from swarmscope.store.database import open_store
from swarmscope.store.ledger import commit as ledger
from swarmscope.store.ledger.head_witness import witness_path, write_witness
from swarmscope.store.ledger.node_key import default_key_path
from swarmscope.store.legal import case_status
from tests.cli.letter_world import T0, World
from tests.cli.test_witness_deleted import _truncate_newest

SETTINGS = str(L.TEMPLATES / "settings.example.toml")


def _withdraw(runner: CliRunner, db: str, doe: str) -> None:
    done = runner.invoke(app, ["cases", "event", doe, "withdraw", "--actor", "counsel", "--db", db])
    assert done.exit_code == 0, done.output


def _draft(runner: CliRunner, db: str, doe: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["letters", "draft", "--case", doe, "--settings", SETTINGS, "--db", db])


@pytest.mark.xfail(strict=True, reason="an older copy of the witness hides a truncated tail")
def test_an_older_witness_copy_hides_a_truncated_withdrawal(world: World, tmp_path: Path) -> None:
    doe, db, runner = world.dois[0], str(world.db), CliRunner()
    _withdraw(runner, db, world.dois[1])
    witness = witness_path(default_key_path(db))
    saved = tmp_path / "old.head"
    shutil.copy(witness, saved)  # the attacker keeps a copy while it is current
    _withdraw(runner, db, doe)
    _truncate_newest(world, case_status.get_case(world.store, doe).id)
    shutil.copy(saved, witness)
    verified = runner.invoke(app, ["verify", "--db", db])
    drafted = _draft(runner, db, doe)
    assert verified.exit_code == 1 or drafted.exit_code == 1, (verified.output, drafted.output)


@pytest.mark.xfail(strict=True, reason="a witness of another key is accepted for the node's chain")
def test_a_witness_of_an_attackers_own_key_hides_a_truncated_withdrawal(world: World) -> None:
    doe, db, runner = world.dois[0], str(world.db), CliRunner()
    _withdraw(runner, db, world.dois[1])
    _withdraw(runner, db, doe)
    witness = witness_path(default_key_path(db))
    _truncate_newest(world, case_status.get_case(world.store, doe).id)
    mine = Ed25519PrivateKey.generate()
    store = open_store(db, node_key=mine, now_us=T0)
    try:
        assert store.node is not None
        with store._write(immediate=True) as conn:
            event = WorkflowEvent("note:1", "note", T0, b"\0" * 32)
            sealed, _ = ledger.commit(conn, store.node, 0, [event], ledger.Commit({}, {}, (), T0, None))
        write_witness(witness, mine, sealed.batch.last_index, sealed.batch.head_hash)
    finally:
        store.close()
    drafted = _draft(runner, db, doe)
    assert drafted.exit_code == 1, drafted.output
