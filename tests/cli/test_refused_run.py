"""A refused monitor run removes only what it created: files, the folders it made, never a key a kept
store registered."""

from __future__ import annotations

from pathlib import Path

from swarmscope.cli.refused_run import NewFiles
from swarmscope.store.node_key import NodeKeyFile


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
