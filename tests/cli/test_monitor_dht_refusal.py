"""A run refused because its DHT can never run creates nothing: no database file, no node key.

README "Usage" ("When no channel is left"): a swarm with no tracker and a DHT that cannot run (no UDP port
at all, or no bootstrap node resolves) is refused before the run starts, one line, exit status 1. The
check happens before the key and the database are created; when the DHT fails only at start-up (the
names or the port changed in between), what this run created is removed again, and nothing that existed
before. Private netns: a name lookup reaches nothing but loopback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import swarmscope.cli.monitor as cli_monitor
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.monitor.channels import dht_problem
from swarmscope.monitor.config import MonitorConfig
from tests.cli.test_monitor_channels_cli import _one_line_refusal, _runs

register_commands()  # as the swarmscope entry point does: every command, whatever ran before

runner = CliRunner()
MAGNET = f"magnet:?xt=urn:btih:{'ab' * 20}&dn=lonely"
UNRESOLVABLE = "nonexistent.invalid:6881"  # RFC 6761: .invalid never resolves


def _created(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.iterdir() if p.name.startswith(db.name))


def _monitor(db: Path, *extra: str) -> str:
    args = ["monitor", MAGNET, "--db", str(db), "--duration", "1", "--no-live", "--listen-port", "0"]
    result = runner.invoke(app, [*args, "--dht-bootstrap", UNRESOLVABLE, *extra])
    assert result.exit_code == 1, result.output
    return result.output


def test_unresolvable_bootstrap_is_refused_before_anything_is_created(tmp_path: Path, netns: bool) -> None:
    db = tmp_path / "i.db"
    output = _monitor(db)
    _one_line_refusal(output, "no discovery channel for lonely")
    assert "none of the DHT bootstrap nodes resolves" in output
    assert "created node key" not in output
    assert _created(db) == []


def test_a_dht_failing_only_at_start_up_leaves_nothing_behind(
    tmp_path: Path, netns: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The early check passes (as when a name stops resolving in between); the refusal comes from the run."""
    monkeypatch.setattr(cli_monitor, "check_channels_early", lambda config, targets: None)
    db = tmp_path / "i.db"
    output = _monitor(db)
    assert "no discovery channel for lonely" in output and "Traceback" not in output
    assert _created(db) == []


def test_a_database_and_key_that_existed_before_are_kept(
    tmp_path: Path, netns: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "i.db"
    first = runner.invoke(app, ["monitor", MAGNET, "--db", str(db), "--duration", "0.5", "--no-live",
                                "--listen-port", "0", "--dht-bootstrap", "127.0.0.9:6881"])  # fmt: skip
    assert first.exit_code == 0, first.output
    key = db.with_name("i.db.node-key.pem").read_bytes()
    monkeypatch.setattr(cli_monitor, "check_channels_early", lambda config, targets: None)
    _monitor(db)
    assert db.with_name("i.db.node-key.pem").read_bytes() == key
    assert len(_runs(db)) == 1


def test_no_udp_port_at_all_is_a_dht_problem() -> None:
    """Not even a free UDP port binds on an address this machine lacks (TEST-NET-1, RFC 5737)."""
    config = MonitorConfig(peer_id=b"-SS0100-dhtproblem00", bind_ip="192.0.2.1", dht=True,
                           dht_bootstrap=[("127.0.0.9", 6881)])  # fmt: skip
    assert (dht_problem(config) or "").startswith("cannot bind a UDP port on 192.0.2.1")
    usable = MonitorConfig(peer_id=b"-SS0100-dhtproblem00", dht_bootstrap=[("127.0.0.9", 1)])
    assert dht_problem(usable) is None
