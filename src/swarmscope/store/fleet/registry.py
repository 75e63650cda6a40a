"""The fleet's registers: nodes (name bound to one Ed25519 key) and the swarms the fleet watches.

Runs in the caller's transaction. Times are database time (``swarmscope_now_us()``, UTC µs).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import sqlalchemy as sa

from swarmscope.store.database import StoreError
from swarmscope.store.fleet.leases import NOW_US, release_leases
from swarmscope.store.fleet.status import DEAD_LEASES, DEFAULT_LEASE_US


class FleetError(StoreError):
    """A fleet request the database state refuses (a node name bound to another key, no PostgreSQL...)."""


@dataclass(frozen=True, slots=True)
class NodeStart:
    """A node as it starts: name, key fingerprint (hex SHA-256 of the raw Ed25519 public key), source IP
    (None: the default route), TCP listen port (0: none), capacity in swarms."""

    name: str
    fingerprint: str
    source_ip: str | None
    listen_port: int
    capacity: int


@dataclass(frozen=True, slots=True)
class FleetSwarm:
    """A registered swarm: infohash (lower-case hex swarm id), display name, the exact .torrent bytes or the
    magnet URI, the work it carries (free text or None), vantage points wanted (>= 1)."""

    infohash: str
    name: str
    metainfo: bytes | None
    magnet: str | None
    work: str | None
    vantages: int


@dataclass(frozen=True, slots=True)
class Registration:
    """An accepted start: leftover leases of the name dropped, and this process's incarnation (the
    name's start counter, which every later renewal, take and batch of this process must still carry)."""

    dropped: int
    incarnation: int


def register_node(conn: sa.Connection, node: NodeStart, live_within: float) -> Registration:
    """Start (or restart) a node under its name; returns the leftover leases dropped and its incarnation.

    A name stays bound to the key it was first registered with: a node's chain is its key's, and a second
    key under one name would make "which node saw this" ambiguous. A restart drops the leases of the
    previous process of that name (a process presumed dead may still be paused, not dead: new tokens
    fence it). A name whose node is live (not stopped, heartbeat within its own stored lease length
    ``lease_us`` or ``live_within`` seconds, whichever is longer, database time) is refused, so a start
    with a shorter ``--lease-seconds`` cannot replace a healthy node that renews on a longer lease: a second
    process would take over the first one's leases while the first goes on
    monitoring and signing with the same key. Its source address must sit outside the ban range of every
    other node not cleanly stopped (see :func:`check_ban_range`). Each start increments the name's
    ``incarnation``: a previous process that was paused, not dead, is refused from then on. A name's first
    incarnation is the database time in UTC µs, so a name registered again after ``fleet retire`` deleted
    its row never gets back a number a paused process of the retired node still holds.

    Args:
        live_within: seconds, the newcomer's lease length (stored as ``lease_us``); a heartbeat within it,
            or within the running node's stored lease length if longer, shows a live process.

    Raises:
        FleetError: the name is registered with another key or runs already, its key is registered under
            another name, or its address shares another node's range.
    """
    # one registration at a time, with or without --bind: the name, key and range checks below read
    # rows another start may be inserting (PostgreSQL transaction advisory lock, re-entrant)
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('fleet_node_ranges'))"))
    check_ban_range(conn, node.name, node.source_ip)
    row = conn.execute(  # judged by the running node's own lease length too (the longer of the two)
        sa.text(
            "SELECT fingerprint, stopped_us IS NULL AND heartbeat_us > "
            f"{NOW_US} - greatest(coalesce(lease_us, 0), :live_us) AS live,"
            " greatest(coalesce(lease_us, 0), :live_us) / 1e6 AS live_s"
            " FROM fleet_node WHERE name = :name FOR UPDATE"
        ),
        {"name": node.name, "live_us": round(live_within * 1_000_000)},
    ).first()
    values = {
        "name": node.name,
        "fingerprint": node.fingerprint,
        "source_ip": node.source_ip,
        "listen_port": node.listen_port,
        "capacity": node.capacity,
        "lease_us": round(live_within * 1_000_000),
    }
    check_key_unshared(conn, node)
    if row is not None and row.fingerprint != node.fingerprint:
        raise FleetError(
            f"node {node.name!r} is registered with key {row.fingerprint[:16]}…, not this key "
            f"{node.fingerprint[:16]}…: give its own key file (--node-key) or another --name"
        )
    if row is not None and row.live:
        raise FleetError(
            f"node {node.name!r} is running already (heartbeat within the last {float(row.live_s):g} s, its"
            " lease time): stop it first, or wait until its heartbeat is older than its lease time"
        )
    if row is None:  # the first incarnation is the database time: never one a retired name held before
        first = conn.execute(
            sa.text(
                "INSERT INTO fleet_node (name, fingerprint, source_ip, listen_port, capacity, started_us,"
                " heartbeat_us, incarnation, lease_us) VALUES (:name, :fingerprint, :source_ip,"
                f" :listen_port, :capacity, {NOW_US}, {NOW_US}, {NOW_US}, :lease_us) RETURNING incarnation"
            ),
            values,
        ).scalar_one()
        return Registration(0, int(first))
    incarnation = conn.execute(
        sa.text(
            "UPDATE fleet_node SET source_ip = :source_ip, listen_port = :listen_port, capacity = :capacity,"
            f" started_us = {NOW_US}, heartbeat_us = {NOW_US}, stopped_us = NULL, lease_us = :lease_us,"
            " incarnation = incarnation + 1 WHERE name = :name RETURNING incarnation"
        ),
        values,
    ).scalar_one()
    return Registration(release_leases(conn, node.name), int(incarnation))


