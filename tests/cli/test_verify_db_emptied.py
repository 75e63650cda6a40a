"""Every record of the only node deleted (triggers dropped, no node key) in the layout the README recommends
(key and witness kept apart from the database): ``verify --db --node-key KEY`` refuses it, but plain
``verify --db`` said "VERIFIED: the ledger holds" with no ``tail not checked`` note, where README "Sealed
ledger" promises that a tail it cannot check is said, never silently."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_verify_db_key_apart import _key, _sealed_apart, app
from tests.tampering import tamper_file

WIPE = ("ledger_batch", "ledger_entry", "workflow_event", "work", "client", "node_key")


def test_an_emptied_database_is_not_silently_verified(tmp_path: Path) -> None:
    db, runner = _sealed_apart(tmp_path)
    tamper_file(Path(db), *(f"DELETE FROM {table}" for table in WIPE))
    keyed = runner.invoke(app, ["verify", "--db", db, "--node-key", str(_key(tmp_path))])
    assert keyed.exit_code == 1 and "NOT VERIFIED" in keyed.output, keyed.output
    plain = runner.invoke(app, ["verify", "--db", db])
    assert plain.exit_code == 1 or "tail not checked" in plain.output, plain.output
