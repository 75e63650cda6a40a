"""The real-swarm scenario: opentracker, libtorrent peers in a runner process, aria2, and a dead listing.

``start_swarm`` builds one deterministic torrent and starts the cast listed in
``swarmscope.testbed.scenario`` (two seeds, a partial seed, an empty leecher, a corrupt-data peer, an
aria2 seed and a dead listed address), each on its own 127.x address, behind a real opentracker.

Everything it starts is stopped by PID and its directory removed when the ``with`` block ends; every
wait is bounded (testbed NOTES; brief "Network rule").
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarmscope.testbed import aria2 as aria2_mod
from swarmscope.testbed.content import (
    DEFAULT_PIECE_LENGTH,
    DEFAULT_SIZE,
    TorrentContent,
    build_content,
    copy_good,
    write_announce_variant,
    write_corrupt_copy,
    write_partial_copy,
)
from swarmscope.testbed.mini_tracker import MiniTracker, start_mini_tracker
from swarmscope.testbed.process import free_port, stop_process
from swarmscope.testbed.scenario import (
    ARIA2_IP,
    DEAD_IP,
    LEECHER_RATE_LIMIT,
    LT_PEERS,
    PROBE_IP,
    TRACKER_IP,
    PeerExpectation,
    libtorrent_expectations,
)
from swarmscope.testbed.tracker import (
    OPENTRACKER_MISSING,
    Opentracker,
    TrackerUnavailableError,
    announce_from,
    list_peers,
    start_opentracker,
)

READY_TIMEOUT = 60.0  # seconds
REANNOUNCE_INTERVAL = 10.0  # seconds; NOTES: "Announcing puts the monitor into the swarm"


class SwarmStartError(RuntimeError):
    """A component of the scenario did not start (message names the component)."""


@dataclass
class Swarm:
    """A running scenario (see module docstring); created by ``start_swarm``."""

    workdir: Path
    content: TorrentContent
    tracker: Opentracker | MiniTracker
    monitor_ip: str
    peers: list[PeerExpectation] = field(default_factory=list)
    runner: subprocess.Popen[bytes] | None = None
    aria2: aria2_mod.Aria2Seed | None = None
    notes: list[str] = field(default_factory=list)
    final_stats: dict[str, Any] | None = None

    @property
    def torrent_path(self) -> Path:
        """The .torrent (announce = the HTTP tracker)."""
        return self.content.torrent_path

    @property
    def udp_torrent_path(self) -> Path | None:
        """The same torrent announcing only to the UDP tracker (BEP 15); None without opentracker.

        The scenario's peers announce over HTTP (NOTES: UDP re-announces from several libtorrent
        sessions in one process fail), but opentracker hands the same peers out over UDP.
        """
        if self.tracker_udp_url is None:
            return None
        target = self.workdir / "testbed-udp.torrent"
        if not target.exists():
            write_announce_variant(self.content, target, [self.tracker_udp_url])
        return target

    @property
    def infohash_hex(self) -> str:
        """Infohash as 40 lower-case hex digits."""
        return self.content.infohash_hex

    @property
    def tracker_url(self) -> str:
        """HTTP announce URL of the tracker."""
        return self.tracker.http_url

    @property
    def tracker_udp_url(self) -> str | None:
        """UDP announce URL of the same opentracker (BEP 15); None with the built-in fallback tracker."""
        return self.tracker.udp_url

    @property
    def dead_address(self) -> tuple[str, int]:
        """(ip, port) the tracker lists where nothing accepts connections."""
        dead = self.peer("dead")
        return dead.ip, dead.port

    def peer(self, name: str) -> PeerExpectation:
        """The expectation named ``name``; KeyError when the scenario has no such peer."""
        for peer in self.peers:
            if peer.name == name:
                return peer
        raise KeyError(name)

    def listed(self) -> set[tuple[str, int]]:
        """(ip, port) pairs the tracker currently hands out (asked from a probe address)."""
        return list_peers(self.tracker_url, source_ip=PROBE_IP, infohash=bytes.fromhex(self.infohash_hex))

    def peer_stats(self, timeout: float = 15.0) -> dict[str, dict[str, Any]]:
        """A fresh stats dump from the libtorrent runner, keyed by peer name (see ``lt_peers``).

        After the swarm stopped, the runner's final dump (written at its exit) is returned.
        """
        stats_path = self.workdir / "stats.json"
        if self.runner is None or self.runner.poll() is not None:
            dump = self.final_stats or json.loads(stats_path.read_text())
            return {p["name"]: p for p in dump["peers"]}
        before = json.loads(stats_path.read_text())["seq"] if stats_path.exists() else 0
        self.runner.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError):
                dump = json.loads(stats_path.read_text())
                if dump["seq"] > before:
                    return {p["name"]: p for p in dump["peers"]}
            time.sleep(0.05)
        raise TimeoutError(f"libtorrent runner gave no stats dump within {timeout} s")

    def payload_received_from(self, ip: str, stats: dict[str, dict[str, Any]] | None = None) -> int:
        """Payload bytes the hosted libtorrent peers received from ``ip`` (per-peer stats + block alerts).

        Unrequested blocks count too; the sum is 0 only if no hosted peer got any piece data from ``ip``.
        """
        stats = stats if stats is not None else self.peer_stats()
        total = 0
        for dump in stats.values():
            total += sum(r["total_download"] for r in dump["peers"] if r["ip"] == ip)
            total += int(dump["blocks_from"].get(ip, 0)) + int(dump["unwanted_from"].get(ip, 0))
        return total

    def payload_sent_to(self, ip: str, stats: dict[str, dict[str, Any]] | None = None) -> int:
        """Payload bytes the hosted libtorrent peers uploaded to ``ip`` (block_uploaded alerts)."""
        stats = stats if stats is not None else self.peer_stats()
        return sum(int(dump["blocks_to"].get(ip, 0)) for dump in stats.values())


def _runner_config(swarm: Swarm, ports: dict[str, int], reannounce: float | None) -> Path:
    peers = []
    for peer in swarm.peers:
        save = swarm.workdir / peer.name
        if peer.role == "seed":
            copy_good(swarm.content, save)
        elif peer.role == "partial":
            write_partial_copy(swarm.content, save, peer.pieces)
        elif peer.role == "corrupt":
            write_corrupt_copy(swarm.content, save)
        else:
            save.mkdir(parents=True, exist_ok=True)
        limit = LEECHER_RATE_LIMIT if peer.role == "leecher" else None
        peers.append(
            {
                "name": peer.name,
                "role": peer.role,
                "ip": peer.ip,
                "port": ports[peer.name],
                "save_path": str(save),
                "download_rate_limit": limit,
            }
        )
    config = {
        "torrent": str(swarm.torrent_path),
        "peers": peers,
        "max_lifetime": 1800,
        "reannounce_interval": reannounce,
        "ready_path": str(swarm.workdir / "ready.json"),
        "stats_path": str(swarm.workdir / "stats.json"),
    }
    path = swarm.workdir / "lt_peers.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def _start_runner(swarm: Swarm, ports: dict[str, int], timeout: float, reannounce: float | None) -> None:
    config = _runner_config(swarm, ports, reannounce)
    log = (swarm.workdir / "lt_peers.log").open("wb")
    with log:
        swarm.runner = subprocess.Popen(
            [sys.executable, "-m", "swarmscope.testbed.lt_peers", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop it by PID afterwards
        )
    ready = swarm.workdir / "ready.json"
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if swarm.runner.poll() is not None or time.monotonic() > deadline:
            tail = (swarm.workdir / "lt_peers.log").read_text(errors="replace")[-1500:]
            raise SwarmStartError(f"libtorrent runner not ready (exit {swarm.runner.poll()}): {tail}")
        time.sleep(0.1)


def _start_aria2(swarm: Swarm, want: bool | None) -> None:
    version = aria2_mod.aria2_version()
    if version is None:
        if want:
            raise SwarmStartError(aria2_mod.ARIA2_MISSING)
        swarm.notes.append("aria2c not installed: the scenario runs without the aria2 seed")
        return
    if want is False:
        return
    if swarm.content.infohash_v2_hex is not None:
        # measured: aria2 1.36.0 announces another infohash for a hybrid torrent, so it is not in this swarm
        if want:
            raise SwarmStartError("aria2 1.36 cannot join a hybrid (v1+v2) torrent's swarm")
        swarm.notes.append("aria2 left out: it computes another infohash for a hybrid torrent")
        return
    port = free_port(ARIA2_IP)
    copy_good(swarm.content, swarm.workdir / "aria2")
    swarm.aria2 = aria2_mod.start_aria2_seed(
        swarm.torrent_path, swarm.workdir / "aria2", ARIA2_IP, port, log_dir=swarm.workdir
    )
    everything = frozenset(range(swarm.content.num_pieces))
    swarm.peers.append(
        PeerExpectation("aria2", "aria2", ARIA2_IP, port, f"aria2 {version}", everything, 1.0, True)
    )


def _announce_dead(swarm: Swarm) -> None:
    port = free_port(DEAD_IP)  # free on DEAD_IP, and nothing else binds that address
    body = announce_from(
        swarm.tracker_url,
        source_ip=DEAD_IP,
        infohash=bytes.fromhex(swarm.infohash_hex),
        peer_id=b"-XX0000-deadaddress0",
        port=port,
        left=swarm.content.size,
    )
    if b"failure reason" in body:
        raise SwarmStartError(f"tracker refused the dead-address announce: {body!r}")
    swarm.peers.append(PeerExpectation("dead", "dead", DEAD_IP, port, "", frozenset(), None, False))


def _wait_all_listed(swarm: Swarm, timeout: float) -> None:
    wanted = {(p.ip, p.port) for p in swarm.peers}
    deadline = time.monotonic() + timeout
    listed: set[tuple[str, int]] = set()
    while time.monotonic() < deadline:
        listed = swarm.listed()
        if wanted <= listed:
            return
        time.sleep(0.25)
    raise SwarmStartError(f"tracker does not list {sorted(wanted - listed)} after {timeout} s")


@contextlib.contextmanager
def start_swarm(
    workdir: Path | str | None = None,
    monitor_ip: str = "127.0.0.1",
    *,
    with_aria2: bool | None = None,
    size: int = DEFAULT_SIZE,
    piece_length: int = DEFAULT_PIECE_LENGTH,
    ready_timeout: float = READY_TIMEOUT,
    tracker_kind: str = "opentracker",
    hybrid: bool = False,
    reannounce_interval: float | None = REANNOUNCE_INTERVAL,
) -> Iterator[Swarm]:
    """Start the scenario and yield the running Swarm; stop everything and remove its files on exit.

    Args:
        workdir: parent directory for the scenario's private temporary directory (default: system temp).
        monitor_ip: the address the monitor under test uses; no scenario component uses it.
        with_aria2: True = require aria2, False = leave it out, None = include it when installed.
        size: payload bytes.
        piece_length: bytes per piece.
        ready_timeout: seconds to wait for each component and for the tracker to list every peer.
        tracker_kind: "opentracker" (required), "builtin" (the in-process ``mini_tracker``) or "auto"
            (opentracker when installed, else the built-in one, with a note in ``Swarm.notes``).
        hybrid: use a BEP 52 hybrid torrent (libtorrent peers then also announce the truncated v2
            infohash, which the tracker whitelists too); the default is v1 only.
        reannounce_interval: seconds between forced re-announces of the libtorrent peers (None: only
            when the tracker's interval says), so they learn about the monitor and connect to it.

    Raises:
        SwarmStartError, TrackerUnavailableError, Aria2UnavailableError: a component did not start.
        ImportError: libtorrent is not installed.
    """
    import libtorrent as lt

    used = {TRACKER_IP, PROBE_IP, DEAD_IP, ARIA2_IP, *(ip for _, _, ip in LT_PEERS)}
    if monitor_ip in used:
        raise ValueError(f"monitor_ip {monitor_ip} collides with a scenario address")
    base = Path(workdir) if workdir is not None else None
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="swarmscope-swarm-", dir=base))
    tracker: Opentracker | MiniTracker | None = None
    swarm: Swarm | None = None
    notes: list[str] = []
    try:
        tracker_port = free_port(TRACKER_IP, udp_too=True)
        url = f"http://{TRACKER_IP}:{tracker_port}/announce"
        content = build_content(root, announce=[url], size=size, piece_length=piece_length, hybrid=hybrid)
        hashes = [content.infohash_hex, *([content.infohash_v2_hex[:40]] if content.infohash_v2_hex else [])]
        tracker = _start_tracker(tracker_kind, hashes, tracker_port, ready_timeout, notes)
        ports = {name: free_port(ip) for name, _, ip in LT_PEERS}
        swarm = Swarm(
            root, content, tracker, monitor_ip, libtorrent_expectations(content, lt.__version__, ports)
        )
        swarm.notes.extend(notes)
        _start_runner(swarm, ports, ready_timeout, reannounce_interval)
        _start_aria2(swarm, with_aria2)
        _announce_dead(swarm)
        _wait_all_listed(swarm, ready_timeout)
        yield swarm
    finally:
        _stop(swarm, tracker, root)


def _start_tracker(
    kind: str, infohashes: list[str], port: int, timeout: float, notes: list[str]
) -> Opentracker | MiniTracker:
    if kind not in ("opentracker", "builtin", "auto"):
        raise ValueError(f"unknown tracker kind {kind!r}")
    if kind == "builtin" or (kind == "auto" and shutil.which("opentracker") is None):
        if kind == "auto":
            notes.append(f"{OPENTRACKER_MISSING}; using the built-in minimal HTTP tracker instead")
        return start_mini_tracker(TRACKER_IP, infohashes, port=port)
    if shutil.which("opentracker") is None:
        raise TrackerUnavailableError(OPENTRACKER_MISSING)
    return start_opentracker(TRACKER_IP, infohashes, port=port, timeout=timeout)


def _stop(swarm: Swarm | None, tracker: Opentracker | MiniTracker | None, root: Path) -> None:
    if swarm is not None:
        if swarm.aria2 is not None:
            swarm.aria2.stop()
        stop_process(swarm.runner, timeout=15.0)
        with contextlib.suppress(OSError, ValueError):
            swarm.final_stats = json.loads((root / "stats.json").read_text())
    if tracker is not None:
        tracker.stop()
    shutil.rmtree(root, ignore_errors=True)
