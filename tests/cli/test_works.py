"""``swarmscope works`` in-process: add works, link torrents (confirmed / fake by reference pieces), list."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import swarmscope.cli.works  # noqa: F401  (registers the command group)
from swarmscope.cli.app import app
from swarmscope.store import cases as sc
from swarmscope.store.database import open_store
from swarmscope.testbed.content import TorrentContent, build_content

runner = CliRunner()
PIECE = 16384


@pytest.fixture(scope="module")
def contents(tmp_path_factory: pytest.TempPathFactory) -> tuple[TorrentContent, TorrentContent]:
    base = tmp_path_factory.mktemp("cli-works")
    real = build_content(base / "real", size=3 * PIECE, piece_length=PIECE, seed=b"work")
    fake = build_content(base / "fake", size=3 * PIECE, piece_length=PIECE, seed=b"not the work")
    return real, fake


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_add_link_list(tmp_path: Path, contents: tuple[TorrentContent, TorrentContent]) -> None:
    real, fake = contents
    db = str(tmp_path / "w.db")
    ref = str(real.data_dir / real.name)
    code, out = invoke(
        "works",
        "add",
        "--db",
        db,
        "--client",
        "Rights Ltd",
        "--title",
        "Film",
        "--registration",
        "PA-1",
        "--reference",
        ref,
    )
    assert code == 0 and "work 1: Film (Rights Ltd)" in out
    code, out = invoke("works", "link", "Film", "--db", db, "--torrent", str(real.torrent_path))
    assert code == 0, out
    assert out.startswith(f"{real.infohash_hex}: confirmed, 3/3 pieces match")
    code, out = invoke("works", "link", "1", "--db", db, "--torrent", str(fake.torrent_path))
    assert code == 0 and f"{fake.infohash_hex}: fake, 0/3 pieces match (3 piece(s) differ" in out
    code, out = invoke("works", "list", "--db", db)
    assert code == 0
    assert "1  Film  client=Rights Ltd  registration=PA-1" in out
    assert f"{real.infohash_hex}  confirmed  3/3" in out and f"{fake.infohash_hex}  fake  0/3" in out
    with open_store(db, create=False) as store:
        assert sc.work_for_infohash(store, real.infohash_hex) is not None
        assert sc.work_for_infohash(store, fake.infohash_hex) is None


def test_errors_exit_1_with_a_message(tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    assert invoke("works", "add", "--db", db, "--client", "C", "--title", "T")[0] == 0
    code, out = invoke("works", "add", "--db", db, "--client", "C", "--title", "T")
    assert code == 1 and "already has a work" in out
    code, out = invoke(
        "works", "add", "--db", db, "--client", "C", "--title", "U", "--reference", str(tmp_path / "x")
    )
    assert code == 1 and "no such file" in out
    code, out = invoke("works", "link", "T", "--db", db, "--torrent", "nonsense")
    assert code == 1 and "neither a .torrent file nor" in out
    code, out = invoke("works", "link", "Nope", "--db", db, "--torrent", "ab" * 20)
    assert code == 1 and "not found" in out


def test_list_empty(tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    open_store(db).close()
    assert invoke("works", "list", "--db", db) == (0, "no works\n")
