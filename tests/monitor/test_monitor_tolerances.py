"""Monitor-side tracker rows of docs/tolerances.md: what the announce loop and the probe schedule make of a
broken tracker's reply (scripted HTTP tracker on loopback, real ``TrackerClient``, real ``Monitor``).

The loop's sleeps are recorded instead of waited: the delay chosen after each reply is the assertion.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import struct
import types
from pathlib import Path
from urllib.parse import parse_qs, unquote_to_bytes, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.evidence.records import Sighting, Source
from swarmscope.monitor import announce as announce_mod
from swarmscope.monitor.announce import announce_loop
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.crawler import Monitor
from swarmscope.monitor.targets import Target, load_target
from swarmscope.net.clock import Clock
from swarmscope.net.tracker_client import TrackerClient
from swarmscope.store.database import open_store
from swarmscope.wire import bencode
from tests.net.scripted_tracker import Reply, ScriptedTracker, scripted_tracker

PEER_ID = b"-SS0100-tolerancemon"


def torrent(tmp_path: Path, url: str) -> Path:
    data = b"z" * 20000
    info = {
        b"name": b"t.bin",
        b"piece length": 16384,
        b"length": len(data),
        b"pieces": b"".join(hashlib.sha1(data[i : i + 16384]).digest() for i in range(0, len(data), 16384)),
    }
    path = tmp_path / "t.torrent"
    path.write_bytes(bencode.encode({b"announce": url.encode(), b"info": info}))
    return path


def run_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replies: list[Reply], rounds: int
) -> tuple[ScriptedTracker, list[float], list[list[tuple[str, int, bytes | None]]], list[str]]:
    """Run ``announce_loop`` for ``rounds`` announces; returns the tracker, delays, peers and warnings."""
    delays: list[float] = []

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) >= rounds:
            raise asyncio.CancelledError

    monkeypatch.setattr(announce_mod, "asyncio", types.SimpleNamespace(sleep=fake_sleep))
    peers: list[list[tuple[str, int, bytes | None]]] = []
    warnings: list[str] = []
    config = MonitorConfig(peer_id=PEER_ID, bind_ip="127.0.0.1", announce_floor=30.0)
    with scripted_tracker({"/announce": replies}) as tracker:
        target = load_target(str(torrent(tmp_path, tracker.base + "/announce")))
        client = TrackerClient(PEER_ID, "127.0.0.1", 10.0)

        async def main() -> None:
            try:
                await announce_loop(
                    client, config, target, target.trackers[0], peers.append, warnings.append, warnings.append
                )
            except asyncio.CancelledError:
                pass
            finally:
                await client.aclose()

        asyncio.run(main())
    return tracker, delays, peers, warnings


def query(path: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(path).query)


def test_t03_min_interval_above_interval_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """T-03: ``min interval`` 1200 > ``interval`` 600: the next announce waits 1200 s.

    libtorrent keeps both (``next_announce`` = interval, ``min_announce`` = min interval) and never
    announces before ``min_announce``; Transmission waits ``max(interval, min interval)`` too."""
    reply = Reply(b"d8:intervali600e12:min intervali1200e5:peers0:e")
    _, delays, _, _ = run_loop(tmp_path, monkeypatch, [reply], 2)
    assert delays == [1200, 1200]


def test_t04_failure_reason_retries_at_the_trackers_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """T-04: a refusal with ``interval`` 3600 is retried after 3600 s, not at our 30 s floor."""
    refused = Reply(b"d14:failure reason6:banned8:intervali3600ee")
    tracker, delays, peers, warnings = run_loop(tmp_path, monkeypatch, [refused], 2)
    assert delays == [3600, 3600] and peers == []
    assert warnings and all("failure reason: banned" in w for w in warnings)
    assert [query(p).get("event") for p in tracker.asked] == [["started"], ["started"]]  # never got it


def test_t05_warning_message_is_shown_and_the_peers_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """T-05: the warning reaches the operator; the peers still become leads."""
    reply = Reply(b"d8:intervali1800e5:peers6:\x7f\x00\x00\x07\x1a\xe115:warning message4:oldse")
    _, _, peers, warnings = run_loop(tmp_path, monkeypatch, [reply], 1)
    assert peers == [[("127.0.0.7", 6881, None)]]
    assert any("tracker warning: olds" in w for w in warnings)


def test_t13_tracker_id_is_echoed_in_later_announces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """T-13: BEP 3 ``tracker id`` comes back as ``trackerid`` until a reply gives another one.

    libtorrent (``http_tracker_connection::start``) and Transmission (``announcer-http.cc``) both echo it."""
    first = Reply(b"d8:intervali1800e5:peers0:10:tracker id3:\x01A\xffe")
    plain = Reply(b"d8:intervali1800e5:peers0:e")
    second = Reply(b"d8:intervali1800e5:peers0:10:tracker id2:B2e")
    tracker, _, _, _ = run_loop(tmp_path, monkeypatch, [first, plain, second, plain], 4)
    ids = [
        unquote_to_bytes(p.split("trackerid=", 1)[1].split("&", 1)[0]) if "trackerid=" in p else None
        for p in tracker.asked
    ]
    assert ids == [None, b"\x01A\xff", b"\x01A\xff", b"B2"]


def v6(ip: str, port: int) -> bytes:
    return socket.inet_pton(socket.AF_INET6, ip) + struct.pack(">H", port)


def test_t11_t18_port_0_and_link_local_peers_are_never_dialled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """T-11: port 0 (libtorrent ``peer_list::add_peer`` and Transmission ``is_valid_for_peers`` skip it).

    T-18: an IPv6 link-local peer (fe80::/10) has no scope id and cannot be dialled; both clients skip it.
    The listed peers reach the monitor (the evidence sink is a list here: the run is not started); only the
    usable one is sighted and scheduled for a probe."""
    body = (
        b"d8:intervali1800e5:peers12:\x7f\x00\x00\x07\x00\x00\x7f\x00\x00\x08\x1a\xe1"
        + b"6:peers636:"
        + v6("fe80::1", 6881)
        + v6("febf::2", 6881)
        + b"e"
    )
    _, _, peers, _ = run_loop(tmp_path, monkeypatch, [Reply(body)], 1)
    (listed,) = peers
    assert listed == [("127.0.0.7", 0, None), ("127.0.0.8", 6881, None), ("fe80::1", 6881, None),
                      ("febf::2", 6881, None)]  # fmt: skip
    store = open_store(str(tmp_path / "t.db"), node_key=Ed25519PrivateKey.generate())
    try:
        target: Target = load_target(str(tmp_path / "t.torrent"))
        monitor = Monitor([target], store, MonitorConfig(peer_id=PEER_ID), Clock())
        sightings: list[Sighting] = []
        monitor.evidence = types.SimpleNamespace(add=sightings.append)  # type: ignore[assignment]
        monitor.discovered(target.swarm, listed, Source.TRACKER, "scripted")
        assert [(s.ip, s.port) for s in sightings] == [("127.0.0.8", 6881)]
        assert set(monitor.stats[target.swarm].best) == {("127.0.0.8", 6881)}
        assert monitor.plan.due(2**62, 10) == [(target.swarm, "127.0.0.8", 6881)]
    finally:
        store.close()
