"""The discovery scenario is what it claims, checked without swarmscope's monitor.

Each group must be reachable through exactly one channel: the tracker lists only the tracker and
encrypted groups; an ordinary libtorrent session bootstrapped from the mesh finds the DHT-only and magnet
groups with ``get_peers`` (and nothing else); the hub's ``ut_pex`` names the PEX-only group, which is in
neither the tracker nor the DHT; the inbound-only group refuses incoming handshakes but dials a listener
it was given; the encrypted-only group drops a plaintext handshake; the IPv6 peer is listed by the IPv6
tracker and answers on ::1. The plain-socket client is tests/testbed/peer_probe.py (independent of
swarmscope's wire code).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bencode2
import pytest

from swarmscope.testbed.discovery import DiscoveryScenario, start_discovery
from swarmscope.testbed.discovery_cast import INBOUND_MSE_PEERS
from swarmscope.testbed.process import free_port
from swarmscope.testbed.tracker import list_peers
from tests.testbed.peer_probe import PSTR, PeerProbe, sha1

lt = pytest.importorskip("libtorrent")
pytestmark = [pytest.mark.netns, pytest.mark.realclients]

PROBE_SOURCE = "127.0.0.60"  # our plain-socket client and tracker probes
LISTENER_IP = "127.0.0.61"  # stands in for a monitor: the inbound-only group dials it
OUR_PEER_ID = b"-ZZ0000-discoveryprb"
EXTENDED = 20  # BEP 10 message id


class Listener:
    """A TCP listener standing in for a monitor: a thread accepts every connection and records the
    source IP of each one that sent a full BEP 3 handshake (first 68 bytes)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((LISTENER_IP, free_port(LISTENER_IP)))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.handshakes: list[tuple[str, bytes]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="listener", daemon=True)
        self.thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()
        return str(host), int(port)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, (ip, _port) = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn, contextlib.suppress(OSError):
                conn.settimeout(3.0)
                data = b""
                while len(data) < 68:
                    chunk = conn.recv(68 - len(data))
                    if not chunk:
                        break
                    data += chunk
                self.handshakes.append((ip, data))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5.0)
        self.sock.close()


@pytest.fixture(scope="module")
def listener(netns: bool) -> Iterator[Listener]:
    running = Listener()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def scenario(listener: Listener, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiscoveryScenario]:
    with start_discovery(tmp_path_factory.mktemp("discovery"), [listener.address]) as running:
        yield running


def _addresses(scenario: DiscoveryScenario, *groups: str) -> set[tuple[str, int]]:
    return {(p.ip, p.port) for g in groups for p in scenario.group(g)}


def _dht_lookup(scenario: DiscoveryScenario, infohash_hex: str, want: set[tuple[str, int]]) -> set[Any]:
    """get_peers from a fresh libtorrent session whose only contact is the mesh's bootstrap node."""
    settings = {
        "listen_interfaces": "127.0.0.62:6881",
        "outgoing_interfaces": "127.0.0.62",
        "enable_dht": True,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_bootstrap_nodes": scenario.dht_bootstrap,
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_enforce_node_id": False,
        "dht_prefer_verified_node_ids": False,
        "alert_mask": int(lt.alert_category.dht | lt.alert_category.dht_operation),
    }
    ses = lt.session(settings)
    found: set[tuple[str, int]] = set()
    try:
        deadline = time.monotonic() + 45
        while not want <= found and time.monotonic() < deadline:
            ses.dht_get_peers(lt.sha1_hash(bytes.fromhex(infohash_hex)))
            step = time.monotonic() + 3
            while time.monotonic() < step:
                for alert in ses.pop_alerts():
                    if isinstance(alert, lt.dht_get_peers_reply_alert):
                        found |= {(str(ip), int(port)) for ip, port in alert.peers()}
                time.sleep(0.05)
    finally:
        ses.pause()
        del ses
    return found


def test_mesh_has_fifty_sessions_and_a_dedicated_bootstrap(scenario: DiscoveryScenario) -> None:
    assert len(set(scenario.mesh)) >= 50
    assert scenario.dht_bootstrap not in {f"{ip}:{port}" for ip, port in scenario.mesh}


def test_every_peer_holds_its_pieces(scenario: DiscoveryScenario) -> None:
    stats = scenario.peer_stats()
    for peer in scenario.peers:
        assert set(stats[peer.name]["pieces"]) == peer.pieces, peer.name
        assert peer.pieces, peer.name


