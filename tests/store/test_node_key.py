"""The node key file: created once atomically with mode 0600, reloaded, refused when unsafe or corrupt."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from swarmscope.evidence.seal import key_fingerprint, load_public_key, public_key_raw
from swarmscope.store.database import StoreError
from swarmscope.store.ledger.node_key import (
    default_key_path,
    export_public_key,
    load_or_create_node_key,
    open_node_key,
)


def test_created_on_first_use_with_mode_0600_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "node-key.pem"
    key = load_or_create_node_key(path, make_dir=True)  # the default location may make its directory
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_key_raw(load_or_create_node_key(path)) == public_key_raw(key)
    assert [p.name for p in path.parent.iterdir()] == ["node-key.pem"]  # no temporary file left


def test_a_missing_directory_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    """A mistyped path must not become a second signing identity, nor leave a directory behind."""
    path = tmp_path / "typo" / "deeper" / "node-key.pem"
    with pytest.raises(StoreError, match=r"directory .*typo/deeper does not exist; nothing was created"):
        load_or_create_node_key(path)
    with pytest.raises(StoreError, match="does not exist"):
        open_node_key(path)
    assert list(tmp_path.iterdir()) == []


def test_creation_is_reported_with_the_fingerprint_once(tmp_path: Path) -> None:
    path = tmp_path / "node-key.pem"
    first = open_node_key(path)
    again = open_node_key(path)
    assert first.created and not again.created
    assert first.path == again.path == path
    assert first.fingerprint == again.fingerprint == key_fingerprint(public_key_raw(again.key))


def test_default_path_beside_an_sqlite_file_else_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_key_path(str(tmp_path / "e.db")) == tmp_path / "e.db.node-key.pem"
    assert default_key_path(f"sqlite:///{tmp_path}/f.db") == tmp_path / "f.db.node-key.pem"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_key_path("postgresql+psycopg://u@/db") == tmp_path / "xdg" / "swarmscope" / "node-key.pem"
    monkeypatch.setenv("XDG_DATA_HOME", "")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".local" / "share" / "swarmscope" / "node-key.pem"
    assert default_key_path("postgresql+psycopg://u@/db") == expected


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        (b"garbage", 0o600, "corrupt"),
        (b"", 0o600, "corrupt"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0o600, "corrupt"),
        (None, 0o644, "permissions 0644"),
        (None, 0o640, "permissions 0640"),
    ],
)
def test_unsafe_or_corrupt_key_files_are_refused(
    tmp_path: Path, content: bytes | None, mode: int, message: str
) -> None:
    path = tmp_path / "node-key.pem"
    load_or_create_node_key(path)
    if content is not None:
        path.write_bytes(content)
    path.chmod(mode)
    with pytest.raises(StoreError, match=message):
        load_or_create_node_key(path)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "node-key.pem").mkdir()
    with pytest.raises(StoreError, match="not a regular file"):
        load_or_create_node_key(tmp_path / "node-key.pem")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "node-key.pem"
    load_or_create_node_key(path)
    path.chmod(0o000)
    with pytest.raises(StoreError, match="cannot read"):
        load_or_create_node_key(path)


def _create_and_report(path: str, queue: multiprocessing.Queue[bytes]) -> None:
    queue.put(public_key_raw(load_or_create_node_key(path)))


def test_concurrent_first_use_yields_one_key(tmp_path: Path) -> None:
    (tmp_path / "race").mkdir()
    path = str(tmp_path / "race" / "node-key.pem")
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[bytes] = ctx.Queue()
    procs = [ctx.Process(target=_create_and_report, args=(path, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    try:
        keys = {queue.get(timeout=60) for _ in procs}
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join(timeout=10)
    assert keys == {public_key_raw(load_or_create_node_key(path))}


def test_export_public_key_writes_pem(tmp_path: Path) -> None:
    key = load_or_create_node_key(tmp_path / "k.pem")
    out = export_public_key(key, tmp_path / "node.pub.pem")
    assert public_key_raw(key) == load_public_key(out.read_bytes()).public_bytes_raw()


def test_a_public_key_is_named_as_one_before_its_permissions(tmp_path: Path) -> None:
    """A public key PEM (RFC 8410) given where the private key is needed: the fix is another file, not
    "chmod 600", so its type is judged first (a public key is fine world-readable)."""
    key = load_or_create_node_key(tmp_path / "node-key.pem")
    public = export_public_key(key, tmp_path / "pub.pem")
    public.chmod(0o644)
    with pytest.raises(
        StoreError, match=r"pub\.pem: a public key; this needs the node's private key"
    ) as info:
        load_or_create_node_key(public)
    assert "chmod" not in str(info.value)
