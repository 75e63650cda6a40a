"""The discovery scenario: peers each reachable through exactly one discovery channel.

``start_discovery`` builds one v1 torrent (plus a second one for the magnet case), starts opentracker,
an IPv6 tracker on ``::1`` and the runner process ``discovery_runner`` that hosts a libtorrent DHT mesh
(dedicated bootstrap node + ``mesh_size`` nodes on 127.0.6.x) and these groups (two peers each, a seed
and a partial seed holding every third piece, except the magnet group: two seeds):

=========== ============ ==========================================================================
group       addresses    how it is reachable (and why through nothing else)
=========== ============ ==========================================================================
tracker     127.0.7.1-2  announces to opentracker (HTTP), DHT off. 127.0.7.1 is the PEX *hub*.
dht         127.0.7.11-2 torrent without trackers, DHT on, announced to the mesh; not in the tracker.
pex         127.0.7.21-2 no tracker, no DHT, ``disable_pex`` (so they never learn of anyone); the hub
                         dials them (``connect_peer``, kept up) and names them in its ``ut_pex``.
inbound     127.0.7.31-2 no tracker, no DHT; ``enable_incoming_tcp`` = ``enable_incoming_utp`` = False
                         (measured: a TCP connect is accepted and reset before any handshake byte);
                         they dial each monitor address given (``connect_peer``, re-checked every
                         2 s) as soon as something listens there (``/proc/net/tcp``), over TCP
                         only and in plaintext (``out_enc_policy`` = pe_disabled).
encrypted   127.0.7.41-2 in the tracker; ``in_enc_policy`` = ``out_enc_policy`` = pe_forced,
                         ``allowed_enc_level`` = pe_rc4: plaintext handshakes are dropped.
magnet      127.0.7.51-2 second torrent, no tracker, DHT only; the monitor gets ``magnet_uri``.
ipv6        [::1]        announces to the IPv6 tracker only (opentracker is IPv4-only), DHT off.
=========== ============ ==========================================================================

Every peer runs with ``close_redundant_connections`` off (the hub keeps seed-to-seed links). The torrent
``torrent_path`` lists opentracker and (when ::1 works) the IPv6 tracker; peers use variants with the
same info dict. Everything is stopped by PID and its files removed when the ``with`` block ends.
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from swarmscope.testbed.content import TorrentContent, build_content, copy_good, write_partial_copy
from swarmscope.testbed.discovery_cast import (
    BOOTSTRAP,
    CAST,
    CHECKER,
    DHT_PORT,
    FORCED_ENCRYPTION,
    INBOUND_MSE,
    INBOUND_MSE_PEERS,
    MESH_PREFIX,
    NO_INCOMING,
    PIECE_LENGTH,
    READY_TIMEOUT,
    SIZE,
    TRACKER_IP,
    DiscoveryPeer,
    true_pieces,
    write_tracker_variant,
)
from swarmscope.testbed.discovery_tracker6 import Tracker6, free_port6, ipv6_loopback_works, start_tracker6
from swarmscope.testbed.process import free_port, stop_process
from swarmscope.testbed.tracker import Opentracker, start_opentracker


class DiscoveryStartError(RuntimeError):
    """A component of the discovery scenario did not start (message names it)."""


@dataclass
class DiscoveryScenario:
    """A running discovery scenario (module docstring); created by ``start_discovery``."""

    workdir: Path
    content: TorrentContent
    magnet_content: TorrentContent
    tracker: Opentracker
    tracker6: Tracker6 | None
    monitor_addresses: list[tuple[str, int]]
    mesh: list[tuple[str, int]]
    peers: list[DiscoveryPeer] = field(default_factory=list)
    runner: subprocess.Popen[bytes] | None = None
    notes: list[str] = field(default_factory=list)
    ipv6_skip_reason: str | None = None
    final_stats: dict[str, Any] | None = None

    @property
    def torrent_path(self) -> Path:
        """The .torrent the monitor is given (opentracker and, when ::1 works, the IPv6 tracker)."""
        return self.workdir / "monitor.torrent"

    @property
    def infohash_hex(self) -> str:
        """Infohash of the main work."""
        return self.content.infohash_hex

    @property
    def magnet_infohash_hex(self) -> str:
        """Infohash of the magnet-only work."""
        return self.magnet_content.infohash_hex

    @property
    def magnet_uri(self) -> str:
        """``magnet:?xt=urn:btih:<hex>`` with no tracker (BEP 9): findable through the DHT only."""
        return f"magnet:?xt=urn:btih:{self.magnet_infohash_hex}"

    @property
    def dht_bootstrap(self) -> str:
        """``HOST:PORT`` of the mesh's bootstrap node (for ``--dht-bootstrap``)."""
        return f"{BOOTSTRAP[0]}:{BOOTSTRAP[1]}"

    def group(self, name: str) -> list[DiscoveryPeer]:
        """The peers of group ``name`` (empty for "ipv6" when ::1 is unusable)."""
        return [p for p in self.peers if p.group == name]

    def peer(self, name: str) -> DiscoveryPeer:
        """The peer named ``name``; KeyError when there is none."""
        for peer in self.peers:
            if peer.name == name:
                return peer
        raise KeyError(name)

    def peer_stats(self, timeout: float = 15.0) -> dict[str, dict[str, Any]]:
        """A fresh stats dump of the group peers keyed by name (``lt_peers`` format plus ``group``)."""
        dump = self._dump(timeout)
        return {p["name"]: p for p in dump["peers"]}

    def dht_found(self, timeout: float = 15.0) -> dict[str, set[tuple[str, int]]]:
        """What the runner's checker session found by ``dht_get_peers``, keyed by infohash hex."""
        return {k: {(ip, port) for ip, port in v} for k, v in self._dump(timeout)["dht_found"].items()}

    def _dump(self, timeout: float) -> dict[str, Any]:
        stats_path = self.workdir / "stats.json"
        if self.runner is None or self.runner.poll() is not None:
            return self.final_stats or cast(dict[str, Any], json.loads(stats_path.read_text()))
        before = json.loads(stats_path.read_text())["seq"] if stats_path.exists() else 0
        self.runner.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError):
                dump = cast(dict[str, Any], json.loads(stats_path.read_text()))
                if dump["seq"] > before:
                    return dump
            time.sleep(0.05)
        raise TimeoutError(f"discovery runner gave no stats dump within {timeout} s")

    def payload_sent_to(self, ip: str, stats: dict[str, dict[str, Any]] | None = None) -> int:
        """Payload bytes the group peers uploaded to ``ip`` (block_uploaded alerts)."""
        stats = stats if stats is not None else self.peer_stats()
        return sum(int(d["blocks_to"].get(ip, 0)) for d in stats.values())

    def payload_received_from(self, ip: str, stats: dict[str, dict[str, Any]] | None = None) -> int:
        """Payload bytes the group peers received from ``ip`` (peer-info maxima + block alerts)."""
        stats = stats if stats is not None else self.peer_stats()
        total = 0
        for dump in stats.values():
            total += sum(r["total_download"] for r in dump["peers"] if r["ip"] == ip)
            total += int(dump["blocks_from"].get(ip, 0)) + int(dump["unwanted_from"].get(ip, 0))
        return total


