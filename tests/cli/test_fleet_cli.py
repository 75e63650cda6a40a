"""``swarmscope fleet`` and ``swarmscope node`` in-process: PostgreSQL only, registering swarms, status."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.database import open_store
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.migrate import alembic_config
from swarmscope.testbed.content import TorrentContent, build_content
from swarmscope.wire.bencode import decode, encode
from tests.pg_server import drop_schema

register_commands()  # as the swarmscope entry point does: every command, whatever ran before

runner = CliRunner()
PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
needs_pg = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def content(tmp_path: Path) -> TorrentContent:
    return build_content(
        tmp_path / "c",
        size=3 * 16384,
        piece_length=16384,
        seed=b"fleet",
        announce=["http://127.0.0.1:1/announce"],
    )


@pytest.fixture
def pg() -> Iterator[str]:
    assert PG_URL is not None
    yield PG_URL
    with open_store(PG_URL) as store, store.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")


@pytest.mark.parametrize(
    "args",
    [
        ["fleet", "status"],
        ["fleet", "remove", "aa" * 20],
        ["node", "--name", "n1"],
    ],
)
def test_the_fleet_refuses_sqlite_in_one_line_and_creates_nothing(tmp_path: Path, args: list[str]) -> None:
    db = tmp_path / "x.db"
    code, out = invoke(*args, "--db", str(db))
    assert code == 1
    assert out.count("\n") == 1 and "the fleet needs PostgreSQL" in out, out
    assert not db.exists()


def test_fleet_add_refuses_sqlite_and_a_bad_torrent_first(tmp_path: Path, content: TorrentContent) -> None:
    code, out = invoke("fleet", "add", str(content.torrent_path), "--db", str(tmp_path / "x.db"))
    assert (code, out.count("\n")) == (1, 1) and "needs PostgreSQL" in out
    (tmp_path / "bad.torrent").write_bytes(b"not bencode")
    code, out = invoke("fleet", "add", str(tmp_path / "bad.torrent"), "--db", "postgresql+psycopg://x@/y")
    assert (code, out.count("\n")) == (1, 1) and "invalid torrent" in out, out


@needs_pg
def test_add_status_remove(pg: str, content: TorrentContent) -> None:
    magnet = "magnet:?xt=urn:btih:" + "ab" * 20 + "&dn=film"
    code, out = invoke(
        "fleet", "add", str(content.torrent_path), magnet, "--db", pg, "--work", "Film", "--vantages", "3"
    )
    assert code == 0, out
    assert out.splitlines() == [
        f"added {content.infohash_hex} {content.name} (3 vantages)",
        f"added {'ab' * 20} film (3 vantages)",
        "warning: --work 'Film' names no work (yet): the swarms are registered; nodes use its reference copy"
        " once a work of that exact title is added (swarmscope works add)",
    ]
    code, out = invoke("fleet", "add", magnet, "--db", pg, "--vantages", "1")
    assert (code, out.strip()) == (0, f"updated {'ab' * 20} film (1 vantage)")
    tracked = magnet.replace("film", "film2") + "&tr=http://127.0.0.1:1/a"
    code, out = invoke("fleet", "add", tracked, "--db", pg, "--vantages", "1")
    assert (code, out.strip()) == (0, f"updated {'ab' * 20} film2 (1 vantage)")
    fleet = Fleet(open_store(pg, create=False))
    try:  # the magnet given again is the one the nodes read (its tracker)
        (stored,) = fleet.swarms(["ab" * 20])
        assert stored.magnet == tracked and stored.name == "film2"
        retracked = _retracked(content, "http://127.0.0.1:2/announce")
        code, out = invoke("fleet", "add", str(retracked), "--db", pg)  # no --vantages: its 3 are kept
        assert (code, out.strip()) == (0, f"updated {content.infohash_hex} {content.name} (3 vantages)")
        (torrent,) = fleet.swarms([content.infohash_hex])
        assert torrent.metainfo == retracked.read_bytes()  # same info dict, the new announce list
        code, out = invoke("fleet", "add", f"magnet:?xt=urn:btih:{content.infohash_hex}", "--db", pg)
        assert code == 0 and out.strip().endswith("(3 vantages; its stored .torrent's trackers stay in use)")
        code, out = invoke("fleet", "add", f"magnet:?xt=urn:btih:{'cd' * 20}", "--db", pg)  # new: the default
        assert (code, out.strip()) == (0, f"added {'cd' * 20} {'cd' * 20} (2 vantages)"), out
        assert fleet.remove_swarm("cd" * 20)
    finally:
        fleet.store.close()
    code, out = invoke("fleet", "status", "--db", pg)
    assert code == 0, out
    assert "nodes: 0" in out and "swarms: 2, under-covered: 2" in out
    assert f"{'ab' * 20} film2 0/1 [-] UNDER-COVERED" in out
    code, out = invoke("fleet", "remove", "ab" * 20, "cd" * 20, "--db", pg)
    assert code == 1 and f"removed {'ab' * 20}" in out and f"not registered: {'cd' * 20}" in out
    code, out = invoke("fleet", "status", "--db", pg)
    assert "swarms: 1, under-covered: 1" in out


def test_a_bad_vantages_value_is_one_line(tmp_path: Path, content: TorrentContent) -> None:
    code, out = invoke(
        "fleet", "add", str(content.torrent_path), "--db", "postgresql://x@/y", "--vantages", "0"
    )
    assert code == 1 and out.count("\n") == 1 and "--vantages" in out, out


def test_status_flags_a_swarm_held_by_more_nodes_than_its_vantages() -> None:
    from swarmscope.cli.fleet import status_lines
    from swarmscope.store.fleet.status import FleetStatus, SwarmCoverage

    state = FleetStatus(
        0,
        [],
        [
            SwarmCoverage("ab" * 20, "film", None, 1, ("n2", "n3")),
            SwarmCoverage("cd" * 20, "b", None, 2, ("n2",)),
        ],
    )
    lines = status_lines(state)
    assert f"  {'ab' * 20} film 2/1 [n2,n3] OVER-COVERED" in lines
    assert f"  {'cd' * 20} b 1/2 [n2] UNDER-COVERED" in lines


def test_status_shows_writer_lag_and_the_last_batch_apart() -> None:
    from swarmscope.cli.fleet import status_lines
    from swarmscope.store.fleet.status import FleetStatus, NodeStatus

    nodes = [
        NodeStatus("n2", "ab" * 32, "127.0.3.5", 4, 1.2, False, 4, 0.0, 97.0),
        NodeStatus("n3", "cd" * 32, None, 4, 0.5, False, 0, None, None),
    ]
    lines = status_lines(FleetStatus(0, nodes, []))
    assert lines[1].endswith("heartbeat 1.2s ago leases 4/4 writer lag 0.0s last batch 97.0s ago"), lines
    assert lines[2].endswith("last batch - NO --bind: its hits corroborate no other node's"), lines


@pytest.mark.parametrize(
    ("offset", "shown"),
    [
        (10_800.002, " clock 10800.002s behind database CLOCK OFF (> 100 ms: hits flagged)"),  # stepped back
        (-0.25, " clock 0.250s ahead of database CLOCK OFF (> 100 ms: hits flagged)"),
        (0.004, " clock 0.004s behind database"),
        (0.0, " clock 0.000s off database"),
    ],
)
def test_status_says_which_way_a_node_clock_is_off(offset: float, shown: str) -> None:
    """The stored offset is database time minus node time (RFC 4330): positive when the node's clock is
    behind (stepped back), so the line says "behind", never a bare "+" that reads as "node ahead"."""
    from swarmscope.cli.fleet import status_lines
    from swarmscope.store.fleet.status import FleetStatus, NodeStatus

    node = NodeStatus("n1", "ab" * 32, "127.0.3.1", 4, 1.0, False, 1, 0.0, 2.0, offset, 0.1)
    (line,) = status_lines(FleetStatus(0, [node], []))[1:2]
    assert line.endswith("last batch 2.0s ago" + shown), line


def test_status_labels_a_dead_node() -> None:
    from swarmscope.cli.fleet import status_lines
    from swarmscope.store.fleet.status import FleetStatus, NodeStatus

    dead = NodeStatus("n10", "ab" * 32, "127.0.4.29", 4, 820.5, False, 0, 0.0, None, dead=True)
    (line,) = status_lines(FleetStatus(0, [dead], []))[1:2]
    assert "heartbeat 820.5s ago DEAD (silent > 3 lease periods: fleet retire n10)" in line, line


@needs_pg
def test_retiring_a_live_node_is_refused_in_one_line(pg: str) -> None:
    from swarmscope.store.fleet.handle import Fleet
    from swarmscope.store.fleet.registry import NodeStart

    with open_store(pg, node_key=Ed25519PrivateKey.generate()) as store:
        assert store.node is not None
        Fleet(store).start_node(NodeStart("n1", store.node.fingerprint, "127.0.3.1", 0, 4))
    code, out = invoke("fleet", "retire", "n1", "--db", pg)
    assert code == 1 and out.count("\n") == 1 and "node 'n1' sent a heartbeat" in out, out
    code, out = invoke("fleet", "retire", "n9", "--db", pg)
    assert code == 1 and out.count("\n") == 1 and "no node named 'n9'" in out, out


def test_an_ipv4_mapped_bind_is_refused_in_one_line() -> None:
    for args in (
        ("node", "--db", "postgresql://x@/y", "--name", "n5"),
        ("monitor", "magnet:?xt=urn:btih:" + "ab" * 20),
    ):
        code, out = invoke(*args, "--bind", "::ffff:127.0.4.6")
        assert code == 1 and out.count("\n") == 1, out
        assert "--bind ::ffff:127.0.4.6: an IPv4-mapped IPv6 address; give the IPv4 address" in out, out
        assert "(--bind 127.0.4.6)" in out, out


def test_status_flags_nodes_that_share_one_vantage_point() -> None:
    from swarmscope.cli.fleet import status_lines
    from swarmscope.store.fleet.status import FleetStatus, NodeStatus

    def node(name: str, ip: str | None, stopped: bool = False) -> NodeStatus:
        return NodeStatus(name, "ab" * 32, ip, 4, 1.0, stopped, 1, 0.0, None)

    nodes = [
        node("n1", "192.0.2.10"), node("n2", "192.0.2.77"), node("n3", "198.51.100.1"),
        node("n6", None), node("n7", None), node("n8", "127.0.4.1"), node("n9", "127.0.4.5"),
        node("old", "198.51.100.9", stopped=True),
    ]  # fmt: skip
    lines = status_lines(FleetStatus(0, nodes, []))
    assert lines[1].endswith(" ONE VANTAGE (192.0.2.0/24) with n2: not corroborating each other"), lines
    assert lines[2].endswith(" ONE VANTAGE (192.0.2.0/24) with n1: not corroborating each other"), lines
    assert lines[4].endswith(" ONE VANTAGE (default route (no --bind)) with n7: not corroborating each other")
    assert not any("VANTAGE" in lines[i] for i in (3, 6, 7, 8)), lines  # distinct; a stopped node


@needs_pg
def test_a_refused_node_start_is_one_line_and_leaves_no_new_key(pg: str, tmp_path: Path) -> None:
    from swarmscope.store.fleet.handle import Fleet
    from swarmscope.store.fleet.registry import NodeStart
    from swarmscope.store.ledger.node_key import open_node_key

    n1 = open_node_key(tmp_path / "n1.pem")
    with open_store(pg, node_key=n1.key) as store:  # n1 runs at 127.0.3.1: its heartbeat is fresh
        Fleet(store).start_node(NodeStart("n1", n1.fingerprint, "127.0.3.1", 0, 4))
    node = ("node", "--db", pg, "--listen-port", "0", "--no-dht")
    code, out = invoke(*node, "--name", "n1", "--bind", "127.0.3.13", "--node-key", str(tmp_path / "n1.pem"))
    assert code == 1 and out.count("\n") == 1 and "node 'n1' is running already" in out, out
    code, out = invoke(*node, "--name", "n4", "--bind", "127.0.3.2", "--node-key", str(tmp_path / "n4.pem"))
    assert code == 1 and "shares the range 127.0.3.0/30 with node 'n1'" in out, out
    assert "(--public-ip when the node gives one, else --bind)" in out, out
    assert out.count("\n") == 1 and "created node key" not in out, out  # its key is announced only if kept
    code, out = invoke(*node, "--name", "n6", "--bind", "127.0.3.21", "--node-key", str(tmp_path / "n1.pem"))
    assert code == 1 and out.count("\n") == 1 and "is registered already under node 'n1'" in out, out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n1.pem"]  # n4's new key went with its refusal


@needs_pg
def test_an_accepted_node_start_announces_its_new_key_once_registered(
    pg: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from swarmscope.cli.node import build_node
    from swarmscope.monitor.config import MonitorConfig
    from swarmscope.monitor.node import NodePlan
    from swarmscope.store.fleet.registry import NodeStart

    key = tmp_path / "n5.pem"
    config = MonitorConfig(peer_id=b"-SS0001-" + b"x" * 12, listen=False, dht=False, flush_interval=0.1)
    node = build_node(pg, NodePlan(NodeStart("n5", "", None, 0, 2), 3.0), config, str(key))
    try:
        assert "created node key" not in capsys.readouterr().out  # the fleet has not accepted it yet
        assert node.fleet.timeout == 1.0  # its lease statements and lock waits: one renewal period (3 s / 3)
        stop = asyncio.Event()
        stop.set()  # register, then stop at once
        asyncio.run(node.run(stop))
    finally:
        node.fleet.store.close()
        drop_schema(pg)  # its jobs worker applied procrastinate's schema: not undone by a downgrade
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"created node key {key}, fingerprint "), lines
    assert sum(line.startswith("created node key") for line in lines) == 1


def test_a_wildcard_bind_is_refused_and_a_node_without_bind_beside_bound_ones_is_flagged() -> None:
    """``--bind 0.0.0.0`` or ``::`` names no source (the kernel picks one, as without --bind), so it is
    refused in one line; ``fleet status`` marks a lone node without --bind among bound ones: its default
    route may be any address of the host, a bound node's included, so it corroborates nothing."""
    from swarmscope.cli.fleet import status_lines
    from swarmscope.store.fleet.status import FleetStatus, NodeStatus

    for wildcard in ("0.0.0.0", "::"):
        code, out = invoke("monitor", "magnet:?xt=urn:btih:" + "ab" * 20, "--bind", wildcard)
        assert code == 1 and out.count("\n") == 1 and "a wildcard address names no source" in out, out
    nodes = [NodeStatus("za", "ab" * 32, None, 4, 1.0, False, 1, 0.0, None),
             NodeStatus("zb", "cd" * 32, "192.0.2.10", 4, 1.0, False, 1, 0.0, None)]  # fmt: skip
    lines = status_lines(FleetStatus(0, nodes, []))
    assert lines[1].endswith(" NO --bind: its hits corroborate no other node's"), lines
    assert "--bind" not in lines[2], lines


def _retracked(content: TorrentContent, announce: str) -> Path:
    """The content's .torrent with another announce URL (the same info dict, so the same swarm)."""
    meta = decode(content.torrent_path.read_bytes())
    assert isinstance(meta, dict)
    path = content.torrent_path.with_name("retracked.torrent")
    path.write_bytes(encode(meta | {b"announce": announce.encode()}))
    return path
