"""A sealed witness reset travels with the evidence: an export carries the reset event (its chain entry is
sealed like any record), and ``swarmscope verify`` of the bundle alone notes that the tail of the chain
before the reset could not be proven complete (README "Sealed ledger", chain-head witness). The sealed
world of tests/cli/test_export.py, with real captures that replay."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.evidence.seal import private_key_pem
from swarmscope.store.ledger.head_witness import witness_path
from swarmscope.store.ledger.node_key import default_key_path
from tests.cli.test_export import WORLD, populate

register_commands()

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(11, 43)))


def test_a_bundle_exported_after_a_witness_reset_notes_the_reset(tmp_path: Path) -> None:
    path = tmp_path / "evidence.db"
    key_file = Path(default_key_path(str(path)))
    key_file.write_bytes(private_key_pem(KEY))
    key_file.chmod(0o600)
    populate(path, WORLD, KEY)
    db, runner = str(path), CliRunner()
    before = runner.invoke(app, ["export", "--out", str(tmp_path / "before"), "--db", db])
    assert before.exit_code == 0, before.output
    plain = runner.invoke(app, ["verify", str(tmp_path / "before")])
    assert plain.exit_code == 0 and "re-created" not in plain.stdout, plain.output
    witness = witness_path(key_file)
    if witness.exists():  # lost with a backup restored without it
        witness.unlink()
    reset = runner.invoke(app, ["witness", "reset", "--db", db])
    assert reset.exit_code == 0, reset.output
    after = runner.invoke(app, ["export", "--out", str(tmp_path / "after"), "--db", db])
    assert after.exit_code == 0, after.output
    verified = runner.invoke(app, ["verify", str(tmp_path / "after")], env={"COLUMNS": "400"})
    assert verified.exit_code == 0 and "VERIFIED" in verified.stdout, verified.output
    notes = [line for line in verified.stdout.splitlines() if "re-created at chain head" in line]
    assert len(notes) == 1 and notes[0].startswith("note: ") and "cannot be proven complete" in notes[0]
