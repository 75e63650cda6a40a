"""Runner process hosting the discovery scenario: a libtorrent DHT mesh and the per-channel peer groups.

Run as ``python -m swarmscope.testbed.discovery_runner CONFIG.json`` (written by
``swarmscope.testbed.discovery.start_discovery``).

It hosts, all in this one process (testbed NOTES: 200 sessions fit easily):

* a dedicated DHT bootstrap session and ``mesh`` DHT-only sessions (no torrent), each introduced to a few
  others with ``add_dht_node`` (tests/net/lt_dht.py: otherwise tables fill only minutes later);
* a *checker* session in the mesh that repeatedly runs ``dht_get_peers`` for the DHT-announced infohashes,
  so readiness means "an ordinary DHT lookup finds every DHT-only peer";
* the group peers (``lt_peers.start_peer`` with extra settings): tracker, dht, pex, inbound, encrypted,
  magnet and ipv6. Per-peer config keys beyond ``lt_peers``: ``torrent`` (path), ``settings`` (merged into
  the ``lt_peers`` settings), ``dht`` (join the mesh and announce), ``tracker`` (wait for a tracker reply),
  ``disable_pex`` (torrent flag), ``connect_to`` (addresses this peer keeps dialling with ``connect_peer``:
  the hub's PEX-only peers always; a monitor address of the inbound-only group only while something
  listens on it, see ``tcp_listeners``).

Files: ``ready_path`` once every group is reachable the way it should be; ``stats_path`` as in
``lt_peers`` (``seq`` increases; written periodically, on SIGUSR1 and at exit).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import libtorrent as lt

from swarmscope.testbed.lt_peers import (
    PeerRuntime,
    Runner,
    handle_alerts,
    peer_dump,
    poll_peer_info,
    session_settings,
    write_json_atomic,
)

POLL_INTERVAL = 0.1  # seconds between alert / peer-info polls
INTRODUCTIONS = 6  # mesh contacts each DHT session is given with add_dht_node


def dht_settings(ip: str, port: int, bootstrap: str) -> dict[str, Any]:
    """settings_pack entries for a DHT session on loopback (testbed NOTES); the DHT tests reuse it."""
    return {
        "listen_interfaces": f"{ip}:{port}",
        "outgoing_interfaces": ip,
        "enable_dht": True,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_bootstrap_nodes": bootstrap,
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_enforce_node_id": False,
        "dht_prefer_verified_node_ids": False,
        "dht_ignore_dark_internet": False,
        "dht_block_ratelimit": 100_000,
        "dht_upload_rate_limit": 1_000_000,
        "dht_announce_interval": 30,
    }


def group_settings(spec: dict[str, Any], bootstrap: str) -> dict[str, Any]:
    """The ``lt_peers`` settings of a group peer, with DHT and the spec's extra settings merged in."""
    settings = session_settings(spec)
    if spec.get("dht"):
        dht = dht_settings(spec["ip"], spec["port"], bootstrap)
        settings.update({k: v for k, v in dht.items() if k.startswith("dht_") or k == "enable_dht"})
        settings["alert_mask"] = int(settings["alert_mask"]) | int(lt.alert_category.dht)
    settings["close_redundant_connections"] = False  # seed-to-seed links (hub ↔ PEX peers) must stay
    settings.update(spec.get("settings") or {})
    if ":" in spec["ip"]:  # IPv6 peer: bracketed listen address, no IPv4 outgoing interface
        settings["listen_interfaces"] = f"[{spec['ip']}]:{spec['port']}"
        settings["outgoing_interfaces"] = ""
    return settings


def start_group_peer(spec: dict[str, Any], bootstrap: str) -> PeerRuntime:
    """Create the session and add the spec's torrent (seed or partial seed, never downloading)."""
    session = lt.session(group_settings(spec, bootstrap))  # type: ignore[call-overload]
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(spec["torrent"])
    params.save_path = spec["save_path"]
    params.flags &= ~lt.torrent_flags.auto_managed
    params.flags &= ~lt.torrent_flags.paused
    if spec.get("disable_pex"):
        params.flags |= lt.torrent_flags.disable_pex
    if spec["role"] == "partial":
        params.piece_priorities = [0] * params.ti.num_pieces()
    return PeerRuntime(spec, session, session.add_torrent(params))