def _cast(
    scenario: DiscoveryScenario, ports: dict[str, int], torrents: dict[str, Path]
) -> list[dict[str, Any]]:
    """The runner's peer specs; also fills ``scenario.peers`` and writes each peer's data."""
    specs = []
    for name, group, role, ip in CAST:
        if group == "ipv6" and scenario.tracker6 is None:
            continue
        content = scenario.magnet_content if group == "magnet" else scenario.content
        pieces = true_pieces(content, role)
        save = scenario.workdir / "peers" / name
        if role == "seed":
            copy_good(content, save)
        else:
            write_partial_copy(content, save, pieces)
        scenario.peers.append(
            DiscoveryPeer(
                name,
                group,
                role,
                ip,
                ports[name],
                content.infohash_hex,
                pieces,
                len(pieces) / content.num_pieces,
            )
        )
        spec: dict[str, Any] = {
            "name": name,
            "group": group,
            "role": role,
            "ip": ip,
            "port": ports[name],
            "save_path": str(save),
            "infohash": content.infohash_hex,
            "torrent": str(torrents[group]),
            "tracker": group in ("tracker", "encrypted", "ipv6"),
            "dht": group in ("dht", "magnet"),
            "disable_pex": group == "pex",
            "settings": FORCED_ENCRYPTION
            if group == "encrypted"
            else (INBOUND_MSE if name in INBOUND_MSE_PEERS else NO_INCOMING)
            if group == "inbound"
            else {},
        }
        if group == "inbound":
            spec["connect_to"] = [list(a) for a in scenario.monitor_addresses]
        specs.append(spec)
    hub = next(s for s in specs if s["name"] == "tracker-hub")
    hub["hub"] = True
    hub["connect_to"] = [[s["ip"], s["port"]] for s in specs if s["group"] == "pex"]
    return specs


def _torrents(scenario: DiscoveryScenario) -> dict[str, Path]:
    """Write the .torrent variants (same info dicts) and return the one each group's peers use."""
    root, content = scenario.workdir, scenario.content
    urls = [scenario.tracker.http_url] + ([scenario.tracker6.http_url] if scenario.tracker6 else [])
    write_tracker_variant(content, scenario.torrent_path, urls)
    v4 = write_tracker_variant(content, root / "tracker-v4.torrent", [scenario.tracker.http_url])
    bare = write_tracker_variant(content, root / "trackerless.torrent", [])
    magnet = write_tracker_variant(scenario.magnet_content, root / "magnet-trackerless.torrent", [])
    by_group = {"tracker": v4, "encrypted": v4, "dht": bare, "pex": bare, "inbound": bare, "magnet": magnet}
    if scenario.tracker6 is not None:
        by_group["ipv6"] = write_tracker_variant(
            content, root / "tracker-v6.torrent", [scenario.tracker6.http_url]
        )
    return by_group


