"""Counsel withdraws a case (a sealed decision); someone who can write the database file but lacks the node
key deletes that newest batch, its entry and events, puts the case back, and deletes the chain-head
witness beside the database as well (in the default layout it sits in the database's own directory,
which an SQLite writer needs write access to anyway). The shorter chain verifies; the workflow then says
only "note: tail not checked" and drafts a letter for the withdrawn case. A database whose surviving
batches were sealed by a writer that kept a witness should be refused when the witness is gone, as a
truncated tail is (README "Sealed ledger", chain-head witness). SQLite (the letters world).
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import swarmscope.cli.cases
import swarmscope.cli.exhibits
import swarmscope.cli.export
import swarmscope.cli.letters
import swarmscope.cli.verify
import swarmscope.cli.witness  # noqa: F401  (registers the commands)
from swarmscope.cases import letters as L
from swarmscope.cli.app import app
from swarmscope.store.ledger.head_witness import witness_path
from swarmscope.store.ledger.node_key import default_key_path
from swarmscope.store.legal import case_status
from tests.cli.letter_world import World
from tests.tampering import tamper_file


def test_a_withdrawal_truncated_with_its_witness_deleted_drafts_no_letter(world: World) -> None:
    doe, db, runner = world.dois[0], str(world.db), CliRunner()
    # The world was sealed by a bare Store that keeps no witness, as a database sealed before batches
    # said so; after the upgrade a real chain is sealed by writers that keep one (monitor, node, every
    # decision): one such decision first, so the surviving chain says a witness was kept.
    earlier = runner.invoke(
        app, ["cases", "event", world.dois[1], "withdraw", "--actor", "counsel", "--db", db]
    )
    assert earlier.exit_code == 0, earlier.output
    withdrawn = runner.invoke(app, ["cases", "event", doe, "withdraw", "--actor", "counsel", "--db", db])
    assert withdrawn.exit_code == 0, withdrawn.output
    witness = witness_path(default_key_path(db))
    assert witness.exists()
    _truncate_newest(world, case_status.get_case(world.store, doe).id)
    witness.unlink()
    settings = str(L.TEMPLATES / "settings.example.toml")
    drafted = runner.invoke(app, ["letters", "draft", "--case", doe, "--settings", settings, "--db", db])
    assert drafted.exit_code == 1, drafted.output
    assert "chain-head witness was kept" in drafted.output and str(witness) in drafted.output
    assert not witness.exists()  # never re-created silently


def _truncate_newest(world: World, case_id: int) -> None:
    tamper_file(
        world.db,
        "DELETE FROM ledger_batch WHERE last_index = (SELECT max(idx) FROM ledger_entry)",
        "DELETE FROM ledger_entry WHERE idx = (SELECT max(idx) FROM ledger_entry)",
        "DELETE FROM workflow_event WHERE id = (SELECT max(id) FROM workflow_event)",
        "DELETE FROM case_event WHERE id = (SELECT max(id) FROM case_event)",
        f"UPDATE legal_case SET status = 'identified', closed_us = NULL WHERE id = {case_id}",
    )


def test_every_reader_refuses_until_the_key_holder_seals_a_witness_reset(
    world: World, tmp_path: Path
) -> None:
    """The honest operator who lost the witness (a backup restored without it) seals the loss with
    ``witness reset``; from then on the witness guards the tail again and every check notes the reset."""
    db, runner = str(world.db), CliRunner()
    for doe in world.dois[:2]:
        done = runner.invoke(app, ["cases", "event", doe, "withdraw", "--actor", "counsel", "--db", db])
        assert done.exit_code == 0, done.output
    witness = witness_path(default_key_path(db))
    _truncate_newest(world, case_status.get_case(world.store, world.dois[1]).id)
    witness.unlink()
    refusals = (
        ["verify", "--db", db],
        ["export", "--out", str(tmp_path / "bundle"), "--db", db],
        ["cases", "build", "--db", db],
        ["exhibits", "--db", db, "--out", str(tmp_path / "exhibits")],
        ["cases", "event", world.dois[2], "withdraw", "--actor", "counsel", "--db", db],
    )
    for args in refusals:
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        assert "chain-head witness was kept" in result.output and str(witness) in result.output, args
        assert not witness.exists(), args  # no writer re-creates it silently
    reset = runner.invoke(app, ["witness", "reset", "--db", db])
    assert reset.exit_code == 0, reset.output
    assert witness.exists() and "the tail before it cannot be proven complete" in reset.stdout
    again = runner.invoke(app, ["witness", "reset", "--db", db])
    assert again.exit_code == 1 and again.stderr.count("\n") == 1 and "nothing to reset" in again.stderr
    verified = runner.invoke(app, ["verify", "--db", db])
    assert verified.exit_code == 0 and "VERIFIED" in verified.stdout, verified.output
    assert (
        "note: chain-head witness of node" in verified.stdout
        and "re-created at chain head" in verified.stdout
    )
    exported = runner.invoke(app, ["export", "--out", str(tmp_path / "bundle"), "--db", db])
    assert exported.exit_code == 0, exported.output
    assert "re-created at chain head" in exported.stderr


def test_a_missing_key_or_database_is_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "none.db")
    result = CliRunner().invoke(app, ["witness", "reset", "--db", db])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
