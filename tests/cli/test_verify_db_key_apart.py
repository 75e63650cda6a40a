"""``verify --db`` in the layout README "Sealed ledger" recommends: the node key (and its witness) kept
apart from the database (``--node-key`` elsewhere). ``verify --db`` has no ``--node-key`` and looks only
beside the database: (a) an honest database is NOT VERIFIED ("there is none at <db>.node-key.pem.head");
(b) someone who can write the database's directory but not the key's truncates the node's tail and
plants a key and witness of their own at the default path (their node registered, one batch sealed):
``verify --db`` says VERIFIED, because the node whose batches say a witness was kept is never checked
once some witness is found."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.ledger.head_witness import witness_path, write_witness
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from tests.cli.test_anchor_other_node import _seal
from tests.tampering import tamper_file

register_commands()


def _sealed_apart(tmp_path: Path) -> tuple[str, CliRunner]:
    db, key, runner = str(tmp_path / "e.db"), str(tmp_path / "keys" / "k.pem"), CliRunner()
    (tmp_path / "keys").mkdir()
    for title in ("T1", "T2", "T3"):
        done = runner.invoke(
            app, ["works", "add", "--client", "C", "--title", title, "--db", db, "--node-key", key]
        )
        assert done.exit_code == 0, done.output
    assert witness_path(key).exists()
    return db, runner


@pytest.mark.xfail(strict=True, reason="verify --db looks for the witness only beside the database")
def test_an_honest_database_with_its_key_apart_verifies(tmp_path: Path) -> None:
    db, runner = _sealed_apart(tmp_path)
    verified = runner.invoke(app, ["verify", "--db", db])
    assert verified.exit_code == 0, verified.output


@pytest.mark.xfail(strict=True, reason="a planted default-path witness stands in for the node's own")
def test_a_planted_key_beside_the_database_does_not_hide_a_truncated_tail(tmp_path: Path) -> None:
    db, runner = _sealed_apart(tmp_path)
    planted = default_key_path(db)
    mine = load_or_create_node_key(planted)
    batch = _seal(db, mine, 7)
    write_witness(witness_path(planted), mine, batch.last_index, batch.head_hash)
    tamper_file(
        Path(db),
        "DELETE FROM ledger_batch WHERE node_id = 1 AND last_index = 2",
        "DELETE FROM ledger_entry WHERE node_id = 1 AND idx = 2",
        "DELETE FROM workflow_event WHERE ledger_node = 1 AND ledger_index = 2",
        "DELETE FROM work WHERE id = 3",
    )
    verified = runner.invoke(app, ["verify", "--db", db])
    assert verified.exit_code == 1 and "NOT VERIFIED" in verified.output, verified.output