def test_tracker_lists_only_the_tracker_and_encrypted_groups(scenario: DiscoveryScenario) -> None:
    listed = list_peers(
        scenario.tracker.http_url, source_ip=PROBE_SOURCE, infohash=bytes.fromhex(scenario.infohash_hex)
    )
    listed = {a for a in listed if not a[0].startswith("127.0.0.")}  # other probes / monitors
    assert listed == _addresses(scenario, "tracker", "encrypted")


def test_dht_lookup_finds_the_dht_only_group_and_nothing_else(scenario: DiscoveryScenario) -> None:
    want = _addresses(scenario, "dht")
    found = _dht_lookup(scenario, scenario.infohash_hex, want)
    assert want <= found
    others = _addresses(scenario, "tracker", "pex", "inbound", "encrypted", "ipv6")
    assert not found & others


def test_dht_lookup_finds_the_magnet_group(scenario: DiscoveryScenario) -> None:
    want = _addresses(scenario, "magnet")
    assert want <= _dht_lookup(scenario, scenario.magnet_infohash_hex, want)


class ExtensionProbe(PeerProbe):
    """PeerProbe that also sends the BEP 10 extension bit and handshake advertising ``ut_pex``."""

    def extended_handshake(self, infohash: bytes) -> None:
        reserved = bytearray(8)
        reserved[5] |= 0x10  # BEP 10 extension protocol
        self.sock.sendall(PSTR + bytes(reserved) + infohash + OUR_PEER_ID)
        reply = self._read(68, time.monotonic() + 10)
        assert reply[:20] == PSTR and reply[28:48] == infohash
        body = bencode2.bencode({b"m": {b"ut_pex": 1}, b"v": b"discovery-probe"})
        self.sock.sendall(struct.pack(">IBB", len(body) + 2, EXTENDED, 0) + body)

    def pex_added(self, seconds: float) -> set[tuple[str, int]]:
        """Addresses in the ``added`` field of every ut_pex message read within ``seconds`` (BEP 11)."""
        added: set[tuple[str, int]] = set()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                msg = self.next_message(deadline)
            except (TimeoutError, ConnectionError):
                break
            if msg is None or msg[0] != EXTENDED or msg[1][0] != 1:  # 1 = our ut_pex id
                continue
            compact = bencode2.bdecode(msg[1][1:]).get(b"added", b"")
            for i in range(0, len(compact) - len(compact) % 6, 6):
                added.add(
                    (socket.inet_ntoa(compact[i : i + 4]), int.from_bytes(compact[i + 4 : i + 6], "big"))
                )
            if added:
                break
        return added


def test_hub_pex_names_the_pex_only_group(scenario: DiscoveryScenario) -> None:
    hub = scenario.peer("tracker-hub")
    probe = ExtensionProbe(hub.ip, hub.port, source_ip=PROBE_SOURCE)
    try:
        probe.extended_handshake(bytes.fromhex(scenario.infohash_hex))
        added = probe.pex_added(10.0)
    finally:
        probe.close()
    assert _addresses(scenario, "pex") <= added
    assert not added & _addresses(scenario, "dht", "inbound")


