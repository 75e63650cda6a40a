"""``swarmscope works`` in-process: add works, link torrents (confirmed / fake by reference pieces), list."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.database import open_store
from swarmscope.store.legal import cases as sc
from swarmscope.testbed.content import TorrentContent, build_content

register_commands()  # as the swarmscope entry point does: every command, whatever ran before

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


BIDI_AND_ZERO_WIDTH = [
    "\u202e",
    "\u202a",
    "\u2066",
    "\u200f",
    "\u200b",
    "\u2060",
    "\ufeff",
    "\u2028",
    "\x1b",
    "\n",
]


@pytest.mark.parametrize("char", BIDI_AND_ZERO_WIDTH, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("option", ["--title", "--client", "--registration"])
def test_add_refuses_control_bidi_and_zero_width_characters(option: str, char: str, tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    values = {"--client": "Rights Ltd", "--title": "Film", "--registration": "PA-1"}
    values[option] = f"Fi{char}lm"
    result = runner.invoke(app, ["works", "add", "--db", str(db), *[x for kv in values.items() for x in kv]])
    assert result.exit_code == 1 and result.stderr.startswith(f"error: {option}: contains a control"), (
        result.output
    )
    assert len(result.stderr.splitlines()) == 1 and char not in result.stderr.removesuffix("\n")
    assert not db.exists()  # bad input creates no database


def test_failed_add_or_link_creates_no_database(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    code, out = invoke(
        "works", "add", "--db", str(db), "--client", "C", "--title", "T", "--reference", "/nope"
    )
    assert code == 1 and "--reference /nope: no such file or folder" in out
    code, out = invoke("works", "add", "--db", str(db), "--client", " ", "--title", "T")
    assert code == 1 and "--client: must not be empty" in out
    code, out = invoke("works", "link", "T", "--db", str(db), "--torrent", "00" * 20)
    assert code == 1 and "node key" in out and "no such file" in out  # linking is sealed: the key first
    assert not db.exists()
    code, out = invoke("works", "add", "--db", str(db), "--client", "C", "--title", "T", "--contact", "a\nb")
    assert code == 0 and "work 1: T (C)" in out  # a contact may span lines


def test_link_that_compares_no_piece_says_it_is_unverified(
    tmp_path: Path, contents: tuple[TorrentContent, TorrentContent]
) -> None:
    """A reference too small to hold one whole piece compares nothing: the link is recorded (and sealed)
    but ``works link`` says in one line that it proves nothing and makes no case."""
    real, _ = contents
    db = str(tmp_path / "w.db")
    small = tmp_path / "small.bin"
    small.write_bytes((real.data_dir / real.name).read_bytes()[: PIECE // 2])
    args = ["works", "add", "--db", db, "--client", "C", "--title", "T", "--reference", str(small)]
    assert invoke(*args)[0] == 0
    code, out = invoke("works", "link", "T", "--db", db, "--torrent", str(real.torrent_path))
    assert code == 0 and out.startswith(f"{real.infohash_hex}: linked, 0/0 pieces match"), out
    assert "\nunverified: no piece was compared with the work's reference content" in out
    assert "makes no case" in out


def test_link_needs_the_node_key(tmp_path: Path, contents: tuple[TorrentContent, TorrentContent]) -> None:
    """The link and its verdict are sealed: without the node key file nothing is linked (one line)."""
    real, _ = contents
    db = tmp_path / "w.db"
    assert invoke("works", "add", "--db", str(db), "--client", "C", "--title", "T")[0] == 0
    key = Path(str(db) + ".node-key.pem")
    key.rename(tmp_path / "moved.pem")
    result = runner.invoke(app, ["works", "link", "T", "--db", str(db), "--torrent", str(real.torrent_path)])
    assert result.exit_code == 1 and result.stdout == "", result.output
    assert len(result.stderr.splitlines()) == 1, result.output
    with open_store(str(db), create=False) as store:
        assert sc.work_torrents(store) == []