def tcp_listeners() -> set[tuple[str, int]]:
    """IPv4 (address, port) pairs in LISTEN state in this network namespace (``/proc/net/tcp``).

    The inbound-only group dials a monitor only once it listens: libtorrent backs off from an address
    that refused (``min_reconnect_time`` x failures), which would delay the dial into a later run.
    """
    found: set[tuple[str, int]] = set()
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
            address, port = fields[1].split(":")
            ip = ".".join(str(b) for b in reversed(bytes.fromhex(address)))
            found.add((ip, int(port, 16)))
    return found


class DiscoveryRunner(Runner):
    """Start everything, keep the channels alive (re-announce, re-dial), dump stats, stop on a signal."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.mesh: list[Any] = []
        self.checker: Any = None
        self.found: dict[str, set[tuple[str, int]]] = {}
        self.rng = random.Random(int(config.get("seed", 7)))

    def start_mesh(self) -> None:
        """Bootstrap node, mesh nodes and checker; each introduced to a few random mesh members."""
        boot_ip, boot_port = self.config["bootstrap"]
        boot = f"{boot_ip}:{boot_port}"
        self.mesh.append(lt.session(dht_settings(boot_ip, boot_port, "")))  # type: ignore[call-overload]
        addresses = [tuple(a) for a in self.config["mesh"]]
        for ip, port in addresses:
            self.mesh.append(lt.session(dht_settings(ip, port, boot)))  # type: ignore[call-overload]
        checker_ip, checker_port = self.config["checker"]
        settings = dht_settings(checker_ip, checker_port, boot)
        settings["alert_mask"] = int(lt.alert_category.dht | lt.alert_category.dht_operation)
        self.checker = lt.session(settings)  # type: ignore[call-overload]
        for ses in [*self.mesh[1:], self.checker]:
            self.introduce(ses, addresses, (boot_ip, boot_port))

    def introduce(self, ses: Any, addresses: list[Any], boot: tuple[str, int]) -> None:
        """``add_dht_node`` a few random mesh members and the bootstrap node."""
        for address in self.rng.sample(addresses, min(INTRODUCTIONS, len(addresses))):
            ses.add_dht_node(address)
        ses.add_dht_node(boot)

    def start_peers(self) -> None:
        boot_ip, boot_port = self.config["bootstrap"]
        mesh = [tuple(a) for a in self.config["mesh"]]
        for spec in self.config["peers"]:
            peer = start_group_peer(spec, f"{boot_ip}:{boot_port}")
            if spec.get("dht"):
                self.introduce(peer.session, mesh, (boot_ip, boot_port))
            self.peers.append(peer)

    def check_dht(self) -> None:
        """Ask the checker to look up every DHT-announced infohash; fold replies into ``found``."""
        for alert in self.checker.pop_alerts():
            if isinstance(alert, lt.dht_get_peers_reply_alert):
                key = str(alert.info_hash)
                self.found.setdefault(key, set()).update((str(ip), int(port)) for ip, port in alert.peers())
        for infohash in {p["infohash"] for p in self.config["peers"] if p.get("dht")}:
            self.checker.dht_get_peers(lt.sha1_hash(bytes.fromhex(infohash)))

    def reachable(self, peer: PeerRuntime) -> bool:
        """True once ``peer`` can be found through its channel (see the module docstring)."""
        spec = peer.spec
        state = peer.handle.status().state
        if state in (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data):
            return False
        if spec.get("tracker") and not peer.announced:
            return False
        if spec.get("dht") and (spec["ip"], spec["port"]) not in self.found.get(spec["infohash"], set()):
            return False
        if spec.get("connect_to") and spec.get("hub"):
            live = {(str(i.ip[0]), int(i.ip[1])) for i in peer.handle.get_peer_info()}
            return all(tuple(a) in live for a in spec["connect_to"])
        return True

    def keep_channels(self, dht_due: bool, tracker_due: bool, dial_due: bool) -> None:
        """Re-announce (tracker, DHT) and re-dial (hub → PEX peers, inbound-only → monitors)."""
        for peer in self.peers:
            spec = peer.spec
            if tracker_due and spec.get("tracker"):
                peer.handle.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
            if dht_due and spec.get("dht"):
                peer.handle.force_dht_announce()
            if dial_due and spec.get("connect_to"):
                live = {(str(i.ip[0]), int(i.ip[1])) for i in peer.handle.get_peer_info()}
                listening = tcp_listeners()
                for ip, port in spec["connect_to"]:
                    up = (ip, port) in listening or ("0.0.0.0", port) in listening
                    if (ip, port) not in live and (spec.get("hub") or up):
                        peer.handle.connect_peer((ip, port))

    def dump(self, reason: str) -> None:
        payload = {
            "seq": self.seq + 1,
            "reason": reason,
            "time": time.time(),
            "pid": os.getpid(),
            "dht_found": {k: sorted(v) for k, v in self.found.items()},
            "unreachable": [p.spec["name"] for p in self.peers if not self.reachable(p)],
            "peers": [{**peer_dump(p), "group": p.spec["group"]} for p in self.peers],
        }
        self.seq += 1
        write_json_atomic(self.stats_path, payload)

    def loop(self) -> None:
        started = time.monotonic()
        max_lifetime = float(self.config.get("max_lifetime", 900))
        intervals = {"dht": 10.0, "tracker": float(self.config.get("reannounce_interval", 10)), "dial": 2.0}
        intervals["stats"] = float(self.config.get("stats_interval", 2.0))
        last = dict.fromkeys(intervals, time.monotonic())
        ready, parent = False, os.getppid()
        while not self.stop_requested and time.monotonic() - started < max_lifetime:
            if os.getppid() != parent:  # our parent died without stopping us: do not outlive it
                break
            now, mono = time.time(), time.monotonic()
            due = {k: mono - last[k] >= v for k, v in intervals.items()}
            last.update({k: mono for k, d in due.items() if d})
            for peer in self.peers:
                handle_alerts(peer)
                poll_peer_info(peer, now)
            lookup_due = due["dht"] or (not ready and due["dial"])  # every 2 s until ready, then 10 s
            if lookup_due:
                self.check_dht()
            self.keep_channels(lookup_due, due["tracker"], due["dial"])
            if not ready and all(self.reachable(p) for p in self.peers):
                ready = True
                self.dump("ready")
                write_json_atomic(self.ready_path, {"ready": True, "pid": os.getpid(), "time": now})
            if self.dump_requested or due["stats"]:
                self.dump("requested" if self.dump_requested else "periodic")
                self.dump_requested = False
            time.sleep(POLL_INTERVAL)

    def run(self) -> int:
        self.install_signals()
        try:
            self.start_mesh()
            self.start_peers()
            self.loop()
            self.dump("exit")
        finally:
            self.stop_all()
        return 0

    def stop_all(self) -> None:
        """Pause every session and drop it (the destructor joins libtorrent's threads)."""
        sessions = [p.session for p in self.peers] + self.mesh + ([self.checker] if self.checker else [])
        self.peers.clear()
        self.mesh.clear()
        self.checker = None
        for ses in sessions:
            ses.pause()
        while sessions:
            del sessions[-1]


def main(argv: list[str]) -> int:
    """Entry point: ``argv[1]`` is the JSON config written by ``swarmscope.testbed.discovery``."""
    if len(argv) != 2:
        print("usage: python -m swarmscope.testbed.discovery_runner CONFIG.json", file=sys.stderr)
        return 2
    return DiscoveryRunner(json.loads(Path(argv[1]).read_text())).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