def _plaintext_handshake_fails(ip: str, port: int, infohash: bytes) -> str:
    """Try a plaintext BEP 3 handshake; return how it failed (AssertionError if it succeeded)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(5.0)
        try:
            sock.connect((ip, port))
            sock.sendall(PSTR + bytes(8) + infohash + OUR_PEER_ID)
            reply = sock.recv(68)
        except ConnectionRefusedError:
            return "refused"
        except ConnectionResetError:
            return "reset"
        except TimeoutError:
            return "timeout"
        assert not reply.startswith(PSTR), f"{ip}:{port} answered a plaintext handshake"
        return "closed"


def test_encrypted_group_drops_plaintext_but_tracker_group_answers(scenario: DiscoveryScenario) -> None:
    infohash = bytes.fromhex(scenario.infohash_hex)
    for peer in scenario.group("encrypted"):
        assert _plaintext_handshake_fails(peer.ip, peer.port, infohash) in ("reset", "closed", "timeout")
    for peer in scenario.group("tracker"):
        with PeerProbe(peer.ip, peer.port, source_ip=PROBE_SOURCE) as probe:
            assert probe.handshake(infohash, OUR_PEER_ID).infohash == infohash


def test_encrypted_group_talks_to_libtorrent_with_encryption(scenario: DiscoveryScenario) -> None:
    """The hub (encryption allowed) is connected to them: they are peers, just not plaintext ones."""
    stats = scenario.peer_stats()
    hub_links = {(r["ip"], r["port"]) for r in stats["tracker-hub"]["peers"] if r["established"]}
    assert _addresses(scenario, "encrypted") <= hub_links


def test_inbound_group_refuses_incoming_handshakes(scenario: DiscoveryScenario) -> None:
    infohash = bytes.fromhex(scenario.infohash_hex)
    for peer in scenario.group("inbound"):
        assert _plaintext_handshake_fails(peer.ip, peer.port, infohash) in ("refused", "reset", "closed")


def test_inbound_group_dials_the_listener_it_was_given(
    scenario: DiscoveryScenario, listener: Listener
) -> None:
    """They dial every 2 s while nobody answers: the plaintext ones with a BEP 3 handshake naming our
    infohash; the MSE one (``INBOUND_MSE_PEERS``, BEP 8 forced encryption) with bytes that are no BEP 3
    handshake (its DH public key)."""
    group = scenario.group("inbound")
    want = {p.ip for p in group if p.name not in INBOUND_MSE_PEERS}
    want_mse = {p.ip for p in group if p.name in INBOUND_MSE_PEERS}
    assert want and want_mse
    infohash = bytes.fromhex(scenario.infohash_hex)
    deadline = time.monotonic() + 20
    seen: set[str] = set()
    dialled: set[str] = set()
    while not (want <= seen and want_mse <= dialled) and time.monotonic() < deadline:
        time.sleep(0.2)
        handshakes = list(listener.handshakes)
        seen = {ip for ip, data in handshakes if data[:20] == PSTR and data[28:48] == infohash}
        dialled = {ip for ip, data in handshakes if data and data[:20] != PSTR}
    assert want <= seen
    assert want_mse <= dialled


def test_pex_and_inbound_groups_are_in_no_tracker_and_no_dht(scenario: DiscoveryScenario) -> None:
    found = scenario.dht_found().get(scenario.infohash_hex, set())
    hidden = _addresses(scenario, "pex", "inbound", "tracker", "encrypted")
    assert not found & hidden
    assert found >= _addresses(scenario, "dht")


def test_ipv6_peer_is_listed_on_the_ipv6_tracker_and_answers(scenario: DiscoveryScenario) -> None:
    if scenario.ipv6_skip_reason or scenario.tracker6 is None:
        pytest.skip(scenario.ipv6_skip_reason or "no IPv6 tracker")
    peer = scenario.peer("v6-seed")
    swarm = scenario.tracker6.swarms.get(bytes.fromhex(scenario.infohash_hex), {})
    assert ("::1", peer.port) in swarm
    infohash = bytes.fromhex(scenario.infohash_hex)
    with PeerProbe("::1", peer.port, source_ip="::1") as probe:
        assert probe.handshake(infohash, OUR_PEER_ID).infohash == infohash
        offset_len = scenario.content.piece_span(0)[1]
        data = probe.download_piece(0, offset_len)
    assert sha1(data) == scenario.content.piece_hashes[0]


def test_dht_and_pex_peers_serve_pieces_that_check(scenario: DiscoveryScenario) -> None:
    infohash = bytes.fromhex(scenario.infohash_hex)
    for name in ("dht-partial", "pex-partial"):
        peer = scenario.peer(name)
        index = max(peer.pieces)
        with PeerProbe(peer.ip, peer.port, source_ip=PROBE_SOURCE) as probe:
            probe.handshake(infohash, OUR_PEER_ID)
            data = probe.download_piece(index, scenario.content.piece_span(index)[1])
        assert sha1(data) == scenario.content.piece_hashes[index], name


def test_runner_is_stopped_and_files_removed_on_exit(netns: bool, tmp_path: Path) -> None:
    with start_discovery(tmp_path, [("127.0.0.63", 1)], mesh_size=4) as small:
        runner = small.runner
        root = small.workdir
        assert runner is not None and runner.poll() is None
    assert runner.poll() is not None
    assert not root.exists()
    assert small.final_stats is not None and small.final_stats["reason"] == "exit"
