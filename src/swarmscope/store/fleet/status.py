"""What ``swarmscope fleet status`` shows: nodes with their heartbeat, leases and writer lag; coverage.

All ages are measured against the database clock (seconds). Writer lag is what the node reported with
its last heartbeat (``fleet_node.writer_lag_us``): how long its oldest evidence not yet committed had
waited in its ledger writer (0: nothing pending, so an idle node is not lagging). The last batch's age
is the database time minus the seal time of the node's newest sealed batch (its own clock,
``ledger_batch.sealed_at_us``), corrected by the node's clock offset from the database when it reported
one: when it last wrote, not whether it is behind. The clock offset (database time minus the node's
clock, seconds) and threshold are what the node measured at its last lease round.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from swarmscope.evidence.bundle.vantage import vantage_count, vantage_of_address
from swarmscope.store.fleet.leases import db_now_us

DEAD_LEASES = 3  # lease periods without a heartbeat after which a node not cleanly stopped is dead
DEFAULT_LEASE_US = 30_000_000  # a node registered before its lease length was recorded (µs)


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """One node: name, key fingerprint, source IP, capacity, seconds since its heartbeat, stopped cleanly,
    live leases, writer lag in seconds as its last heartbeat reported it (None: not reported), seconds since
    its newest sealed batch (None: no batch yet), its clock offset from the database and its clock
    threshold in seconds (None: not reported)."""

    name: str
    fingerprint: str
    source_ip: str | None
    capacity: int
    heartbeat_age: float
    stopped: bool
    leases: int
    writer_lag: float | None
    last_batch_age: float | None
    clock_offset: float | None = None
    clock_threshold: float | None = None
    dead: bool = False  # not cleanly stopped, no heartbeat for more than DEAD_LEASES lease periods

    @property
    def clock_off(self) -> bool:
        """True when the reported offset exceeds the node's threshold (its hits are clock-flagged)."""
        if self.clock_offset is None or self.clock_threshold is None:
            return False
        return abs(self.clock_offset) > self.clock_threshold


@dataclass(frozen=True, slots=True)
class SwarmCoverage:
    """One registered swarm: infohash, name, work, vantages wanted, node names holding a live lease, and
    each holder's vantage (:func:`swarmscope.evidence.bundle.vantage.vantage_of_address` of its stored
    source address, in ``holders`` order; empty: not known, each holder counted as one)."""

    infohash: str
    name: str
    work: str | None
    vantages: int
    holders: tuple[str, ...]
    holder_vantages: tuple[str, ...] = ()

    @property
    def distinct_vantages(self) -> int:
        """The distinct vantage points of its live holders (:func:`vantage_count`: two nodes of one /24,
        or two without a named vantage, are one)."""
        if not self.holder_vantages:
            return len(self.holders)
        return vantage_count(self.holder_vantages)

    @property
    def under_covered(self) -> bool:
        """Fewer distinct vantages among its live holders than vantages wanted (README "A fleet")."""
        return self.distinct_vantages < self.vantages

    @property
    def shared_vantage(self) -> str:
        """Why holders enough in number do not cover it: ``"2 holders on 1 vantage (192.0.2.0/24)"``;
        "" when its holders are as many vantages or fewer than wanted anyway."""
        if self.distinct_vantages >= len(self.holders) or len(self.holders) < self.vantages:
            return ""
        points = ", ".join(sorted(set(self.holder_vantages)))
        return f"{len(self.holders)} holders on {self.distinct_vantages} vantage(s) ({points})"

    @property
    def over_covered(self) -> bool:
        """More live leases than vantages wanted (they were lowered; rebalancing hands off the surplus)."""
        return len(self.holders) > self.vantages


@dataclass(frozen=True, slots=True)
class FleetStatus:
    """The whole fleet at database time ``now_us`` (UTC µs)."""

    now_us: int
    nodes: list[NodeStatus]
    swarms: list[SwarmCoverage]


_NODES = sa.text("""
SELECT n.name, n.fingerprint, n.source_ip, n.capacity, n.heartbeat_us, n.stopped_us, n.writer_lag_us,
       n.clock_offset_us, n.clock_threshold_us,
       n.stopped_us IS NULL AND n.heartbeat_us <= :now - :dead * coalesce(n.lease_us, :lease) AS dead,
       (SELECT count(*) FROM fleet_lease l WHERE l.node_name = n.name AND l.expires_us > :now) AS leases,
       (SELECT max(b.sealed_at_us) FROM ledger_batch b JOIN node_key k ON k.id = b.node_id
         WHERE k.fingerprint = n.fingerprint) AS last_batch
  FROM fleet_node n ORDER BY n.name
""")

_SWARMS = sa.text("""
SELECT s.infohash, s.name, s.work, s.vantages,
       coalesce(array_agg(l.node_name ORDER BY l.node_name)
                FILTER (WHERE l.expires_us > :now), '{}') AS holders,
       coalesce(array_agg(n.source_ip ORDER BY l.node_name)
                FILTER (WHERE l.expires_us > :now), '{}') AS holder_ips
  FROM fleet_swarm s LEFT JOIN fleet_lease l ON l.infohash = s.infohash
  LEFT JOIN fleet_node n ON n.name = l.node_name
 GROUP BY s.infohash ORDER BY s.added_us, s.infohash
""")


def fleet_status(conn: sa.Connection) -> FleetStatus:
    """Read the fleet's nodes and swarm coverage in one transaction (PostgreSQL)."""
    now = db_now_us(conn)
    nodes = [
        NodeStatus(
            r.name,
            r.fingerprint,
            r.source_ip,
            int(r.capacity),
            (now - int(r.heartbeat_us)) / 1e6,
            r.stopped_us is not None,
            int(r.leases),
            None if r.writer_lag_us is None else int(r.writer_lag_us) / 1e6,
            None if r.last_batch is None else (now - int(r.last_batch) - int(r.clock_offset_us or 0)) / 1e6,
            None if r.clock_offset_us is None else int(r.clock_offset_us) / 1e6,
            None if r.clock_threshold_us is None else int(r.clock_threshold_us) / 1e6,
            bool(r.dead),
        )
        for r in conn.execute(_NODES, {"now": now, "dead": DEAD_LEASES, "lease": DEFAULT_LEASE_US})
    ]
    swarms = [
        SwarmCoverage(
            r.infohash,
            r.name,
            r.work,
            int(r.vantages),
            tuple(r.holders),
            tuple(vantage_of_address(ip) for ip in r.holder_ips),
        )
        for r in conn.execute(_SWARMS, {"now": now})
    ]
    return FleetStatus(now, nodes, swarms)
