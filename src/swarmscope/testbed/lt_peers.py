"""Runner process hosting the testbed's libtorrent peers.

Run as ``python -m swarmscope.testbed.lt_peers CONFIG.json``.

One libtorrent session per peer, each on its own 127.x address, configured as the testbed NOTES found
necessary on loopback (listen/outgoing interface, no LSD/UPnP/NAT-PMP/DHT, announce to all trackers).
Roles:

* ``seed`` — a complete, hash-checked copy.
* ``partial`` — a copy in which only some pieces are correct; every piece priority is 0, so it downloads
  nothing and stays a partial seed for the whole run (it advertises upload-only, BEP 21).
* ``leecher`` — an empty directory and a session ``download_rate_limit`` of a few hundred bytes/s with
  ``ignore_limits_on_local_network`` off, far below one piece during a test run.
* ``corrupt`` — a corrupted copy added in ``seed_mode`` to a session with ``disable_hash_checks``: it claims
  every piece and serves wrong bytes (NOTES "Adversarial peers").

Protocol with the parent (all files named in the config):

* ``reannounce_interval`` — when set, every peer re-announces this often (seconds), so peers learn
  about newcomers (such as a monitor) from the tracker during a test.
* ``ready_path`` — written once every peer has finished checking and got a tracker reply.
* ``stats_path`` — a JSON stats dump (``seq`` increases), written every ``stats_interval`` seconds, on
  SIGUSR1 and at exit (SIGTERM/SIGINT, ``max_lifetime`` or the parent's death). Per peer: its true
  pieces and, for every remote peer ever listed by ``get_peer_info`` (``established`` false for attempts
  that never completed the handshake), ip, port, client, total_download, total_upload
  (payload bytes; maxima over the connection's life, polled every 0.1 s, so a very short connection
  can be missed), plus exact alert-based counters per remote ip: ``blocks_from`` (payload bytes of
  blocks received and accepted), ``unwanted_from`` (bytes of unrequested blocks received) and
  ``blocks_to`` (payload bytes uploaded).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libtorrent as lt

POLL_INTERVAL = 0.1  # seconds between alert / peer-info polls


@dataclass
class PeerRuntime:
    """One hosted peer: its config, session, torrent handle and accumulated per-remote statistics."""

    spec: dict[str, Any]
    session: Any
    handle: Any
    announced: bool = False
    tracker_errors: list[str] = field(default_factory=list)
    remotes: dict[str, dict[str, Any]] = field(default_factory=dict)
    blocks_from: dict[str, int] = field(default_factory=dict)
    blocks_to: dict[str, int] = field(default_factory=dict)
    unwanted_from: dict[str, int] = field(default_factory=dict)


def session_settings(spec: dict[str, Any]) -> dict[str, Any]:
    """libtorrent settings_pack for one peer (testbed NOTES "libtorrent settings that matter")."""
    ip, port = spec["ip"], spec["port"]
    settings: dict[str, Any] = {
        "listen_interfaces": f"{ip}:{port}",
        "outgoing_interfaces": ip,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_dht": False,
        "dht_bootstrap_nodes": "",
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "min_announce_interval": 5,
        "stop_tracker_timeout": 1,
        "alert_mask": int(
            lt.alert_category.error
            | lt.alert_category.tracker
            | lt.alert_category.status
            | lt.alert_category.block_progress
            | lt.alert_category.upload
            | lt.alert_category.peer
        ),
        "alert_queue_size": 10000,
    }
    if spec["role"] == "corrupt":
        settings["disable_hash_checks"] = True
    if spec.get("download_rate_limit") is not None:
        settings["download_rate_limit"] = int(spec["download_rate_limit"])
        settings["ignore_limits_on_local_network"] = False
    return settings


def start_peer(spec: dict[str, Any], torrent_path: str) -> PeerRuntime:
    """Create the session for ``spec`` and add the torrent in the mode its role needs."""
    # a plain dict is accepted at runtime (the stubs only list settings_pack)
    session = lt.session(session_settings(spec))  # type: ignore[call-overload]
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(torrent_path)
    params.save_path = spec["save_path"]
    params.flags &= ~lt.torrent_flags.auto_managed
    params.flags &= ~lt.torrent_flags.paused
    if spec["role"] == "corrupt":
        params.flags |= lt.torrent_flags.seed_mode
    if spec["role"] == "partial":
        params.piece_priorities = [0] * params.ti.num_pieces()
    return PeerRuntime(spec, session, session.add_torrent(params))


def handle_alerts(peer: PeerRuntime) -> None:
    """Drain ``peer``'s alerts: note tracker replies/errors and count blocks per remote ip."""
    for alert in peer.session.pop_alerts():
        if isinstance(alert, lt.tracker_reply_alert):
            peer.announced = True
        elif isinstance(alert, lt.tracker_error_alert):
            peer.tracker_errors.append(alert.message())
        elif isinstance(alert, lt.block_finished_alert):
            _count_block(peer.blocks_from, peer, alert)
        elif isinstance(alert, lt.block_uploaded_alert):
            _count_block(peer.blocks_to, peer, alert)
        elif isinstance(alert, lt.unwanted_block_alert):
            _count_block(peer.unwanted_from, peer, alert)


def _count_block(counter: dict[str, int], peer: PeerRuntime, alert: Any) -> None:
    """Add the payload bytes of the block named by ``alert`` to ``counter[remote ip]``."""
    ip = str(alert.ip[0]) if isinstance(alert.ip, tuple) else str(alert.ip)
    length = peer.handle.torrent_file().piece_size(alert.piece_index)
    block = max(0, min(16384, length - alert.block_index * 16384))
    counter[ip] = counter.get(ip, 0) + block


