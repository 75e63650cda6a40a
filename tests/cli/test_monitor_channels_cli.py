"""`swarmscope monitor` refuses runs that cannot work (one line, exit 1, nothing sealed) and warns when the
clock drifts past the threshold: --bind to a foreign address, no discovery channel, a listen port another
monitor holds, a skewed NTP server (real chronyd, private netns)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.database import open_store
from swarmscope.store.ledger import queries
from tests.cli.test_monitor_cli import tiny_torrent
from tests.monitor.test_monitor_channels import free_port, trackerless_torrent

register_commands()  # as the swarmscope entry point does: every command, whatever ran before

runner = CliRunner()
DEAD_TRACKER = "http://127.0.0.1:9/announce"  # nothing listens: a tracker given, not reachable


def _runs(db: Path) -> list[object]:
    store = open_store(str(db), node_key=Ed25519PrivateKey.generate())
    try:
        return list(queries.run_rows(store))
    finally:
        store.close()


def _one_line_refusal(output: str, message: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("error:"), output
    assert "Traceback" not in output


def test_bind_to_an_address_this_machine_lacks_is_refused(tmp_path: Path, netns: bool) -> None:
    torrent = tiny_torrent(tmp_path / "t.torrent", DEAD_TRACKER)
    db = tmp_path / "e.db"
    args = ["monitor", str(torrent), "--db", str(db), "--duration", "1", "--no-dht", "--bind", "192.0.2.1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    _one_line_refusal(result.output, "--bind 192.0.2.1: not an address of this machine")
    assert not db.exists()  # refused before anything was opened


def test_bind_to_a_loopback_address_is_accepted(tmp_path: Path, netns: bool) -> None:
    torrent = tiny_torrent(tmp_path / "t.torrent", DEAD_TRACKER)
    args = ["monitor", str(torrent), "--db", str(tmp_path / "e.db"), "--duration", "1", "--no-dht"]
    result = runner.invoke(app, [*args, "--bind", "127.0.0.7", "--listen-port", str(free_port("127.0.0.7"))])
    assert result.exit_code == 0, result.output


def test_no_discovery_channel_is_one_line_and_seals_nothing(tmp_path: Path, netns: bool) -> None:
    torrent = trackerless_torrent(tmp_path / "quiet.torrent")
    db = tmp_path / "e.db"
    args = ["monitor", str(torrent), "--db", str(db), "--duration", "1", "--no-dht", "--listen-port", "0"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    _one_line_refusal(result.output, "no discovery channel for quiet.bin")
    assert _runs(db) == []


def test_a_second_monitor_on_one_listen_port_is_refused(tmp_path: Path, netns: bool) -> None:
    """The first monitor listens on [::]:P; the second, also without --bind, must not take 0.0.0.0:P."""
    port = free_port()
    torrent = tiny_torrent(tmp_path / "t.torrent", DEAD_TRACKER)
    base = [str(torrent), "--duration", "30", "--no-dht", "--no-live", "--listen-port", str(port)]
    first = subprocess.Popen(
        [sys.executable, "-m", "swarmscope.cli", "monitor", *base, "--db", str(tmp_path / "first.db")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as client:
                if client.connect_ex(("::1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("the first monitor never listened")
        second_db = tmp_path / "second.db"
        second = [str(torrent), "--duration", "2", "--no-dht", "--no-live", "--listen-port", str(port)]
        result = runner.invoke(app, ["monitor", *second, "--db", str(second_db)])
    finally:
        first.terminate()
        first.wait(timeout=30)
    assert result.exit_code == 1, result.output
    _one_line_refusal(result.output, f"--listen-port {port}: cannot listen on [::]:{port}")
    assert _runs(second_db) == []


@pytest.mark.skipif(shutil.which("chronyd") is None, reason="chronyd not installed (apt-get install chrony)")
def test_a_2_s_skewed_ntp_server_is_one_warning_line_while_monitoring(tmp_path: Path, netns: bool) -> None:
    from swarmscope.testbed.chrony import start_skewed_chrony

    skewed = start_skewed_chrony(2.0, "127.0.0.9")
    try:
        torrent = tiny_torrent(tmp_path / "t.torrent", DEAD_TRACKER)
        proc = subprocess.run(
            [sys.executable, "-m", "swarmscope.cli", "monitor", str(torrent), "--db", str(tmp_path / "e.db"),
             "--duration", "4", "--no-live", "--no-dht", "--listen-port", "0",
             "--ntp-server", skewed.server, "--ntp-interval", "1"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        skewed.stop()
    assert proc.returncode == 0, proc.stderr
    clock = [line for line in proc.stderr.splitlines() if line.startswith("warning: clock:")]
    assert len(clock) == 1, proc.stderr  # one line when it first exceeds, not one per sample
    assert skewed.server in clock[0] and "exceeds 100 ms" in clock[0], clock
    offset_ms = float(clock[0].split("offset ")[1].split(" ms")[0])
    assert 1500 <= offset_ms <= 2500, clock  # 2 s skew; NTP's error is up to half the round trip (load)
