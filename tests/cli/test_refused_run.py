"""A refused monitor run removes only what it created: files, the folders it made, never a key a kept
store registered."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import swarmscope.cli.monitor as cli_monitor
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.refused_run import NewFiles
from swarmscope.store.ledger.node_key import NodeKeyFile

register_commands()  # as the swarmscope entry point does: every command, whatever ran before

MAGNET = f"magnet:?xt=urn:btih:{'ab' * 20}&dn=lonely"


def test_a_refused_run_removes_the_folders_it_created_when_empty(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "evidence.db"
    new = NewFiles.before_opening(str(db))
    db.parent.mkdir(parents=True)
    db.write_bytes(b"x")
    key = NodeKeyFile(None, db.parent / "node.key", "", True)  # type: ignore[arg-type]
    key.path.write_bytes(b"k")
    new.remove(key)
    assert not (tmp_path / "a").exists() and tmp_path.exists()


def test_a_new_key_of_an_existing_database_is_kept(tmp_path: Path) -> None:
    db = tmp_path / "evidence.db"
    db.write_bytes(b"x")
    new = NewFiles.before_opening(str(db))
    key = NodeKeyFile(None, tmp_path / "node.key", "", True)  # type: ignore[arg-type]
    key.path.write_bytes(b"k")
    assert new.remove(key) == []
    assert key.path.exists() and db.exists()


def test_any_start_up_failure_leaves_no_folder_database_or_key(
    tmp_path: Path, netns: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only a refusal (InputError): an OSError at start-up cleans up too, folder included."""

    async def fail(*_args: object) -> None:
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(cli_monitor, "_run", fail)
    db = tmp_path / "new" / "i.db"
    args = ["monitor", MAGNET, "--db", str(db), "--duration", "1", "--no-live", "--listen-port", "0"]
    result = CliRunner().invoke(app, [*args, "--dht-bootstrap", "127.0.0.9:6881"])
    assert result.exit_code != 0
    assert not (tmp_path / "new").exists()


def test_an_early_refusal_creates_no_folder(tmp_path: Path, netns: bool) -> None:
    db = tmp_path / "new" / "i.db"
    args = ["monitor", MAGNET, "--db", str(db), "--duration", "1", "--no-live", "--listen-port", "0"]
    result = CliRunner().invoke(app, [*args, "--dht-bootstrap", "nonexistent.invalid:6881"])
    assert result.exit_code == 1, result.output
    assert not (tmp_path / "new").exists()
