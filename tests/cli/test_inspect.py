"""``swarmscope inspect``: every corpus file via ``--json`` against libtorrent's expectations (in
process with CliRunner), human output, magnets, one-line errors with exit status 1, and a run of the
installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.wire.bencode import decode, encode
from tests.conftest import FIXTURES

register_commands()  # as the swarmscope entry point does: every command, whatever ran before

CORPUS = FIXTURES  # ../shared/fixtures/torrents, or $SWARMSCOPE_SHARED/fixtures/torrents
EXPECTED: dict[str, Any] = (
    json.loads((CORPUS / "expected.json").read_text()) if (CORPUS / "expected.json").is_file() else {}
)
KEYS = (
    "valid",
    "v1",
    "v2",
    "name",
    "total_size",
    "piece_length",
    "num_pieces",
    "num_files",
    "private",
    "trackers",
)
V1 = "c0fda1edafdbdbb96443424e0b3899af7159d10e"
runner = CliRunner()


def invoke(*args: str) -> Any:
    """Run the app in process; with only ``inspect`` registered, Typer makes it the root command."""
    argv = ["inspect", *args]  # the root callback keeps `inspect` a subcommand however many are registered
    return runner.invoke(app, argv)


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_json_for_every_corpus_file(fixtures_dir: Path, rel: str) -> None:
    result = invoke(str(fixtures_dir / rel), "--json")
    out = json.loads(result.stdout)
    expected = EXPECTED[rel]
    assert set(KEYS) <= set(out)
    if expected["valid"]:
        assert result.exit_code == 0
        assert {k: out[k] for k in expected} == expected
    else:
        assert result.exit_code == 1
        assert out["valid"] is False and out["error"]
        assert "Traceback" not in result.output


def test_human_output_shows_the_essentials(fixtures_dir: Path) -> None:
    result = invoke(str(fixtures_dir / "libtorrent/test_torrents/v2_hybrid.torrent"))
    assert result.exit_code == 0
    for text in (
        "bittorrent-v1-v2-hybrid-test",
        "514c76c1f27ec61ca8b37851bcd1cbf0b26cf120",
        "518fbaf39b37020c896e8768a967da6d76bbd5ef7a02c761021b65a72c6cfa11",
        "1715",
        "hybrid",
        "(pad)",
    ):
        assert text in result.stdout


def test_invalid_torrent_is_one_line_naming_the_field(fixtures_dir: Path) -> None:
    result = invoke(str(fixtures_dir / "libtorrent/test_torrents/unaligned_pieces.torrent"))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "info.pieces" in lines[0] and "Traceback" not in result.output


@pytest.mark.parametrize("target", ["/nonexistent/x.torrent", "/"])
def test_unreadable_input_exits_1_without_traceback(target: str) -> None:
    result = invoke(target)
    assert result.exit_code == 1
    assert "cannot read" in result.output and len(result.output.strip().splitlines()) == 1
    out = json.loads(invoke(target, "--json").stdout)
    assert out["valid"] is False and "cannot read" in out["error"]


def test_magnet_shows_what_it_carries() -> None:
    uri = f"magnet:?xt=urn:btih:{V1}&dn=Some+Name&tr=udp://t:1/a&x.pe=127.0.0.1:6881&xl=425"
    result = invoke(uri, "--json")
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert (out["valid"], out["v1"], out["v2"], out["name"]) == (True, V1, None, "Some Name")
    assert (out["total_size"], out["trackers"], out["peers"]) == (425, ["udp://t:1/a"], ["127.0.0.1:6881"])
    human = invoke(uri)
    assert human.exit_code == 0 and "Some Name" in human.stdout and "127.0.0.1:6881" in human.stdout


def test_bad_magnet_names_the_parameter() -> None:
    result = invoke("magnet:?xt=urn:btih:1234")
    assert result.exit_code == 1 and "xt:" in result.output


def test_console_script_subprocess(fixtures_dir: Path) -> None:
    script = shutil.which("swarmscope", path=str(Path(sys.executable).parent)) or shutil.which("swarmscope")
    if script is None:
        pytest.skip("swarmscope console script not installed")
    torrent = fixtures_dir / "webtorrent/alice.torrent"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [script, "inspect", str(torrent), "--json"], capture_output=True, text=True, timeout=120, env=env
    )
    if (
        proc.returncode != 0
        and "ModuleNotFoundError" in proc.stderr
        and "swarmscope.cli.inspect" not in proc.stderr
    ):
        pytest.skip(f"another command module does not import yet: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["v1"] == "722fe65b2aa26d14f35b4ad627d20236e481d924" and out["num_pieces"] == 10
    bad = subprocess.run(
        [script, "inspect", str(fixtures_dir / "webtorrent/corrupt.torrent")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert bad.returncode == 1 and "info.name" in bad.stderr and "Traceback" not in bad.stderr


FETCH = "URLs are not fetched; download the .torrent first"
EMPTY = "inspect: empty argument; give a .torrent file or a magnet: URI"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("http://example.com/a.torrent", f"inspect: http:// {FETCH}"),
        ("HTTPS://example.com/a.torrent?x=1", f"inspect: https:// {FETCH}"),
        ("udp://tracker.example:6969/announce", f"inspect: udp:// {FETCH}"),
        ("file:///tmp/a.torrent", "inspect: file:// URLs are not read; give the path itself"),
        ("", EMPTY),
        (" \t", EMPTY),
    ],
)
def test_url_or_empty_argument_is_one_clear_line(source: str, message: str) -> None:
    result = invoke(source)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [message]
    as_json = invoke(source, "--json")
    out = json.loads(as_json.stdout)
    assert as_json.exit_code == 1 and out["valid"] is False and out["error"] == message


def test_an_existing_path_that_looks_like_a_url_is_read(
    fixtures_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``http://alice.torrent`` is also the relative path ``http:/alice.torrent``; a file there is read."""
    (tmp_path / "http:").mkdir()
    (tmp_path / "http:" / "alice.torrent").write_bytes(
        (fixtures_dir / "webtorrent/alice.torrent").read_bytes()
    )
    monkeypatch.chdir(tmp_path)
    result = invoke("http://alice.torrent", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["num_pieces"] == 10


def test_hybrid_whose_file_lists_disagree_is_one_line(fixtures_dir: Path, tmp_path: Path) -> None:
    """A file renamed in the v1 list only (control character included): libtorrent refuses it too."""
    lt = pytest.importorskip("libtorrent")
    top = decode((fixtures_dir / "libtorrent/test_torrents/v2_hybrid.torrent").read_bytes())
    top[b"info"][b"files"][2][b"path"] = [b"renamed\n.avi"]
    data = encode(top)
    with pytest.raises(RuntimeError, match="v1 and v2 file metadata does not match"):
        lt.torrent_info(data)
    (tmp_path / "bad.torrent").write_bytes(data)
    result = invoke(str(tmp_path / "bad.torrent"))
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("invalid: info.files: the v1 file list and the v2 file tree do not match")
    assert "'bittorrent-v1-v2-hybrid-test/renamed_.avi'" in line