def _start_runner(scenario: DiscoveryScenario, specs: list[dict[str, Any]], timeout: float) -> None:
    root = scenario.workdir
    config = {
        "bootstrap": list(BOOTSTRAP),
        "checker": list(CHECKER),
        "mesh": [list(a) for a in scenario.mesh],
        "peers": specs,
        "max_lifetime": 1800,
        "reannounce_interval": 10,
        "ready_path": str(root / "ready.json"),
        "stats_path": str(root / "stats.json"),
    }
    (root / "runner.json").write_text(json.dumps(config, indent=1))
    with (root / "runner.log").open("wb") as log:
        scenario.runner = subprocess.Popen(
            [sys.executable, "-m", "swarmscope.testbed.discovery_runner", str(root / "runner.json")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while not (root / "ready.json").exists():
        if scenario.runner.poll() is not None or time.monotonic() > deadline:
            tail = (root / "runner.log").read_text(errors="replace")[-1500:]
            raise DiscoveryStartError(
                f"discovery runner not ready (exit {scenario.runner.poll()}): {tail}; {_unready(root)}"
            )
        time.sleep(0.2)


def _unready(root: Path) -> str:
    """What the runner's last stats dump says is not reachable yet (for the start-up error)."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        dump = json.loads((root / "stats.json").read_text())
        found = {k: len(v) for k, v in dump["dht_found"].items()}
        return f"unreachable: {dump['unreachable']}; DHT lookups found {found}"
    return "no stats dump"


@contextlib.contextmanager
def start_discovery(
    workdir: Path | str | None = None,
    monitor_addresses: Sequence[tuple[str, int]] = (("127.0.0.1", 6881),),
    *,
    mesh_size: int = 50,
    ready_timeout: float = READY_TIMEOUT,
) -> Iterator[DiscoveryScenario]:
    """Start the discovery scenario and yield it; stop everything and remove its files on exit.

    Args:
        workdir: parent directory for the scenario's private temporary directory (default: system temp).
        monitor_addresses: (ip, TCP port) pairs where monitors will listen; the inbound-only group dials
            each of them whenever it is listening (checked every 2 s) for the scenario's whole life.
        mesh_size: DHT-only libtorrent sessions besides the bootstrap node (127.0.6.1 …), at most 250.
        ready_timeout: seconds for the runner to report every group reachable through its channel.

    Raises:
        DiscoveryStartError, TrackerUnavailableError: a component did not start.
        ImportError: libtorrent is not installed.
    """
    if not 1 <= mesh_size <= 250:
        raise ValueError(f"mesh_size {mesh_size} outside 1..250")
    base = Path(workdir) if workdir is not None else None
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="swarmscope-discovery-", dir=base))
    tracker: Opentracker | None = None
    tracker6: Tracker6 | None = None
    scenario: DiscoveryScenario | None = None
    try:
        content = build_content(root / "main", size=SIZE, piece_length=PIECE_LENGTH)
        magnet = build_content(
            root / "magnet", size=SIZE, piece_length=PIECE_LENGTH, seed=b"swarmscope-magnet"
        )
        tracker = start_opentracker(TRACKER_IP, [content.infohash_hex], timeout=ready_timeout)
        v6_reason = ipv6_loopback_works()
        tracker6 = start_tracker6([content.infohash_hex]) if v6_reason is None else None
        mesh = [(f"{MESH_PREFIX}{i + 1}", DHT_PORT) for i in range(mesh_size)]
        scenario = DiscoveryScenario(root, content, magnet, tracker, tracker6, list(monitor_addresses), mesh)
        scenario.ipv6_skip_reason = v6_reason
        if v6_reason:
            scenario.notes.append(v6_reason)
        ports = {name: _port(ip) for name, _, _, ip in CAST if ip != "::1" or tracker6 is not None}
        specs = _cast(scenario, ports, _torrents(scenario))
        _start_runner(scenario, specs, ready_timeout)
        yield scenario
    finally:
        _stop(scenario, tracker, tracker6, root)


def _port(ip: str) -> int:
    """A free listen port on ``ip`` (TCP and UDP: DHT peers use the same port for both)."""
    return free_port6() if ip == "::1" else free_port(ip, udp_too=True)


def _stop(
    scenario: DiscoveryScenario | None, tracker: Opentracker | None, tracker6: Tracker6 | None, root: Path
) -> None:
    if scenario is not None:
        stop_process(scenario.runner, timeout=20.0)
        with contextlib.suppress(OSError, ValueError):
            scenario.final_stats = json.loads((root / "stats.json").read_text())
    if tracker6 is not None:
        tracker6.stop()
    if tracker is not None:
        tracker.stop()
    shutil.rmtree(root, ignore_errors=True)
