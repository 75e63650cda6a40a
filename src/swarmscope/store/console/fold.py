"""Folding sealed batches into the console's read models (:mod:`swarmscope.store.console.schema`).

:func:`catch_up` takes every ``ledger_batch`` not yet in ``console_batch``, reads the observations,
sightings and attributions whose ``(ledger_node, ledger_index)`` lie in its index range (so only rows in
SEALED batches, ledger state as in :mod:`swarmscope.store.ledger.seal_state`, are counted: unsealed and
quarantined rows are never in a batch range) and adds them to ``console_peer``, ``console_place``,
``console_minute`` and the per-swarm totals (:mod:`.swarm_totals`) in one transaction. Whoever reads
first folds (the web console before it answers); the transaction takes the write lock first (SQLite
``BEGIN IMMEDIATE``, a PostgreSQL transaction advisory lock), so two folders never count one batch twice.

A peer counts in a minute's ``peers`` (``verified_peers``) once per minute of its observations' start,
as folded in time order: an observation folded after a later one of the same peer may count that peer in
its earlier minute a second time (batches are sealed in time order, so this needs a probe that outlived
a whole batch).

Cost: one pass over the new rows (the fold of 1,000,000 observations takes tens of seconds once; a live
monitor's batches take milliseconds each).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.evidence.records import Failure, Tier
from swarmscope.store.console.schema import (
    MINUTE_US,
    SOURCE_BITS,
    console_batch,
    console_minute,
    console_peer,
    console_place,
)
from swarmscope.store.console.swarm_totals import write_totals
from swarmscope.store.ledger.schema import attribution, ledger_batch, observation, sighting

if TYPE_CHECKING:
    from swarmscope.store.database import Store

BATCHES_PER_TRANSACTION = 200
_LOCK_KEY = 0x5357_434F  # PostgreSQL advisory lock key of the fold ("SWCO")
_PEER_COLUMNS = (
    "tier",
    "sources",
    "first_seen_us",
    "last_seen_us",
    "observations",
    "bytes_received",
    "hash_failures",
    "client",
    "client_at_us",
    "encrypted",
    "minute_us",
    "verified_minute_us",
)
PeerKey = tuple[str, str, int]


@dataclass(slots=True)
class _Peer:
    """One ``console_peer`` row being folded (``id`` None: not stored yet; ``before``: its stored values)."""

    id: int | None
    values: dict[str, Any]
    before: dict[str, Any] | None = None


def catch_up(store: Store, *, max_batches: int | None = None) -> int:
    """Fold every sealed batch not folded yet; returns how many batches were folded.

    Args:
        store: an open store (any; the fold writes only the console tables).
        max_batches: stop after this many (None: all), for callers that must answer quickly.
    """
    done = 0
    while max_batches is None or done < max_batches:
        limit = (
            BATCHES_PER_TRANSACTION
            if max_batches is None
            else min(BATCHES_PER_TRANSACTION, max_batches - done)
        )
        folded = _fold_some(store, limit)
        done += folded
        if folded < limit:
            break
    return done


def _fold_some(store: Store, limit: int) -> int:
    with store.engine.connect() as conn:
        pending = _pending(conn, 1)  # read without the lock first: nothing to do is the common case
        if not pending:
            return 0
    with store.engine.connect().execution_options(swarmscope_immediate=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        batches = _pending(conn, limit)
        if batches:
            _Fold(conn).run(batches)
        return len(batches)


def _pending(conn: sa.Connection, limit: int) -> list[Any]:
    b = ledger_batch.c
    folded = sa.select(console_batch.c.batch_id).where(console_batch.c.batch_id == b.id)
    query = sa.select(b.id, b.node_id, b.first_index, b.last_index).where(~sa.exists(folded))
    return list(conn.execute(query.order_by(b.id).limit(limit)))


def _in_batch(table: sa.Table, batch: Any) -> Any:
    c = table.c
    return sa.and_(
        c.ledger_node == batch.node_id,
        c.ledger_index >= batch.first_index,
        c.ledger_index <= batch.last_index,
    )


class _Fold:
    """One transaction's fold: rows of the given batches added to the console tables."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.events: list[tuple[int, int, PeerKey, dict[str, Any]]] = []  # (time, kind, peer, row)
        self.places: dict[str, Any] = {}
        self.peers: dict[PeerKey, _Peer] = {}
        self.minutes: dict[tuple[str, int], dict[str, int]] = {}

    def run(self, batches: list[Any]) -> None:
        for batch in batches:
            self._read(batch)
        self.events.sort(key=lambda e: (e[0], e[1]))
        self._load_peers()
        for at_us, kind, key, row in self.events:
            if kind == 1:
                self._observed(key, at_us, row)
            else:
                self._sighted(key, at_us, row)
        self._write(batches)

    def _read(self, batch: Any) -> None:
        """The batch's observations and sightings as events, its attributions as places."""
        o, s, a = observation.c, sighting.c, attribution.c
        obs_cols = (o.infohash, o.ip, o.port, o.source, o.started_us, o.tier, o.failure, o.failed_pieces,
                    o.client, o.client_version, o.bytes_received, o.encrypted)  # fmt: skip
        for r in self.conn.execute(sa.select(*obs_cols).where(_in_batch(observation, batch))):
            self.events.append((int(r.started_us), 1, (r.infohash, r.ip, int(r.port)), r._asdict()))
        sighting_cols = (s.infohash, s.ip, s.port, s.source, s.seen_at_us)
        for seen in self.conn.execute(sa.select(*sighting_cols).where(_in_batch(sighting, batch))):
            self.events.append(
                (int(seen.seen_at_us), 0, (seen.infohash, seen.ip, int(seen.port)), seen._asdict())
            )
        place_cols = (a.ip, a.observed_at_us, a.country, a.isp, a.asn)
        for place in self.conn.execute(sa.select(*place_cols).where(_in_batch(attribution, batch))):
            if place.ip not in self.places or self.places[place.ip].observed_at_us <= place.observed_at_us:
                self.places[place.ip] = place

    def _load_peers(self) -> None:
        keys = {key for _, _, key, _ in self.events}
        by_swarm: dict[str, list[str]] = {}
        for infohash, ip, _port in keys:
            by_swarm.setdefault(infohash, []).append(ip)
        p = console_peer.c
        for infohash, ips in by_swarm.items():
            for start in range(0, len(ips), 500):
                chunk = sorted(set(ips[start : start + 500]))
                query = sa.select(console_peer).where(p.infohash == infohash, p.ip.in_(chunk))
                for r in self.conn.execute(query):
                    key = (r.infohash, r.ip, int(r.port))
                    if key in keys:
                        stored = {c: getattr(r, c) for c in _PEER_COLUMNS}
                        self.peers[key] = _Peer(int(r.id), stored, dict(stored))

    def _peer(self, key: PeerKey, at_us: int) -> dict[str, Any]:
        if key not in self.peers:
            fresh = dict.fromkeys(_PEER_COLUMNS)
            fresh.update(
                tier=int(Tier.LISTED),
                sources=0,
                first_seen_us=at_us,
                last_seen_us=at_us,
                observations=0,
                bytes_received=0,
                hash_failures=0,
                encrypted=False,
            )
            self.peers[key] = _Peer(None, fresh)
        values = self.peers[key].values
        values["first_seen_us"] = min(values["first_seen_us"], at_us)
        values["last_seen_us"] = max(values["last_seen_us"], at_us)
        return values

    def _sighted(self, key: PeerKey, at_us: int, row: dict[str, Any]) -> None:
        values = self._peer(key, at_us)
        values["sources"] |= SOURCE_BITS.get(row["source"], SOURCE_BITS["other"])

    def _observed(self, key: PeerKey, at_us: int, row: dict[str, Any]) -> None:
        values = self._peer(key, at_us)
        tier = int(Tier.from_label(row["tier"]))
        failed = bool(row["failed_pieces"]) or row["failure"] == Failure.HASH_MISMATCH.value
        values["tier"] = max(values["tier"], tier)
        values["sources"] |= SOURCE_BITS.get(row["source"], SOURCE_BITS["other"])
        values["observations"] += 1
        values["bytes_received"] += int(row["bytes_received"] or 0)
        values["hash_failures"] += int(failed)
        values["encrypted"] = bool(values["encrypted"] or row["encrypted"])
        if row["client"] and (values["client_at_us"] is None or at_us >= values["client_at_us"]):
            values["client"] = f"{row['client']} {row['client_version'] or ''}".strip()
            values["client_at_us"] = at_us
        minute = at_us // MINUTE_US * MINUTE_US
        cell = self.minutes.setdefault((key[0], minute), dict.fromkeys(_MINUTE_COUNTS, 0))
        cell["observations"] += 1
        cell["bytes_received"] += int(row["bytes_received"] or 0)
        cell["hash_failures"] += int(failed)
        if values["minute_us"] != minute:
            values["minute_us"] = minute
            cell["peers"] += 1
        if tier == Tier.VERIFIED and values["verified_minute_us"] != minute:
            values["verified_minute_us"] = minute
            cell["verified_peers"] += 1

    def _write(self, batches: list[Any]) -> None:
        conn, p = self.conn, console_peer.c
        new = [
            dict(infohash=k[0], ip=k[1], port=k[2], **v.values) for k, v in self.peers.items() if v.id is None
        ]
        old = [dict(pid=v.id, **v.values) for v in self.peers.values() if v.id is not None]
        if new:
            conn.execute(console_peer.insert(), new)
        if old:
            update = console_peer.update().where(p.id == sa.bindparam("pid"))
            conn.execute(update.values({c: sa.bindparam(c) for c in _PEER_COLUMNS}), old)
        write_totals(conn, [(key[0], peer.before, peer.values) for key, peer in self.peers.items()])
        self._write_minutes()
        self._write_places()
        conn.execute(console_batch.insert(), [{"batch_id": int(b.id)} for b in batches])

    def _write_minutes(self) -> None:
        if not self.minutes:
            return
        m = console_minute.c
        stored: dict[tuple[str, int], Any] = {}
        for infohash in {k[0] for k in self.minutes}:
            wanted = [minute for ih, minute in self.minutes if ih == infohash]
            query = sa.select(console_minute).where(m.infohash == infohash, m.minute_us.in_(wanted))
            stored.update({(r.infohash, int(r.minute_us)): r for r in self.conn.execute(query)})
        inserts, updates = [], []
        for (infohash, minute), cell in self.minutes.items():
            before = stored.get((infohash, minute))
            if before is None:
                inserts.append(dict(infohash=infohash, minute_us=minute, **cell))
            else:
                total = {name: int(getattr(before, name)) + n for name, n in cell.items()}
                updates.append(dict(ih=infohash, mu=minute, **total))
        if inserts:
            self.conn.execute(console_minute.insert(), inserts)
        if updates:
            where = sa.and_(m.infohash == sa.bindparam("ih"), m.minute_us == sa.bindparam("mu"))
            counts: dict[str, Any] = {name: sa.bindparam(name) for name in _MINUTE_COUNTS}
            self.conn.execute(console_minute.update().where(where).values(counts), updates)

    def _write_places(self) -> None:
        if not self.places:
            return
        c = console_place.c
        ips = list(self.places)
        stored: dict[str, int] = {}
        for start in range(0, len(ips), 500):
            query = sa.select(c.ip, c.observed_at_us).where(c.ip.in_(ips[start : start + 500]))
            stored.update({r.ip: int(r.observed_at_us) for r in self.conn.execute(query)})
        for ip, r in self.places.items():
            values = {"observed_at_us": r.observed_at_us, "country": r.country, "isp": r.isp, "asn": r.asn}
            if ip not in stored:
                self.conn.execute(console_place.insert().values(ip=ip, **values))
            elif stored[ip] <= r.observed_at_us:
                self.conn.execute(console_place.update().where(c.ip == ip).values(**values))


_MINUTE_COUNTS = ("peers", "verified_peers", "observations", "bytes_received", "hash_failures")
