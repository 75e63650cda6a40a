"""The live overview of every swarm and its size over time, from the folded read models (:mod:`.fold`).

Pure reads: nothing here folds (``serve``'s background folder does); a batch sealed but not folded yet is
not in these numbers (:func:`~swarmscope.store.console.fold.unfolded_batches` counts them).

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

from swarmscope.store.console.schema import (
    MINUTE_US,
    SOURCE_BITS,
    TIER_NAMES,
    console_client,
    console_minute,
    console_swarm,
)
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
    """Every visible swarm's live numbers, in the order the swarms were added, as far as the read models
    are folded (a pure read: :func:`swarmscope.store.console.fold.unfolded_batches` says how far behind).

    Reads one ``console_swarm`` row per swarm and its top ``console_client`` rows (kept by the fold),
    and the rows outside every sealed batch by index ranges: no pass over a swarm's peers.
    """
    with store.engine.connect() as conn:
        found = conn.execute(_only(sa.select(swarm.c.infohash, swarm.c.name), swarm.c.infohash, swarms)
                             .order_by(swarm.c.id))  # fmt: skip
        out = {r.infohash: SwarmOverview(r.infohash, r.name) for r in found}
        if not out:
            return []
        _totals(conn, out)
        _clients(conn, out)
        _last_minute(conn, out)
        _not_evidence(conn, out)
    return list(out.values())


def _totals(conn: sa.Connection, out: dict[str, SwarmOverview]) -> None:
    for view in out.values():
        view.tiers = dict.fromkeys(TIER_NAMES, 0)
    for r in conn.execute(_only(sa.select(console_swarm), console_swarm.c.infohash, out)):
        view = out[r.infohash]
        view.tiers = {name: int(getattr(r, f"tier_{name}")) for name in TIER_NAMES}
        view.sources = {n: int(getattr(r, f"source_{n}")) for n in SOURCE_BITS if getattr(r, f"source_{n}")}
        view.peers, view.bytes_received = int(r.peers), int(r.bytes_received)
        view.hash_failures = int(r.hash_failure_peers)
        view.last_seen_us = None if r.last_seen_us is None else int(r.last_seen_us)


def _clients(conn: sa.Connection, out: dict[str, SwarmOverview]) -> None:
    c = console_client.c
    for infohash, view in out.items():
        query = sa.select(c.client, c.peers).where(c.infohash == infohash, c.peers > 0)
        top = conn.execute(query.order_by(c.peers.desc(), c.client).limit(TOP_CLIENTS))
        view.clients = [(str(client), int(n)) for client, n in top]


def _last_minute(conn: sa.Connection, out: dict[str, SwarmOverview]) -> None:
    """Verified peers of each swarm's latest minute that is over (the one before its newest minute)."""
    m = console_minute.c
    for infohash, view in out.items():
        newest = conn.execute(sa.select(sa.func.max(m.minute_us)).where(m.infohash == infohash)).scalar()
        if newest is not None:
            query = sa.select(m.verified_peers).where(
                m.infohash == infohash, m.minute_us == newest - MINUTE_US
            )
            view.verified_last_minute = int(conn.execute(query).scalar() or 0)


def _not_evidence(conn: sa.Connection, out: dict[str, SwarmOverview]) -> None:
    """Rows with no ledger entry, or one past their node's last sealed index: what crash recovery
    quarantines, or has not looked at yet. One index range read on ``(ledger_node, ledger_index)`` per
    condition, no filter on the swarm in SQL (which could make the database walk a swarm's rows)."""
    b = ledger_batch.c
    newest = sa.select(b.node_id, sa.func.max(b.last_index)).group_by(b.node_id)
    heads = {int(node): int(head) for node, head in conn.execute(newest)}
    for table in (observation, sighting):
        c = table.c
        outside = [c.ledger_node.is_(None), *(
            sa.and_(c.ledger_node == node, c.ledger_index > head) for node, head in heads.items()
        )]  # fmt: skip
        for condition in outside:
            query = sa.select(c.infohash, sa.func.count()).where(condition).group_by(c.infohash)
            for infohash, n in conn.execute(query):
                if infohash in out:
                    out[infohash].not_evidence += int(n)


def swarm_series(store: Store, infohash: str, *, since_us: int | None = None) -> list[MinutePoint]:
    """The swarm's size per UTC minute (oldest first), optionally from ``since_us`` (UTC µs) on (folded
    batches only)."""
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