def check_key_unshared(conn: sa.Connection, node: NodeStart) -> None:
    """Refuse a key already registered under another name: one key is one chain and one vantage, so two
    names on it would show two vantages (and two nodes' coverage) where there is one.

    Raises:
        FleetError: naming the other node.
    """
    other = conn.execute(
        sa.text("SELECT name FROM fleet_node WHERE fingerprint = :fingerprint AND name <> :name LIMIT 1"),
        {"fingerprint": node.fingerprint, "name": node.name},
    ).scalar()
    if other is not None:
        raise FleetError(
            f"node {node.name!r}: key {node.fingerprint[:16]}… is registered already under node {other!r}:"
            " give each node its own key file (--node-key), or start it as that node"
        )


BAN_PREFIX = {4: 30, 6: 64}  # prefix length that peer-side ban tools block as one range, per IP version


def ban_range(source_ip: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The range a peer-side ban tool blocks along with ``source_ip``: its /30 (IPv4) or /64 (IPv6).

    Blocklist tools of BitTorrent clients (PeerGuardian-style ranges, qBittorrent's and Transmission's IP
    filters fed by them) ban whole ranges, so two vantages in one such range are banned together: they
    corroborate nothing a single node would not. An IPv4-mapped IPv6 address is its IPv4 address's range.
    Raises ValueError for a malformed address.
    """
    address = ipaddress.ip_address(source_ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # RFC 4291 section 2.5.5.2: an IPv4 host, banned as one
    return ipaddress.ip_network(f"{address}/{BAN_PREFIX[address.version]}", strict=False)


def check_ban_range(conn: sa.Connection, name: str, source_ip: str | None) -> None:
    """Refuse ``source_ip`` for node ``name`` when another node not cleanly stopped sits in its range.

    A node without source address (the default route) is not checked: the fleet cannot know it. A cleanly
    stopped node (``stopped_us`` set) holds no lease and frees its range; it is checked again when it
    restarts. A transaction advisory lock serialises concurrent registrations.

    Raises:
        FleetError: the address is malformed or shares the /30 (IPv4) or /64 (IPv6) of a named node.
    """
    if source_ip is None:
        return
    try:
        mine = ban_range(source_ip)
    except ValueError:
        raise FleetError(f"node {name!r}: {source_ip!r} is not an IP address") from None
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('fleet_node_ranges'))"))
    others = conn.execute(
        sa.text(
            "SELECT name, source_ip FROM fleet_node WHERE name <> :name AND source_ip IS NOT NULL"
            " AND stopped_us IS NULL ORDER BY name"
        ),
        {"name": name},
    ).all()
    for other in others:
        if ban_range(other.source_ip).overlaps(mine):
            raise FleetError(
                f"node {name!r} at {source_ip} shares the range {mine} with node {other.name!r} at"
                f" {other.source_ip}: peer-side ban tools ban whole /30 (IPv4) and /64 (IPv6) ranges,"
                " so give it an address outside that range (--public-ip when the node gives one, else --bind)"
            )


def mark_stopped(conn: sa.Connection, name: str, incarnation: int | None = None) -> None:
    """Record a clean stop of node ``name`` (database time); with ``incarnation``, only while that start
    is still the name's current one (a replaced process never marks its successor stopped)."""
    query = f"UPDATE fleet_node SET stopped_us = {NOW_US} WHERE name = :name"
    if incarnation is not None:
        query += " AND incarnation = :incarnation"
    conn.execute(sa.text(query), {"name": name, "incarnation": incarnation})


def retire_node(conn: sa.Connection, name: str) -> int:
    """Remove node ``name`` that is gone for good (killed, its machine lost): its row and its expired
    leases, so its address range and key are free; its sealed evidence stays. Returns the leases removed.

    Raises:
        FleetError: no such node, it holds live leases, or it is not dead (not cleanly stopped and a
            heartbeat within ``DEAD_LEASES`` of its lease periods, database time).
    """
    row = conn.execute(
        sa.text(
            f"SELECT stopped_us IS NULL AND heartbeat_us > {NOW_US} - :dead * coalesce(lease_us, :lease)"
            f" AS alive, ({NOW_US} - heartbeat_us) / 1e6 AS silent,"
            f" (SELECT count(*) FROM fleet_lease l WHERE l.node_name = n.name AND l.expires_us > {NOW_US})"
            " AS live FROM fleet_node n WHERE name = :name FOR UPDATE"
        ),
        {"name": name, "dead": DEAD_LEASES, "lease": DEFAULT_LEASE_US},
    ).first()
    if row is None:
        raise FleetError(f"no node named {name!r} in the fleet")
    if row.live:
        raise FleetError(f"node {name!r} holds {row.live} live lease(s): stop it first (SIGTERM)")
    if row.alive:
        raise FleetError(
            f"node {name!r} sent a heartbeat {float(row.silent):.1f} s ago: not dead (retire a node silent"
            f" for more than {DEAD_LEASES} lease periods, or stop it cleanly)"
        )
    removed = release_leases(conn, name)
    conn.execute(sa.text("DELETE FROM fleet_node WHERE name = :name"), {"name": name})
    return removed


ADDED, UPDATED, TORRENT_KEPT = "added", "updated", "torrent kept"


def add_swarm(conn: sa.Connection, swarm: FleetSwarm, keep_vantages: bool = False) -> str:
    """Register a swarm, or update a registered one: its work and vantages, and its source and name.

    A registered swarm keeps its stored work when ``swarm.work`` is None, and its stored vantages when
    ``keep_vantages`` (``fleet add`` without ``--vantages``: an update of its source must not reset them).

    A .torrent given again replaces the stored one (the same info dict: the infohash is its hash; the
    announce list may differ, which is how trackers are changed). A magnet given again replaces the stored
    magnet; when the swarm also has stored .torrent bytes, those stay the nodes' source (their trackers).
    Nodes read the source when they lease the swarm.

    Returns:
        :data:`ADDED` (new), :data:`UPDATED`, or :data:`TORRENT_KEPT` (a magnet given for a swarm whose
        stored .torrent stays in use).
    """
    values = {
        "infohash": swarm.infohash.lower(),
        "name": swarm.name,
        "metainfo": swarm.metainfo,
        "magnet": swarm.magnet,
        "work": swarm.work,
        "vantages": swarm.vantages,
        "keep": keep_vantages,
    }
    if swarm.metainfo is not None:
        source = "metainfo = :metainfo, name = :name"
    else:  # the name follows the source in use
        source = "magnet = :magnet, name = CASE WHEN metainfo IS NULL THEN :name ELSE name END"
    updated = conn.execute(
        sa.text(
            "UPDATE fleet_swarm SET work = coalesce(:work, work),"
            f" vantages = CASE WHEN :keep THEN vantages ELSE :vantages END, {source}"
            " WHERE infohash = :infohash RETURNING metainfo IS NOT NULL"
        ),
        values,
    ).scalar()
    if updated is not None:
        return TORRENT_KEPT if updated and swarm.metainfo is None else UPDATED
    conn.execute(
        sa.text(
            "INSERT INTO fleet_swarm (infohash, name, metainfo, magnet, work, vantages, added_us)"
            f" VALUES (:infohash, :name, :metainfo, :magnet, :work, :vantages, {NOW_US})"
        ),
        values,
    )
    return ADDED


def remove_swarm(conn: sa.Connection, infohash: str) -> bool:
    """Stop watching a swarm (its leases go with it; its evidence stays). True when it was registered."""
    query = sa.text("DELETE FROM fleet_swarm WHERE infohash = :infohash")
    return bool(conn.execute(query, {"infohash": infohash.lower()}).rowcount)


def fleet_swarms(conn: sa.Connection, infohashes: list[str]) -> list[FleetSwarm]:
    """The registered swarms among ``infohashes`` (a removed one is absent), by infohash."""
    rows = conn.execute(
        sa.text(
            "SELECT infohash, name, metainfo, magnet, work, vantages FROM fleet_swarm"
            " WHERE infohash = ANY(:hashes) ORDER BY infohash"
        ),
        {"hashes": sorted(infohashes)},
    ).all()
    return [FleetSwarm(r.infohash, r.name, r.metainfo, r.magnet, r.work, int(r.vantages)) for r in rows]


def node_addresses(conn: sa.Connection) -> set[str]:
    """The source addresses of every registered node (a node is never evidence of a peer)."""
    query = sa.text("SELECT DISTINCT source_ip FROM fleet_node WHERE source_ip IS NOT NULL")
    return set(conn.execute(query).scalars())
