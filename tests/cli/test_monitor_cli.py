"""`swarmscope monitor`: bad input is a clear message (never a traceback); a dead tracker is a warning."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.wire import bencode

register_commands()  # as the swarmscope entry point does: every command, whatever ran before

runner = CliRunner()


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def assert_cli_verifies(db: Path) -> None:
    """``swarmscope verify --db DB`` in a subprocess exits 0 and says VERIFIED."""
    verified = subprocess.run(
        [sys.executable, "-m", "swarmscope.cli", "verify", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0 and "VERIFIED" in verified.stdout, verified.stdout + verified.stderr


def tiny_torrent(path: Path, announce: str) -> Path:
    data = b"x" * 40000
    pieces = b"".join(hashlib.sha1(data[i : i + 16384]).digest() for i in range(0, len(data), 16384))
    info = {b"name": b"tiny.bin", b"piece length": 16384, b"length": len(data), b"pieces": pieces}
    path.write_bytes(bencode.encode({b"announce": announce.encode(), b"info": info}))
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: str(d / "missing.torrent"), "cannot read"),
        (lambda d: _write(d / "bad.torrent", b"d4:infoi3ee"), "info: missing or not a dictionary"),
        (lambda d: "ftp://example.invalid/x.torrent", "unknown scheme"),
        (lambda d: "magnet:?xt=urn:btih:nothex", "invalid magnet"),
    ],
    ids=["missing", "malformed", "scheme", "magnet"],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    target = make(tmp_path)
    args = ["monitor", target, "--db", str(tmp_path / "e.db"), "--duration", "1", "--no-dht"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_unreachable_tracker_is_a_warning_and_the_run_completes(tmp_path: Path, netns: bool) -> None:
    torrent = tiny_torrent(tmp_path / "t.torrent", "http://127.0.0.1:9/announce")
    db = tmp_path / "e.db"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "swarmscope.cli",
            "monitor",
            str(torrent),
            "--db",
            str(db),
            "--duration",
            "2",
            "--no-live",
            "--no-dht",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "tracker unreachable or failing" in proc.stderr and "127.0.0.1:9" in proc.stderr
    report = subprocess.run(
        [sys.executable, "-m", "swarmscope.cli", "report", "--db", str(db), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout) == []
    # the run's seals left the signed chain-head witness beside the key file, and the chain holds it
    assert (tmp_path / "e.db.node-key.pem.head").is_file()
    assert_cli_verifies(db)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duration", "-5"], "--duration -5: must be more than 0"),
        (["--connect-timeout", "0"], "--connect-timeout 0: must be more than 0"),
        (["--bind", "notanip"], "--bind 'notanip': not an IP address"),
        (["--encryption", "maybe"], "--encryption 'maybe'"),
        (["--dht-bootstrap", "nohostport"], "--dht-bootstrap 'nohostport': expected HOST:PORT"),
        (["--db", "/proc/nope/x.db"], "cannot create its folder"),
    ],
)
def test_bad_options_are_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    torrent = tiny_torrent(tmp_path / "t.torrent", "http://127.0.0.1:9/announce")
    base = ["monitor", str(torrent), "--db", str(tmp_path / "e.db"), "--duration", "1", "--no-dht"]
    result = runner.invoke(app, [*base, *args])
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output


def test_hostile_text_is_shown_not_interpreted(tmp_path: Path) -> None:
    """Review finding: a peer `v` of "[/] ..." crashed the table (Rich markup); ESC must not reach the tty."""
    from swarmscope.evidence.records import Observation, Tier
    from swarmscope.store.database import open_store

    db = tmp_path / "e.db"
    store = open_store(str(db), node_key=Ed25519PrivateKey.generate())
    sw = "ab" * 20
    store.add_swarm(sw, sw, None, "[bold]name[/]\x1b]0;pwned\x07", 1, 16384, 16384, None, None, 1)
    run_id = store.start_run({}, "test", 1)
    hostile = "[/] [bold red]EVIL\x1b[2J"
    obs = Observation(
        sw, "127.0.0.2", 6881, "tracker", 1, 2, Tier.CONNECTED, client=hostile, client_version="1"
    )
    store.add_observations(run_id, [obs])
    store.close()
    result = runner.invoke(app, ["report", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "[/] [bold red]EVIL" in result.output and "\x1b[2J" not in result.output
    assert "\x1b]0;pwned" not in result.output and "[bold]name[/]" in result.output


def test_mistyped_node_key_directory_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    """A typo in --node-key must not create a second signing identity, its directory or the database."""
    torrent = tiny_torrent(tmp_path / "t.torrent", "http://127.0.0.1:9/announce")
    db = tmp_path / "new" / "e.db"
    key = tmp_path / "keyz" / "node-key.pem"
    args = ["monitor", str(torrent), "--db", str(db), "--node-key", str(key), "--duration", "1", "--no-dht"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and f"--node-key {key}: directory {key.parent} does not exist" in lines[0]
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.torrent"]  # no key, no folder, no database


def _monitor(torrent: Path, db: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["monitor", str(torrent), "--db", str(db), "--duration", "1", "--no-live", "--no-dht", *extra]
    return subprocess.run(
        [sys.executable, "-m", "swarmscope.cli", *args, "--listen-port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_new_key_is_announced_and_a_foreign_ledger_is_named(tmp_path: Path, netns: bool) -> None:
    from swarmscope.evidence.seal import key_fingerprint, public_key_raw
    from swarmscope.store.ledger.node_key import load_or_create_node_key

    torrent = tiny_torrent(tmp_path / "t.torrent", "http://127.0.0.1:9/announce")
    db = tmp_path / "e.db"
    first = _monitor(torrent, db)
    assert first.returncode == 0, first.stderr
    default_key = tmp_path / "e.db.node-key.pem"
    fingerprint = key_fingerprint(public_key_raw(load_or_create_node_key(default_key)))
    created = [line for line in first.stderr.splitlines() if line.startswith("created node key")]
    assert created == [f"created node key {default_key}, fingerprint {fingerprint}"]
    assert "second chain" not in first.stderr

    again = _monitor(torrent, db)
    assert again.returncode == 0, again.stderr
    assert "created node key" not in again.stderr and "second chain" not in again.stderr

    other = tmp_path / "other.pem"
    second = _monitor(torrent, db, "--node-key", str(other))
    assert second.returncode == 0, second.stderr
    other_fp = key_fingerprint(public_key_raw(load_or_create_node_key(other)))
    assert f"created node key {other}, fingerprint {other_fp}" in second.stderr
    warning = [line for line in second.stderr.splitlines() if "signed by another node key" in line]
    assert len(warning) == 1 and fingerprint in warning[0] and other_fp in warning[0]
    assert "second chain" in warning[0] and "--node-key" in warning[0]