def poll_peer_info(peer: PeerRuntime, now: float) -> None:
    """Fold ``handle.get_peer_info()`` into the per-remote record (max of each counter, last seen time)."""
    for info in peer.handle.get_peer_info():
        ip, port = str(info.ip[0]), int(info.ip[1])
        key = f"{ip}:{port}"
        rec = peer.remotes.setdefault(
            key,
            {
                "ip": ip,
                "port": port,
                "client": "",
                "total_download": 0,
                "total_upload": 0,
                "first_seen": now,
                "outgoing": bool(info.flags & lt.peer_info.local_connection),
            },
        )
        client = (
            info.client.decode("utf-8", "replace") if isinstance(info.client, bytes) else str(info.client)
        )
        rec["client"] = client or rec["client"]
        rec["total_download"] = max(rec["total_download"], int(info.total_download))
        rec["total_upload"] = max(rec["total_upload"], int(info.total_upload))
        rec["last_seen"] = now
        # libtorrent also lists half-open connections; "established" = handshake seen at least once
        established = not info.flags & (lt.peer_info.connecting | lt.peer_info.handshake)
        rec["established"] = bool(rec.get("established")) or bool(established)


def peer_dump(peer: PeerRuntime) -> dict[str, Any]:
    """The stats dump of one hosted peer (see the module docstring)."""
    status = peer.handle.status()
    pieces = [i for i, have in enumerate(status.pieces) if have]
    live = {f"{i.ip[0]}:{i.ip[1]}" for i in peer.handle.get_peer_info()}
    remotes = []
    for key, rec in sorted(peer.remotes.items()):
        remotes.append({**rec, "connected_now": key in live})
    spec = peer.spec
    return {
        "name": spec["name"],
        "role": spec["role"],
        "ip": spec["ip"],
        "port": spec["port"],
        "num_pieces": len(pieces),
        "pieces": pieces,
        "total_pieces": len(status.pieces),
        "state": str(status.state),
        "announced": peer.announced,
        "tracker_errors": peer.tracker_errors[-5:],
        "total_payload_download": int(status.total_payload_download),
        "total_payload_upload": int(status.total_payload_upload),
        "total_failed_bytes": int(status.total_failed_bytes),
        "peers": remotes,
        "blocks_from": dict(peer.blocks_from),
        "blocks_to": dict(peer.blocks_to),
        "unwanted_from": dict(peer.unwanted_from),
    }


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` via a temporary file and rename, so readers never see half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True))
    os.replace(tmp, path)


def is_ready(peer: PeerRuntime) -> bool:
    """True once the torrent finished checking (or is in seed mode) and a tracker replied."""
    state = peer.handle.status().state
    checking = state in (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data)
    return peer.announced and not checking


class Runner:
    """The main loop: poll, answer SIGUSR1 with a dump, stop on SIGTERM/SIGINT or at ``max_lifetime``."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.stats_path = Path(config["stats_path"])
        self.ready_path = Path(config["ready_path"])
        self.seq = 0
        self.dump_requested = False
        self.stop_requested = False
        self.peers: list[PeerRuntime] = []

    def request_dump(self, _signum: int, _frame: object) -> None:
        self.dump_requested = True

    def request_stop(self, _signum: int, _frame: object) -> None:
        self.stop_requested = True

    def install_signals(self) -> None:
        """SIGUSR1 asks for a stats dump; SIGTERM and SIGINT ask the loop to stop."""
        signal.signal(signal.SIGUSR1, self.request_dump)
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def dump(self, reason: str) -> None:
        self.seq += 1
        payload = {
            "seq": self.seq,
            "reason": reason,
            "time": time.time(),
            "pid": os.getpid(),
            "peers": [peer_dump(p) for p in self.peers],
        }
        write_json_atomic(self.stats_path, payload)

    def reannounce(self) -> None:
        """Announce every peer again now (opentracker's own interval is ~30 min; tests need less)."""
        for peer in self.peers:
            peer.handle.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)

    def run(self) -> int:
        self.install_signals()
        started = time.monotonic()
        max_lifetime = float(self.config.get("max_lifetime", 900))
        stats_interval = float(self.config.get("stats_interval", 2.0))
        reannounce = self.config.get("reannounce_interval")
        last_reannounce = time.monotonic()
        self.peers = [start_peer(spec, self.config["torrent"]) for spec in self.config["peers"]]
        ready = False
        last_dump = time.monotonic()
        parent = os.getppid()
        while not self.stop_requested and time.monotonic() - started < max_lifetime:
            if os.getppid() != parent:  # our parent died without stopping us: do not outlive it
                break
            now = time.time()
            for peer in self.peers:
                handle_alerts(peer)
                poll_peer_info(peer, now)
            if not ready and all(is_ready(p) for p in self.peers):
                ready = True
                self.dump("ready")
                write_json_atomic(self.ready_path, {"ready": True, "pid": os.getpid(), "time": now})
            if reannounce and time.monotonic() - last_reannounce >= float(reannounce):
                self.reannounce()
                last_reannounce = time.monotonic()
            if self.dump_requested or time.monotonic() - last_dump >= stats_interval:
                self.dump("requested" if self.dump_requested else "periodic")
                self.dump_requested = False
                last_dump = time.monotonic()
            time.sleep(POLL_INTERVAL)
        self.dump("exit")
        for peer in self.peers:
            peer.session.pause()
        self.peers.clear()
        return 0


def main(argv: list[str]) -> int:
    """Entry point: ``argv[1]`` is the JSON config written by ``swarmscope.testbed.swarm``."""
    if len(argv) != 2:
        print("usage: python -m swarmscope.testbed.lt_peers CONFIG.json", file=sys.stderr)
        return 2
    config = json.loads(Path(argv[1]).read_text())
    return Runner(config).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
