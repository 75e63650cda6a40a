"""The real-swarm scenario is what it claims: each peer checked with a plain-socket BEP 3 client.

These tests validate the testbed independently of the monitor: the tracker lists every address, each
peer's handshake and advertised pieces are its true state, good peers serve pieces whose SHA-1 checks,
the corrupt peer serves bytes that do not, the dead address refuses, and the runner's per-peer stats see
what we downloaded (and that we uploaded nothing).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmscope.testbed.swarm import Swarm, start_swarm
from swarmscope.testbed.tracker import announce_from
from tests.testbed.peer_probe import PeerProbe, sha1

pytest.importorskip("libtorrent")
pytestmark = [pytest.mark.netns, pytest.mark.realclients]

PROBE_SOURCE = "127.0.0.50"  # our test client's address, distinct from every scenario address
OUR_PEER_ID = b"-ZZ0000-testbedprobe"


@pytest.fixture(scope="module", params=["v1", "hybrid"])
def swarm(
    request: pytest.FixtureRequest, netns: bool, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Swarm]:
    hybrid = request.param == "hybrid"
    with start_swarm(tmp_path_factory.mktemp("swarm"), monitor_ip="127.0.0.1", hybrid=hybrid) as running:
        assert (running.content.infohash_v2_hex is not None) == hybrid
        yield running


def _probe(swarm: Swarm, name: str) -> PeerProbe:
    peer = swarm.peer(name)
    return PeerProbe(peer.ip, peer.port, source_ip=PROBE_SOURCE)


def test_tracker_lists_every_peer_including_the_dead_address(swarm: Swarm) -> None:
    listed = swarm.listed()
    assert {(p.ip, p.port) for p in swarm.peers} <= listed
    assert swarm.dead_address in listed
    assert len({p.ip for p in swarm.peers}) == len(swarm.peers)  # one address per peer


@pytest.mark.parametrize("name", ["seed1", "seed2", "partial", "corrupt", "aria2"])
def test_peer_advertises_its_true_pieces(swarm: Swarm, name: str) -> None:
    if name == "aria2" and not any(p.name == "aria2" for p in swarm.peers):
        pytest.skip(f"aria2 not in this scenario: {swarm.notes}")
    expected = swarm.peer(name)
    with _probe(swarm, name) as probe:
        hs = probe.handshake(bytes.fromhex(swarm.infohash_hex), OUR_PEER_ID)
        advertised = probe.collect_advertised(swarm.content.num_pieces, 10.0)
    assert hs.infohash.hex() == swarm.infohash_hex
    version = expected.client.split(" ")[1]  # "1.36.0" / "2.1.1.0" (BEP 20 peer id prefixes)
    prefix = (
        "A2-" + version.replace(".", "-") + "-"
        if name == "aria2"
        else "-LT" + version.replace(".", "")[:4] + "-"
    ).encode()
    assert hs.peer_id.startswith(prefix)
    assert advertised == set(expected.pieces)


def test_empty_leecher_advertises_nothing_and_holds_nothing(swarm: Swarm) -> None:
    with _probe(swarm, "leecher") as probe:
        probe.handshake(bytes.fromhex(swarm.infohash_hex), OUR_PEER_ID)
        assert probe.collect_advertised(swarm.content.num_pieces, 3.0) == set()
    stats = swarm.peer_stats()["leecher"]
    assert stats["num_pieces"] == 0 and stats["pieces"] == []


@pytest.mark.parametrize("name", ["seed1", "seed2", "partial", "aria2"])
def test_good_peer_serves_a_piece_that_hashes(swarm: Swarm, name: str) -> None:
    if name == "aria2" and not any(p.name == "aria2" for p in swarm.peers):
        pytest.skip(f"aria2 not in this scenario: {swarm.notes}")
    index = max(swarm.peer(name).pieces)
    _offset, length = swarm.content.piece_span(index)
    with _probe(swarm, name) as probe:
        probe.handshake(bytes.fromhex(swarm.infohash_hex), OUR_PEER_ID)
        probe.collect_advertised(swarm.content.num_pieces, 5.0)
        data = probe.download_piece(index, length)
    assert sha1(data) == swarm.content.piece_hashes[index]


def test_corrupt_peer_serves_bytes_whose_hash_does_not_match(swarm: Swarm) -> None:
    _offset, length = swarm.content.piece_span(1)
    with _probe(swarm, "corrupt") as probe:
        probe.handshake(bytes.fromhex(swarm.infohash_hex), OUR_PEER_ID)
        assert len(probe.collect_advertised(swarm.content.num_pieces, 5.0)) == swarm.content.num_pieces
        data = probe.download_piece(1, length)
    assert len(data) == length
    assert sha1(data) != swarm.content.piece_hashes[1]


def test_dead_address_refuses_connections(swarm: Swarm) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(swarm.dead_address, timeout=5, source_address=(PROBE_SOURCE, 0)).close()


def test_runner_stats_report_true_state_and_what_we_took(swarm: Swarm) -> None:
    _offset, length = swarm.content.piece_span(0)
    with _probe(swarm, "seed2") as probe:
        probe.handshake(bytes.fromhex(swarm.infohash_hex), OUR_PEER_ID)
        probe.collect_advertised(swarm.content.num_pieces, 5.0)
        probe.download_piece(0, length)
        stats = swarm.peer_stats()
    for peer in swarm.peers:
        if peer.name in stats:
            assert set(stats[peer.name]["pieces"]) == set(peer.pieces), peer.name
    ours = [r for r in stats["seed2"]["peers"] if r["ip"] == PROBE_SOURCE]
    assert ours and max(r["total_upload"] for r in ours) >= length  # seed2 saw its upload to us
    assert stats["seed2"]["blocks_to"][PROBE_SOURCE] >= length
    assert any(r["established"] for r in ours)
    dead_ip = swarm.dead_address[0]
    assert not any(r["established"] for d in stats.values() for r in d["peers"] if r["ip"] == dead_ip)
    assert swarm.payload_sent_to(PROBE_SOURCE, stats) >= length
    assert swarm.payload_received_from(PROBE_SOURCE, stats) == 0  # we never sent payload


def test_stop_removes_everything(netns: bool, tmp_path: Path) -> None:
    with start_swarm(tmp_path, with_aria2=False) as running:
        pids = [
            running.runner.pid if running.runner else 0,
            running.tracker.proc.pid if running.tracker.proc else 0,
        ]
        root = running.workdir
        assert running.peer_stats()["seed1"]["num_pieces"] == running.content.num_pieces
    assert not root.exists()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert running.final_stats is not None and running.final_stats["reason"] == "exit"


def test_peers_reannounce_and_connect_to_a_newcomer(swarm: Swarm) -> None:
    """NOTES: announcing puts the monitor into the swarm; with forced re-announces peers find it fast."""
    newcomer = "127.0.0.51"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((newcomer, 0))
        listener.listen(16)
        listener.settimeout(30)
        port = listener.getsockname()[1]
        infohash = bytes.fromhex(swarm.infohash_hex)
        announce_from(
            swarm.tracker_url,
            source_ip=newcomer,
            infohash=infohash,
            peer_id=b"-ZZ0000-newcomer0000",
            port=port,
            left=swarm.content.size,
        )
        try:
            conn, (ip, _) = listener.accept()  # bounded by the 30 s timeout
            with conn:
                conn.settimeout(10)
                handshake = b""
                while len(handshake) < 68:
                    chunk = conn.recv(68 - len(handshake))
                    if not chunk:
                        break
                    handshake += chunk
        finally:
            announce_from(
                swarm.tracker_url,
                source_ip=newcomer,
                infohash=infohash,
                peer_id=b"-ZZ0000-newcomer0000",
                port=port,
                left=0,
                event="stopped",
            )
    assert ip in {p.ip for p in swarm.peers}
    assert handshake[28:48] == infohash


def test_udp_variant_torrent_names_only_the_udp_tracker(swarm: Swarm) -> None:
    import libtorrent as lt

    assert swarm.udp_torrent_path is not None and swarm.tracker_udp_url is not None
    info = lt.torrent_info(str(swarm.udp_torrent_path))
    assert str(info.info_hashes().v1) == swarm.infohash_hex
    meta = lt.bdecode(swarm.udp_torrent_path.read_bytes())
    assert meta[b"announce"] == swarm.tracker_udp_url.encode() and len(meta[b"announce-list"]) == 1
