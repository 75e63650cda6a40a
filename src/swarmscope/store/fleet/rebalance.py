"""Rebalancing the fleet when nodes join or leave: a fair share per live node, and handoffs above it.

Run by the fleet's exactly-once job (:mod:`swarmscope.store.fleet.jobs`), in one transaction:

1. Live nodes: not stopped, heartbeat within ``live_within`` seconds (database time).
2. Wanted slots: for every registered swarm, its vantages, at most the number of live nodes.
3. Each live node's ``share`` = min(its capacity, ceil(slots / live nodes)); a node takes nothing past its
   share (:func:`swarmscope.store.fleet.leases.take_one`). A node that is not live gets no share.
4. Over-coverage: a swarm with more live leases than its vantages (they were lowered) gets ``handoff``
   set on the surplus, from its holders with the most leases.
5. While some live node holds fewer live leases than its share, the nodes above their share hand off
   their excess, each handoff matched to one node below its share that can take that swarm (does not
   hold it, no holder at its source address), and no swarm handed off twice in one round: two nodes
   handing off the same swarm would leave it under-covered once the one taker took it.

A node with ``handoff`` set stops monitoring the swarm and releases it cleanly at its next round
(:mod:`swarmscope.monitor.node`); the nodes below their share take it.

Not handled: a swarm that stays under-covered because every node without it is at its share while the
nodes below their share all hold it already (it needs a swap of two swarms between two nodes).
"""

from __future__ import annotations

import math
from collections import defaultdict

import sqlalchemy as sa

from swarmscope.store.fleet.leases import NOW_US

_LIVE = sa.text(f"""
SELECT n.name, n.capacity, n.source_ip
  FROM fleet_node n
 WHERE n.stopped_us IS NULL AND n.heartbeat_us > {NOW_US} - :live_us
 ORDER BY n.name FOR UPDATE OF n
""")

_HELD = sa.text(f"""
SELECT l.node_name, l.infohash, n.source_ip FROM fleet_lease l JOIN fleet_node n ON n.name = l.node_name
 WHERE l.expires_us > {NOW_US} AND NOT l.handoff ORDER BY l.infohash, l.node_name
""")

_HAND_OFF = sa.text(f"""
UPDATE fleet_lease SET handoff = true
 WHERE node_name = :node AND infohash = :infohash AND expires_us > {NOW_US} AND NOT handoff
RETURNING infohash
""")


class _Fleet:
    """Live leases (no handoff pending) by node and by swarm, as one rebalancing round sees them."""

    def __init__(self, conn: sa.Connection, live: dict[str, str | None]) -> None:
        self.ips = dict(live)
        self.held: dict[str, list[str]] = {name: [] for name in live}
        self.holders: dict[str, set[str]] = defaultdict(set)
        self.holder_ips: dict[str, set[str]] = defaultdict(set)
        for row in conn.execute(_HELD):
            self.holders[row.infohash].add(row.node_name)
            if row.source_ip is not None:
                self.holder_ips[row.infohash].add(row.source_ip)
            if row.node_name in self.held:
                self.held[row.node_name].append(row.infohash)

    def can_take(self, node: str, infohash: str) -> bool:
        """``node`` may take ``infohash`` once handed off: it does not hold it, no holder at its address."""
        ip = self.ips[node]
        return node not in self.holders[infohash] and (ip is None or ip not in self.holder_ips[infohash])

    def hand_off(self, conn: sa.Connection, node: str, infohash: str) -> bool:
        """Set ``handoff`` on ``node``'s lease of ``infohash``; True when it did."""
        self.held[node].remove(infohash)
        self.holders[infohash].discard(node)
        return conn.execute(_HAND_OFF, {"node": node, "infohash": infohash}).first() is not None


def rebalance(conn: sa.Connection, live_within: float) -> list[tuple[str, str]]:
    """Set every node's share and ask for handoffs above it; returns (node name, infohash) handed off.

    Args:
        live_within: seconds since its heartbeat within which a node counts as live.
    """
    live = conn.execute(_LIVE, {"live_us": round(live_within * 1_000_000)}).all()
    conn.execute(sa.text("UPDATE fleet_node SET share = NULL"))
    if not live:
        return []
    wanted = sa.text("SELECT coalesce(sum(least(vantages, :n)), 0) FROM fleet_swarm")
    slots = int(conn.execute(wanted, {"n": len(live)}).scalar_one())
    fair = math.ceil(slots / len(live))
    shares = {row.name: min(int(row.capacity), fair) for row in live}
    for name, share in shares.items():
        conn.execute(sa.text("UPDATE fleet_node SET share = :s WHERE name = :n"), {"s": share, "n": name})
    fleet = _Fleet(conn, {row.name: row.source_ip for row in live})
    handed = _trim_over_covered(conn, fleet)
    return handed + _hand_off_excess(conn, fleet, shares)


def _trim_over_covered(conn: sa.Connection, fleet: _Fleet) -> list[tuple[str, str]]:
    """Hand off the leases above each swarm's vantages, from the live holders holding the most."""
    query = sa.text("SELECT infohash, vantages FROM fleet_swarm")
    vantages = {row.infohash: int(row.vantages) for row in conn.execute(query)}
    handed: list[tuple[str, str]] = []
    for infohash, holders in sorted(fleet.holders.items()):
        surplus = len(holders) - vantages.get(infohash, len(holders))
        ranked = sorted((h for h in holders if h in fleet.held), key=lambda h: (-len(fleet.held[h]), h))
        for node in ranked[: max(surplus, 0)]:
            if fleet.hand_off(conn, node, infohash):
                handed.append((node, infohash))
    return handed


def _hand_off_excess(conn: sa.Connection, fleet: _Fleet, shares: dict[str, int]) -> list[tuple[str, str]]:
    """Hand off each node's leases above its share, each to a distinct taker slot below its share."""
    room = {name: shares[name] - len(held) for name, held in fleet.held.items() if len(held) < shares[name]}
    handed: list[tuple[str, str]] = []
    chosen: set[str] = set()
    for node in sorted(fleet.held):
        excess = len(fleet.held[node]) - shares[node]
        # the swarms with the most holders first: they stay covered longest while they move
        for infohash in sorted(fleet.held[node], key=lambda h: (-len(fleet.holders[h]), h)):
            taker = next((t for t in sorted(room) if room[t] > 0 and fleet.can_take(t, infohash)), None)
            if excess <= 0 or taker is None or infohash in chosen:
                continue
            if fleet.hand_off(conn, node, infohash):
                room[taker] -= 1
                excess -= 1
                chosen.add(infohash)
                handed.append((node, infohash))
    return handed
