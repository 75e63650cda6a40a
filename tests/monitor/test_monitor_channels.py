"""The monitor's discovery channels: a taken DHT port falls back to a free one, a run that can find nobody
is refused before anything is sealed, and a taken listen port is refused (private netns, loopback only)."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.errors import InputError
from swarmscope.monitor.channels import check_channels
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.crawler import Monitor
from swarmscope.monitor.targets import load_target
from swarmscope.net.clock import Clock
from swarmscope.net.dht_node import DhtNode
from swarmscope.store.database import open_store
from swarmscope.store.ledger import queries
from swarmscope.wire import bencode
from swarmscope.wire.types import Endpoint

PEER_ID = b"-SS0100-channelschan"


def trackerless_torrent(path: Path) -> Path:
    """A small v1 .torrent that names no tracker at all (found through the DHT, or not at all)."""
    data = b"c" * 40000
    pieces = b"".join(hashlib.sha1(data[i : i + 16384]).digest() for i in range(0, len(data), 16384))
    info = {b"name": b"quiet.bin", b"piece length": 16384, b"length": len(data), b"pieces": pieces}
    path.write_bytes(bencode.encode({b"info": info}))
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both TCP and UDP on ``host`` (our listener and our DHT node share the number)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port


def _store(tmp_path: Path, name: str):  # type: ignore[no-untyped-def]
    return open_store(str(tmp_path / name), node_key=Ed25519PrivateKey.generate())


def test_taken_dht_port_falls_back_to_a_free_one_and_announces_the_listen_port(
    tmp_path: Path, netns: bool
) -> None:
    torrent = trackerless_torrent(tmp_path / "quiet.torrent")
    port = free_port()
    target = load_target(str(torrent))
    warnings: list[str] = []
    store = _store(tmp_path, "dht.db")

    async def main() -> tuple[DhtNode, list[Endpoint]]:
        boot = DhtNode(bind=("127.0.0.1", 0))
        await boot.start()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
                squatter.bind(("127.0.0.1", port))  # another client holds our DHT port
                config = MonitorConfig(
                    peer_id=PEER_ID, duration=4.0, bind_ip="127.0.0.1", listen_port=port, listen=True,
                    dht=True, dht_bootstrap=[boot.address], dht_interval=60.0,
                )  # fmt: skip
                await Monitor([target], store, config, Clock(), on_warning=warnings.append).run()
            return boot, boot.store.peers(target.wire_infohash)
        finally:
            boot.stop()

    boot, announced = asyncio.run(main())
    runs = queries.run_rows(store)
    store.close()
    (notice,) = [w for w in warnings if "DHT: UDP port" in w]
    fallback = int(notice.rsplit("UDP port ", 1)[1].split()[0])
    assert f"UDP port {port} is taken" in notice and fallback != port, warnings
    assert not any("DHT unavailable" in w for w in warnings), warnings
    # BEP 5: announce_peer names the TCP port peers dial (our listener), not our node's UDP port
    assert announced == [Endpoint("127.0.0.1", port)], announced
    assert ("127.0.0.1", fallback) in {e.address for e in boot.routing.closest(boot.node_id, 8)}
    assert len(runs) == 1


def _refused(tmp_path: Path, name: str, config: MonitorConfig, target: str) -> tuple[str, list[str]]:
    """Run a monitor that must be refused; returns the message and the warnings; checks nothing sealed."""
    store = _store(tmp_path, name)
    warnings: list[str] = []
    monitor = Monitor([load_target(target)], store, config, Clock(), on_warning=warnings.append)
    with pytest.raises(InputError) as refused:
        asyncio.run(monitor.run())
    try:
        assert queries.run_rows(store) == [] and monitor.run_id is None
    finally:
        store.close()
    return str(refused.value), warnings


def test_no_tracker_and_no_dht_is_refused_before_the_run_is_sealed(tmp_path: Path, netns: bool) -> None:
    torrent = trackerless_torrent(tmp_path / "quiet.torrent")
    port = free_port()
    config = MonitorConfig(peer_id=PEER_ID, duration=2.0, bind_ip="127.0.0.1", listen_port=port, listen=True)
    message, _ = _refused(tmp_path, "none.db", config, str(torrent))
    assert "no discovery channel for quiet.bin" in message and "DHT is off" in message
    listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listen_socket.bind(("127.0.0.1", port))  # the refused run let its listen port go
    listen_socket.close()


def test_magnet_without_tracker_whose_dht_cannot_join_is_refused(tmp_path: Path, netns: bool) -> None:
    """The DHT runs but no bootstrap node resolves for its address family: it can never meet a node."""
    config = MonitorConfig(
        peer_id=PEER_ID, duration=2.0, bind_ip="127.0.0.1", listen_port=0, dht=True,
        dht_bootstrap=[("::1", 6881)],  # an IPv6 node for our IPv4 socket
    )  # fmt: skip
    magnet = f"magnet:?xt=urn:btih:{'ab' * 20}&dn=lonely"
    message, warnings = _refused(tmp_path, "magnet.db", config, magnet)
    assert "no discovery channel for lonely" in message
    assert any("DHT unavailable: none of the DHT bootstrap nodes resolves" in w for w in warnings), warnings


def test_a_tracker_that_we_cannot_speak_is_no_channel(tmp_path: Path, netns: bool) -> None:
    magnet = f"magnet:?xt=urn:btih:{'cd' * 20}&dn=webonly&tr=wss%3A%2F%2Ftracker.example%2Fannounce"
    config = MonitorConfig(peer_id=PEER_ID, duration=2.0, bind_ip="127.0.0.1", listen_port=0)
    message, _ = _refused(tmp_path, "wss.db", config, magnet)
    assert "no discovery channel for webonly" in message


def test_a_second_monitor_on_the_same_listen_port_is_refused(tmp_path: Path, netns: bool) -> None:
    """One monitor on [::]:P (dual-stack), a second one asked for P on 0.0.0.0: refused, nothing sealed."""
    port = free_port()
    torrent = trackerless_torrent(tmp_path / "quiet.torrent")

    async def main() -> str:
        first_store = _store(tmp_path, "first.db")
        config = MonitorConfig(peer_id=PEER_ID, duration=3.0, listen_port=port, listen=True)
        first = Monitor([load_target(str(torrent))], first_store, config, Clock(), leads_from_caller=True)
        task = asyncio.create_task(first.run())
        try:
            while first.run_id is None:
                await asyncio.sleep(0.05)
            second_store = _store(tmp_path, "second.db")
            other = MonitorConfig(
                peer_id=PEER_ID, duration=3.0, bind_ip="0.0.0.0", listen_port=port, listen=True
            )
            second = Monitor(
                [load_target(str(torrent))], second_store, other, Clock(), leads_from_caller=True
            )
            try:
                with pytest.raises(InputError) as refused:
                    await second.run()
                assert queries.run_rows(second_store) == []
            finally:
                second_store.close()
            return str(refused.value)
        finally:
            await task
            first_store.close()

    message = asyncio.run(main())
    assert f"--listen-port {port}: cannot listen on 0.0.0.0:{port}" in message, message


def test_magnet_peers_are_a_channel_without_tracker_or_dht() -> None:
    """A magnet's own ``x.pe`` peers (BEP 9) name peers to probe: with no tracker and no DHT it still runs."""
    with_peers = load_target(f"magnet:?xt=urn:btih:{'ef' * 20}&dn=direct&x.pe=127.0.0.5:6881")
    check_channels([with_peers], dht_running=False)  # no refusal
    without = load_target(f"magnet:?xt=urn:btih:{'ef' * 20}&dn=direct")
    with pytest.raises(InputError, match="no discovery channel for direct"):
        check_channels([without], dht_running=False)
