"""A mesh of real libtorrent 2.1.1 DHT nodes on distinct 127.x addresses, in this process.

Settings from ../shared/testbed/NOTES.md ("libtorrent settings that matter on loopback"). Found while
building this: with every session started at once, the bootstrap node's table is empty when the others
join, and libtorrent only re-queries it minutes later; so each session is also introduced to a few others
with ``add_dht_node`` (the way a real node learns contacts from its saved state).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from swarmscope.testbed.discovery_runner import dht_settings as loopback_dht_settings

lt = pytest.importorskip("libtorrent", reason="libtorrent (PyPI) is needed for real DHT tests")

DHT_PORT = 6881


def dht_settings(ip: str, port: int, bootstrap: str) -> dict[str, Any]:
    """settings_pack for one DHT-only session on ``ip:port``: the testbed loopback settings + DHT alerts."""
    mask = lt.alert.category_t.dht_notification | lt.alert.category_t.dht_operation_notification
    return {**loopback_dht_settings(ip, port, bootstrap), "alert_mask": mask}


@dataclass
class Mesh:
    """The bootstrap session, the mesh sessions and their addresses."""

    bootstrap: Any
    bootstrap_address: tuple[str, int]
    sessions: list[Any]
    addresses: list[tuple[str, int]]
    extra: list[Any] = field(default_factory=list)

    def add_session(self, ip: str, bootstrap: str) -> Any:
        """Start one more session (stopped with the mesh)."""
        ses = lt.session(dht_settings(ip, DHT_PORT, bootstrap))
        self.extra.append(ses)
        return ses


def node_id(ses: Any) -> bytes:
    """The session's DHT node id (first entry of dht_state: 20-byte id + IP)."""
    return bytes(ses.dht_state()[b"node-id"][0][:20])


def live_nodes(ses: Any, timeout: float = 2.0) -> int:
    """Routing-table size of a session (dht_live_nodes_alert), -1 if no answer in ``timeout`` s."""
    ses.dht_live_nodes(lt.sha1_hash(node_id(ses)))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for alert in ses.pop_alerts():
            if isinstance(alert, lt.dht_live_nodes_alert):
                return int(alert.num_nodes)
        time.sleep(0.02)
    return -1


def stop_sessions(sessions: list[Any]) -> None:
    """Stop every session's DHT and torrents, then drop them (the destructor joins libtorrent's threads)."""
    for ses in sessions:
        ses.pause()
        ses.stop_dht()
    while sessions:
        del sessions[-1]  # the last reference: ~session() shuts the session down and waits for it


@contextmanager
def dht_mesh(size: int, *, introductions: int = 6, seed: int = 7) -> Iterator[Mesh]:
    """Start a bootstrap node on 127.0.0.2 and ``size`` nodes on 127.0.1.1…; wait until tables fill.

    Every session is stopped on exit. Waits are bounded (40 s for the tables).
    """
    rng = random.Random(seed)
    boot_addr = ("127.0.0.2", DHT_PORT)
    boot = lt.session(dht_settings(boot_addr[0], DHT_PORT, ""))
    addresses = [(f"127.0.1.{i + 1}", DHT_PORT) for i in range(size)]
    sessions = [lt.session(dht_settings(ip, port, f"{boot_addr[0]}:{DHT_PORT}")) for ip, port in addresses]
    mesh = Mesh(boot, boot_addr, sessions, addresses)
    try:
        for i, ses in enumerate(sessions):
            for j in rng.sample(range(size), introductions):
                if j != i:
                    ses.add_dht_node(addresses[j])
            ses.add_dht_node(boot_addr)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            time.sleep(1.0)
            counts = sorted(live_nodes(s) for s in sessions)
            if counts[0] >= 6 and counts[len(counts) // 4] >= 8:
                break
        yield mesh
    finally:
        everything = [boot, *sessions, *mesh.extra]
        del boot
        sessions.clear()
        mesh.sessions, mesh.extra, mesh.bootstrap = [], [], None
        stop_sessions(everything)
