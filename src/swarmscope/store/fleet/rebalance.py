"""Rebalancing the fleet when nodes join or leave: a fair share per live node, and handoffs above it.

Run by the fleet's exactly-once job (:mod:`swarmscope.store.fleet.jobs`), in one transaction:

1. Live nodes: not stopped, heartbeat within ``live_within`` seconds (database time).
2. Wanted slots: for every registered swarm, its vantages, at most the number of live nodes.
3. Each live node's ``share`` = min(its capacity, ceil(slots / live nodes)); a node takes nothing past its
   share (:func:`swarmscope.store.fleet.leases.take_one`). A node that is not live gets no share.
4. While some live node holds fewer live leases than its share, every node above its share gets
   ``handoff`` set on its excess leases (the swarms with the most holders first): it stops monitoring them
   and releases them cleanly at its next round (:mod:`swarmscope.monitor.node`); the nodes below their
   share take them.

Not handled: a swarm that stays under-covered because every node without it is at its share while the
nodes below their share all hold it already (it needs a swap of two swarms between two nodes).
"""

from __future__ import annotations

import math

import sqlalchemy as sa

from swarmscope.store.fleet.leases import NOW_US

_LIVE = sa.text(f"""
SELECT n.name, n.capacity,
       (SELECT count(*) FROM fleet_lease l WHERE l.node_name = n.name AND l.expires_us > {NOW_US}
           AND NOT l.handoff) AS held
  FROM fleet_node n
 WHERE n.stopped_us IS NULL AND n.heartbeat_us > {NOW_US} - :live_us
 ORDER BY n.name FOR UPDATE OF n
""")

_EXCESS = sa.text(f"""
UPDATE fleet_lease SET handoff = true WHERE id IN (
  SELECT l.id FROM fleet_lease l
   WHERE l.node_name = :node AND l.expires_us > {NOW_US} AND NOT l.handoff
   ORDER BY (SELECT count(*) FROM fleet_lease o WHERE o.infohash = l.infohash) DESC, l.infohash
   LIMIT :excess)
RETURNING infohash
""")


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
    if all(int(row.held) >= shares[row.name] for row in live):
        return []  # nobody could take a handed-off swarm
    handed: list[tuple[str, str]] = []
    for row in live:
        excess = int(row.held) - shares[row.name]
        if excess > 0:
            found = conn.execute(_EXCESS, {"node": row.name, "excess": excess}).scalars()
            handed += [(row.name, infohash) for infohash in found]
    return handed
