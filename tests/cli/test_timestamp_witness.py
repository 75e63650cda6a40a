"""``swarmscope timestamp`` refuses a chain whose chain-head witness is gone while its batches say one was
kept, as every command that acts on the chain does, before any authority is asked (README "Sealed
ledger", chain-head witness). SQLite; no authority is reached (the refusal comes first)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.evidence.records import Sighting
from swarmscope.store.database import open_store
from swarmscope.store.ledger.head_witness import witness_path
from swarmscope.store.ledger.node_key import default_key_path, open_node_key
from tests.store.factories import SWARM_A, T0, add_swarms

register_commands()
NOWHERE = "http://127.0.0.1:9/tsa"  # never asked: the database is refused first


def _witnessed_store(path: Path) -> str:
    """A database whose writer kept the witness beside the default key file (its batches say so)."""
    db = str(path / "stamp.db")
    key = open_node_key(default_key_path(db)).key
    with open_store(db, node_key=key) as store:
        store.witness = witness_path(default_key_path(db))
        add_swarms(store)
        run_id = store.start_run({"tsa_url": None}, "0.1.0", T0)
        sighting = Sighting(SWARM_A, "127.0.1.5", 6881, "tracker", "t", T0)
        store.commit_evidence(run_id, records=[sighting], sealed_at_us=T0 + 1)
    return db


def test_a_chain_whose_kept_witness_is_gone_is_not_stamped(tmp_path: Path) -> None:
    db = _witnessed_store(tmp_path)
    witness = witness_path(default_key_path(db))
    assert witness.exists()
    witness.unlink()
    result = CliRunner().invoke(app, ["timestamp", "--db", db, "--tsa-url", NOWHERE, "--timeout", "1"])
    assert result.exit_code == 1, result.output
    assert "chain-head witness was kept" in result.output and str(witness) in result.output
    assert "stamped" not in result.output


def test_with_the_key_kept_apart_its_witness_is_checked_there(tmp_path: Path) -> None:
    """The key (and its witness) moved away from the database, as README "Sealed ledger" recommends:
    ``--node-key`` names it; without it the witness is looked for beside the database and missed."""
    import shutil

    db = _witnessed_store(tmp_path)
    apart = tmp_path / "keys"
    apart.mkdir()
    key = apart / "node.pem"
    shutil.move(default_key_path(db), key)
    shutil.move(witness_path(default_key_path(db)), witness_path(key))
    args = ["timestamp", "--db", db, "--tsa-url", NOWHERE, "--timeout", "1"]
    missed = CliRunner().invoke(app, args)
    assert missed.exit_code == 1 and "--node-key" in missed.output, missed.output
    checked = CliRunner().invoke(app, [*args, "--node-key", str(key)])
    assert "witness" not in checked.output, checked.output  # past the witness: the authority is asked
    assert "127.0.0.1:9" in checked.output, checked.output
