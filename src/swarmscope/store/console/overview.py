"""The live overview of every swarm and its size over time, from the folded read models (:mod:`.fold`).

Counts are of rows in SEALED batches (ledger state); rows outside every sealed batch (unsealed, or
quarantined by crash recovery) are counted apart in :attr:`SwarmOverview.not_evidence`, as ``report``
does. ``swarms``: the infohashes the reader may see (a client's user: its works' swarms), filtered in SQL;
None means every swarm.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.evidence.records import Tier
from swarmscope.store.console.fold import catch_up
from swarmscope.store.console.schema import MINUTE_US, SOURCE_BITS, console_minute, console_peer
from swarmscope.store.ledger.schema import ledger_batch, observation, sighting, swarm

if TYPE_CHECKING:
    from swarmscope.store.database import Store

TOP_CLIENTS = 5


@dataclass(slots=True)
class SwarmOverview:
    """One swarm's live numbers.

    ``tiers``: peer addresses by best tier (each address once, at its best tier: listed, connected,
    has_pieces, verified). ``sources``: addresses per discovery source (an address named by two sources
    counts for both). ``verified_last_minute``: peers with a verified observation started in the last
    whole UTC minute with data. ``hash_failures``: addresses with at least one failed hash check.
    ``bytes_received``: payload bytes. ``clients``: the most frequent client strings (latest per
    address) with their address counts. ``not_evidence``: observations and sightings outside every sealed
    batch. ``last_seen_us``: the latest observation or sighting (UTC µs), None when none.
    """

    infohash: str
    name: str
    tiers: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    peers: int = 0
    verified_last_minute: int = 0
    hash_failures: int = 0
    bytes_received: int = 0
    clients: list[tuple[str, int]] = field(default_factory=list)
    not_evidence: int = 0
    last_seen_us: int | None = None


@dataclass(frozen=True, slots=True)
class MinutePoint:
    """Swarm size in one UTC minute (``minute_us``, UTC µs): peers observed, peers verified,
    observations, payload bytes received, hash failures."""

    minute_us: int
    peers: int
    verified_peers: int
    observations: int
    bytes_received: int
    hash_failures: int


def _only(query: sa.Select[Any], column: Any, swarms: Collection[str] | None) -> sa.Select[Any]:
    return query if swarms is None else query.where(column.in_(sorted(swarms)))


def swarm_overview(store: Store, swarms: Collection[str] | None = None) -> list[SwarmOverview]:
    """Every visible swarm's live numbers, in the order the swarms were added (folds new batches first)."""
    catch_up(store)
    p = console_peer.c
    with store.engine.connect() as conn:
        found = conn.execute(
            _only(sa.select(swarm.c.infohash, swarm.c.name), swarm.c.infohash, swarms).order_by(swarm.c.id)
        )
        out = {r.infohash: SwarmOverview(r.infohash, r.name) for r in found}
        if not out:
            return []
        for r in conn.execute(
            _only(sa.select(p.infohash, p.tier, sa.func.count()), p.infohash, out).group_by(
                p.infohash, p.tier
            )
        ):
            out[r.infohash].tiers[Tier(int(r.tier)).label] = int(r[2])
        _totals(conn, out)
        _sources(conn, out)
        _clients(conn, out)
        _last_minute(conn, out)
        _not_evidence(conn, out)
    for view in out.values():
        view.tiers = {t.label: view.tiers.get(t.label, 0) for t in Tier}
    return list(out.values())


def _totals(conn: sa.Connection, out: dict[str, SwarmOverview]) -> None:
    p = console_peer.c
    query = sa.select(
        p.infohash,
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(p.bytes_received), 0),
        sa.func.sum(sa.case((p.hash_failures > 0, 1), else_=0)),
        sa.func.max(p.last_seen_us),
    )
    for r in conn.execute(_only(query, p.infohash, out).group_by(p.infohash)):
        view = out[r[0]]
        view.peers, view.bytes_received, view.hash_failures = int(r[1]), int(r[2]), int(r[3] or 0)
        view.last_seen_us = None if r[4] is None else int(r[4])


def _sources(conn: sa.Connection, out: dict[str, SwarmOverview]) -> None:
    p = console_peer.c
    counts = [sa.func.sum(sa.case((p.sources.op("&")(bit) != 0, 1), else_=0)) for bit in SOURCE_BITS.values()]
    for r in conn.execute(_only(sa.select(p.infohash, *counts), p.infohash, out).group_by(p.infohash)):
        out[r[0]].sources = {name: int(n or 0) for name, n in zip(SOURCE_BITS, r[1:], strict=True) if n}


def _clients(conn: sa.Connection, out: dict[str, SwarmOverview]) -> None:
    p = console_peer.c
    n = sa.func.count().label("n")
    query = _only(sa.select(p.infohash, p.client, n).where(p.client.is_not(None)), p.infohash, out)
    for r in conn.execute(query.group_by(p.infohash, p.client).order_by(p.infohash, n.desc(), p.client)):
        view = out[r.infohash]
        if len(view.clients) < TOP_CLIENTS:
            view.clients.append((str(r.client), int(r.n)))


def _last_minute(conn: sa.Connection, out: dict[str, SwarmOverview]) -> None:
    """Verified peers of each swarm's latest minute that is over (the one before its newest minute)."""
    m = console_minute.c
    newest = _only(sa.select(m.infohash, sa.func.max(m.minute_us)), m.infohash, out).group_by(m.infohash)
    for infohash, minute in list(conn.execute(newest)):
        query = sa.select(m.verified_peers).where(
            m.infohash == infohash, m.minute_us == int(minute) - MINUTE_US
        )
        out[infohash].verified_last_minute = int(conn.execute(query).scalar() or 0)


def _not_evidence(conn: sa.Connection, out: dict[str, SwarmOverview]) -> None:
    """Rows with no ledger entry, or one past their node's last sealed index (index range reads on
    ``(ledger_node, ledger_index)``): what crash recovery quarantines, or has not looked at yet."""
    b = ledger_batch.c
    newest = sa.select(b.node_id, sa.func.max(b.last_index)).group_by(b.node_id)
    heads = {int(node): int(head) for node, head in conn.execute(newest)}
    for table in (observation, sighting):
        c = table.c
        outside = sa.or_(
            c.ledger_node.is_(None),
            *(sa.and_(c.ledger_node == node, c.ledger_index > int(head)) for node, head in heads.items()),
        )
        query = _only(sa.select(c.infohash, sa.func.count()).where(outside), c.infohash, out)
        for infohash, n in conn.execute(query.group_by(c.infohash)):
            out[infohash].not_evidence += int(n)


def swarm_series(store: Store, infohash: str, *, since_us: int | None = None) -> list[MinutePoint]:
    """The swarm's size per UTC minute (oldest first), optionally from ``since_us`` (UTC µs) on."""
    catch_up(store)
    m = console_minute.c
    query = sa.select(console_minute).where(m.infohash == infohash)
    if since_us is not None:
        query = query.where(m.minute_us >= since_us)
    with store.engine.connect() as conn:
        return [
            MinutePoint(
                int(r.minute_us),
                int(r.peers),
                int(r.verified_peers),
                int(r.observations),
                int(r.bytes_received),
                int(r.hash_failures),
            )
            for r in conn.execute(query.order_by(m.minute_us))
        ]
