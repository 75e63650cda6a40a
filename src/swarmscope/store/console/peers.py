"""A swarm's peers, filtered, sorted and paginated by keyset (``console_peer``, :mod:`.fold`).

Keyset pagination: a page ends with a cursor ``"<sort value>:<row id>"``; the next page is the rows after
that pair in the sort order, read from the ``(infohash, <sort column>, id)`` index. Page 100 costs what
page 1 costs (an OFFSET would read and drop every row before it). Filters: tier (label), discovery source
(:data:`~swarmscope.store.console.schema.SOURCE_BITS` name), client string, ISP and country (the latest
sealed attribution of the address, ``console_place``), all exact matches.

Bad input (an unknown tier, source or sort key, a malformed cursor) raises :class:`InputError` with one
line naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.errors import InputError
from swarmscope.evidence.records import Tier
from swarmscope.store.console.schema import SOURCE_BITS, console_peer, console_place

if TYPE_CHECKING:
    from swarmscope.store.database import Store

SORTS = {  # sort key → column; every one has an (infohash, column, id) index
    "last_seen": "last_seen_us",
    "first_seen": "first_seen_us",
    "bytes": "bytes_received",
    "observations": "observations",
    "tier": "tier",
}
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class PeerFilter:
    """What to list: exact matches; None = any. ``sort``: a :data:`SORTS` key; ``descending`` order."""

    tier: str | None = None
    source: str | None = None
    client: str | None = None
    isp: str | None = None
    country: str | None = None
    sort: str = "last_seen"
    descending: bool = True


@dataclass(frozen=True, slots=True)
class PeerRow:
    """One peer address of a swarm (sealed rows only): best tier label, sources, times UTC µs, counts."""

    id: int
    infohash: str
    ip: str
    port: int
    tier: str
    sources: tuple[str, ...]
    first_seen_us: int
    last_seen_us: int
    observations: int
    bytes_received: int
    hash_failures: int
    client: str | None
    encrypted: bool
    country: str | None
    isp: str | None


@dataclass(frozen=True, slots=True)
class PeerPage:
    """A page of peers and the cursor of the next one (None on the last page)."""

    peers: list[PeerRow]
    next_cursor: str | None


def _check(f: PeerFilter, limit: int) -> None:
    if f.sort not in SORTS:
        raise InputError(f"sort {f.sort!r}: not one of {', '.join(SORTS)}")
    if f.tier is not None and f.tier not in {t.label for t in Tier}:
        raise InputError(f"tier {f.tier!r}: not one of {', '.join(t.label for t in Tier)}")
    if f.source is not None and f.source not in SOURCE_BITS:
        raise InputError(f"source {f.source!r}: not one of {', '.join(SOURCE_BITS)}")
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit {limit}: must be 1..{MAX_PAGE}")


def _cursor(text: str) -> tuple[int, int]:
    """``"<sort value>:<row id>"``, each a signed 64-bit integer (the columns' range).

    Raises:
        InputError: anything else.
    """
    value, sep, row_id = text.partition(":")
    try:
        if not sep:
            raise ValueError
        pair = int(value), int(row_id)
        if not all(-(2**63) <= v < 2**63 for v in pair):
            raise ValueError
        return pair
    except ValueError:
        raise InputError(f"cursor {text[:40]!r}: not a page cursor") from None


def _where(query: sa.Select[Any], f: PeerFilter) -> sa.Select[Any]:
    p, place = console_peer.c, console_place.c
    if f.tier is not None:
        query = query.where(p.tier == int(Tier.from_label(f.tier)))
    if f.source is not None:
        query = query.where(p.sources.op("&")(SOURCE_BITS[f.source]) != 0)
    if f.client is not None:
        query = query.where(p.client == f.client)
    if f.isp is not None:
        query = query.where(place.isp == f.isp)
    if f.country is not None:
        query = query.where(place.country == f.country.upper())
    return query


def peer_page(
    store: Store, infohash: str, f: PeerFilter = PeerFilter(), *, cursor: str | None = None, limit: int = 50
) -> PeerPage:
    """One page of the swarm's peers, as far as the read models are folded (a pure read).

    Raises:
        InputError: an unknown tier, source or sort key, a limit outside 1..500, a malformed cursor.
    """
    _check(f, limit)
    p, place = console_peer.c, console_place.c
    column = p[SORTS[f.sort]]
    query = sa.select(console_peer, place.country, place.isp).select_from(
        console_peer.outerjoin(console_place, place.ip == p.ip)
    )
    query = _where(query.where(p.infohash == infohash), f)
    if cursor is not None:
        after = sa.tuple_(column, p.id)
        key = sa.tuple_(*(sa.literal(v) for v in _cursor(cursor)))
        query = query.where(after < key if f.descending else after > key)
    order = (column.desc(), p.id.desc()) if f.descending else (column.asc(), p.id.asc())
    with store.engine.connect() as conn:
        rows = list(conn.execute(query.order_by(*order).limit(limit + 1)))
    peers = [_row(r) for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return PeerPage(peers, None if last is None else f"{int(getattr(last, SORTS[f.sort]))}:{int(last.id)}")


def _row(r: Any) -> PeerRow:
    return PeerRow(
        id=int(r.id),
        infohash=r.infohash,
        ip=r.ip,
        port=int(r.port),
        tier=Tier(int(r.tier)).label,
        sources=tuple(name for name, bit in SOURCE_BITS.items() if int(r.sources) & bit),
        first_seen_us=int(r.first_seen_us),
        last_seen_us=int(r.last_seen_us),
        observations=int(r.observations),
        bytes_received=int(r.bytes_received),
        hash_failures=int(r.hash_failures),
        client=r.client,
        encrypted=bool(r.encrypted),
        country=r.country,
        isp=r.isp,
    )


def peer_row(store: Store, infohash: str, ip: str, port: int) -> PeerRow | None:
    """The one peer address of a swarm, or None when no folded sealed row names it."""
    p, place = console_peer.c, console_place.c
    query = sa.select(console_peer, place.country, place.isp).select_from(
        console_peer.outerjoin(console_place, place.ip == p.ip)
    )
    with store.engine.connect() as conn:
        found = conn.execute(query.where(p.infohash == infohash, p.ip == ip, p.port == port)).first()
    return None if found is None else _row(found)
