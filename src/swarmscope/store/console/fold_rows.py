"""One fold transaction's work: the rows of some sealed batches added to the console tables (:mod:`.fold`).

The batches' observations and sightings are read as events and applied in time order to their peers'
``console_peer`` values (read once per transaction, 500 addresses a query); then every changed table is
written in bulk (one executemany per statement). The hot statements (range reads, peer look-ups, peer
inserts and updates) are compiled once per dialect and run on the DBAPI cursor (:class:`_Raw`): the
per-row cost of SQLAlchemy's result and parameter processing was most of the fold's time. The cost then
follows the rows and the distinct peers a transaction touches (a ``console_peer`` read and a write with
its five sort indexes per peer): about 28,000 rows per CPU second on SQLite with one peer per row.

A peer counts in a minute's ``peers`` (``verified_peers``) once, exactly: ``console_peer.minute_us`` is
the latest minute it counted in; an observation of a later minute counts, one of that minute does not,
and one of an EARLIER minute (folded after a later one: a probe that outlived a whole batch) counts only
when no observation of that peer in that minute was folded before, which is read from the ledger for
that one peer and minute (:func:`_folded_in_minute`; rare, so its cost does not matter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

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

PEER_COLUMNS = (
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
MINUTE_COUNTS = ("peers", "verified_peers", "observations", "bytes_received", "hash_failures")
PeerKey = tuple[str, str, int]
_OTHER = SOURCE_BITS["other"]
_VERIFIED = int(Tier.VERIFIED)
_TIERS = {t.label: int(t) for t in Tier}
_HASH_MISMATCH = Failure.HASH_MISMATCH.value


def _range_query(table: sa.Table, *columns: sa.ColumnElement[Any]) -> sa.Select[Any]:
    c = table.c
    return sa.select(*columns).where(
        c.ledger_node == sa.bindparam("node"),
        c.ledger_index >= sa.bindparam("first"),
        c.ledger_index <= sa.bindparam("last"),
    )


class _Raw:
    """A statement compiled once per dialect and run on the DBAPI cursor of the fold's connection (same
    transaction): no per-row result or parameter processing by SQLAlchemy, which was most of the fold's
    time. Fit for the fold's values only (integers, text, booleans; JSON read as text)."""

    def __init__(self, statement: sa.ClauseElement) -> None:
        self.statement = statement
        self._sql: dict[str, tuple[str, tuple[str, ...] | None]] = {}

    def _compiled(self, conn: sa.Connection) -> tuple[str, tuple[str, ...] | None]:
        name = conn.dialect.name
        if name not in self._sql:
            compiled = self.statement.compile(dialect=conn.dialect)
            assert isinstance(compiled, SQLCompiler)
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            self._sql[name] = (str(compiled), order)
        return self._sql[name]

    @staticmethod
    def _params(order: tuple[str, ...] | None, values: dict[str, Any]) -> Any:
        return values if order is None else tuple(values[k] for k in order)

    def rows(self, conn: sa.Connection, values: dict[str, Any]) -> list[Any]:
        """The rows (tuples) of a query."""
        sql, order = self._compiled(conn)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql, self._params(order, values))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def many(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        """Run a write once per parameter set (executemany)."""
        if not rows:
            return
        sql, order = self._compiled(conn)
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(sql, [self._params(order, r) for r in rows])
        finally:
            cursor.close()


_o, _s, _a, _p, _m, _pl = (
    observation.c,
    sighting.c,
    attribution.c,
    console_peer.c,
    console_minute.c,
    console_place.c,
)
_OBSERVATION_COLUMNS = (_o.started_us, _o.infohash, _o.ip, _o.port, _o.source, _o.tier, _o.failure,
                        sa.cast(_o.failed_pieces, sa.Text), _o.client, _o.client_version, _o.bytes_received,
                        _o.encrypted, sa.cast(_o.failed_blocks, sa.Text))  # fmt: skip
_OBSERVATIONS = _Raw(_range_query(observation, *_OBSERVATION_COLUMNS))
_SIGHTINGS = _Raw(_range_query(sighting, _s.seen_at_us, _s.infohash, _s.ip, _s.port, _s.source))
_PLACES = _Raw(_range_query(attribution, _a.ip, _a.observed_at_us, _a.country, _a.isp, _a.asn))
_CHUNK = 500  # addresses per peer look-up
_PEERS = _Raw(
    sa.select(_p.id, _p.ip, _p.port, *(_p[c] for c in PEER_COLUMNS)).where(
        _p.infohash == sa.bindparam("ih"), _p.ip.in_([sa.bindparam(f"ip{i}") for i in range(_CHUNK)])
    )
)
_PEER_INSERT = _Raw(
    console_peer.insert().values({c: sa.bindparam(c) for c in ("infohash", "ip", "port", *PEER_COLUMNS)})
)
_PEER_UPDATE = _Raw(
    console_peer.update()
    .where(_p.id == sa.bindparam("pid"))
    .values({c: sa.bindparam(c) for c in PEER_COLUMNS})
)
_MINUTE_UPDATE = (
    console_minute.update()
    .where(_m.infohash == sa.bindparam("ih"), _m.minute_us == sa.bindparam("mu"))
    .values({name: sa.bindparam(name) for name in MINUTE_COUNTS})
)
_PLACE_UPDATE = (
    console_place.update()
    .where(_pl.ip == sa.bindparam("pip"))
    .values({n: sa.bindparam(n) for n in ("observed_at_us", "country", "isp", "asn")})
)


def _ranges(batches: list[Any]) -> list[dict[str, int]]:
    """The batches' ledger index ranges, consecutive batches of one node merged into one range."""
    out: list[dict[str, int]] = []
    for b in sorted(batches, key=lambda b: (int(b.node_id), int(b.first_index))):
        node, first, last = int(b.node_id), int(b.first_index), int(b.last_index)
        if out and out[-1]["node"] == node and out[-1]["last"] + 1 == first:
            out[-1]["last"] = last
        else:
            out.append({"node": node, "first": first, "last": last})
    return out


@dataclass(slots=True)
class _Peer:
    """One ``console_peer`` row being folded (``id`` None: not stored yet; ``before``: its stored values)."""

    id: int | None
    values: dict[str, Any]
    before: dict[str, Any] | None = None


class Fold:
    """One transaction's fold: rows of the given batches added to the console tables."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.events: list[tuple[Any, ...]] = []  # observation and sighting rows, time first
        self.places: dict[str, Any] = {}
        self.peers: dict[PeerKey, _Peer] = {}
        self.minutes: dict[tuple[str, int], list[int]] = {}  # counts in MINUTE_COUNTS order
        self.counted: set[tuple[PeerKey, int, bool]] = set()  # (peer, minute, verified) counted here

    def run(self, batches: list[Any]) -> None:
        """Fold ``batches`` (``ledger_batch`` rows: id, node_id, first_index, last_index)."""
        for bounds in _ranges(batches):
            self._read(bounds)
        self.events.sort(key=lambda e: e[0])  # stable: a sighting before an observation of the same µs
        self._load_peers()
        for event in self.events:
            if len(event) == 5:
                self._sighted(event)
            else:
                self._observed(event)
        self._write(batches)

    def _read(self, bounds: dict[str, int]) -> None:
        """One index range's sightings and observations as events, its attributions as places."""
        self.events.extend(_SIGHTINGS.rows(self.conn, bounds))
        self.events.extend(_OBSERVATIONS.rows(self.conn, bounds))
        for place in _PLACES.rows(self.conn, bounds):  # ip, observed_at_us, country, isp, asn
            known = self.places.get(place[0])
            if known is None or known[1] <= place[1]:
                self.places[place[0]] = place

    def _load_peers(self) -> None:
        keys = {(e[1], e[2], int(e[3])) for e in self.events}
        by_swarm: dict[str, set[str]] = {}
        for infohash, ip, _port in keys:
            by_swarm.setdefault(infohash, set()).add(ip)
        for infohash, ip_set in by_swarm.items():
            ips = sorted(ip_set)
            for start in range(0, len(ips), _CHUNK):
                chunk = ips[start : start + _CHUNK]
                values = {f"ip{i}": chunk[min(i, len(chunk) - 1)] for i in range(_CHUNK)}  # the last repeated
                for r in _PEERS.rows(self.conn, {"ih": infohash, **values}):
                    key = (infohash, r[1], int(r[2]))
                    if key in keys:
                        stored = dict(zip(PEER_COLUMNS, r[3:], strict=True))
                        self.peers[key] = _Peer(int(r[0]), stored, dict(stored))

    def _peer(self, key: PeerKey, at_us: int) -> dict[str, Any]:
        peer = self.peers.get(key)
        if peer is None:
            fresh = dict.fromkeys(PEER_COLUMNS)
            fresh.update(tier=int(Tier.LISTED), sources=0, first_seen_us=at_us, last_seen_us=at_us,
                         observations=0, bytes_received=0, hash_failures=0, encrypted=False)  # fmt: skip
            peer = self.peers[key] = _Peer(None, fresh)
        values = peer.values
        if at_us < values["first_seen_us"]:
            values["first_seen_us"] = at_us
        if at_us > values["last_seen_us"]:
            values["last_seen_us"] = at_us
        return values

    def _sighted(self, event: tuple[Any, ...]) -> None:
        at_us, infohash, ip, port, source = event
        values = self._peer((infohash, ip, int(port)), int(at_us))
        values["sources"] |= SOURCE_BITS.get(source, _OTHER)

    def _observed(self, event: tuple[Any, ...]) -> None:
        at_us, infohash, ip, port, source, tier_label, failure, failed_pieces, client, version, got, enc = (
            event[:12]
        )
        at_us, key, got = int(at_us), (infohash, ip, int(port)), int(got or 0)
        values = self._peer(key, at_us)
        tier = _TIERS[tier_label]
        # a v2/hybrid peer may fail a block and still verify (failure cleared): a hash failure all the same
        failed = int(failure == _HASH_MISMATCH or _any_piece(failed_pieces) or _any_piece(event[12]))
        if tier > values["tier"]:
            values["tier"] = tier
        values["sources"] |= SOURCE_BITS.get(source, _OTHER)
        values["observations"] += 1
        values["bytes_received"] += got
        values["hash_failures"] += failed
        values["encrypted"] = bool(values["encrypted"] or enc)
        if client and (values["client_at_us"] is None or at_us >= values["client_at_us"]):
            values["client"] = f"{client} {version or ''}".strip()
            values["client_at_us"] = at_us
        minute = at_us - at_us % MINUTE_US
        cell = self.minutes.get((infohash, minute))
        if cell is None:
            cell = self.minutes[(infohash, minute)] = [0, 0, 0, 0, 0]
        cell[2] += 1
        cell[3] += got
        cell[4] += failed
        cell[0] += self._first_in_minute(key, values, minute, False)
        if tier == _VERIFIED:
            cell[1] += self._first_in_minute(key, values, minute, True)

    def _first_in_minute(self, key: PeerKey, values: dict[str, Any], minute: int, verified: bool) -> int:
        """1 when this is the peer's first (verified) observation folded in ``minute``, else 0."""
        column = "verified_minute_us" if verified else "minute_us"
        latest = values[column]
        if latest is None or minute > latest:
            values[column] = minute
            self.counted.add((key, minute, verified))
            return 1
        if minute == latest or (key, minute, verified) in self.counted:
            return 0
        self.counted.add((key, minute, verified))
        return 0 if _folded_in_minute(self.conn, key, minute, verified) else 1

    def _write(self, batches: list[Any]) -> None:
        conn = self.conn
        new = [
            dict(infohash=k[0], ip=k[1], port=k[2], **v.values) for k, v in self.peers.items() if v.id is None
        ]
        old = [dict(pid=v.id, **v.values) for v in self.peers.values() if v.id is not None]
        _PEER_INSERT.many(conn, new)
        _PEER_UPDATE.many(conn, old)
        write_totals(conn, [(key[0], peer.before, peer.values) for key, peer in self.peers.items()])
        self._write_minutes()
        self._write_places()
        conn.execute(console_batch.insert(), [{"batch_id": int(b.id)} for b in batches])

    def _write_minutes(self) -> None:
        stored: dict[tuple[str, int], Any] = {}
        query = sa.select(console_minute).where(
            _m.infohash == sa.bindparam("ih"), _m.minute_us.in_(sa.bindparam("mus", expanding=True))
        )
        for infohash in {k[0] for k in self.minutes}:
            wanted = sorted(minute for ih, minute in self.minutes if ih == infohash)
            for start in range(0, len(wanted), 500):
                found = self.conn.execute(query, {"ih": infohash, "mus": wanted[start : start + 500]})
                stored.update({(r.infohash, int(r.minute_us)): r for r in found})
        inserts, updates = [], []
        for (infohash, minute), cell in self.minutes.items():
            before = stored.get((infohash, minute))
            if before is None:
                inserts.append(
                    dict(infohash=infohash, minute_us=minute, **dict(zip(MINUTE_COUNTS, cell, strict=True)))
                )
            else:
                total = {
                    name: int(getattr(before, name)) + n for name, n in zip(MINUTE_COUNTS, cell, strict=True)
                }
                updates.append(dict(ih=infohash, mu=minute, **total))
        if inserts:
            self.conn.execute(console_minute.insert(), inserts)
        if updates:
            self.conn.execute(_MINUTE_UPDATE, updates)

    def _write_places(self) -> None:
        ips = sorted(self.places)
        stored: dict[str, int] = {}
        query = sa.select(_pl.ip, _pl.observed_at_us).where(_pl.ip.in_(sa.bindparam("ips", expanding=True)))
        for start in range(0, len(ips), 500):
            stored.update((r[0], r[1]) for r in self.conn.execute(query, {"ips": ips[start : start + 500]}))
        inserts, updates = [], []
        for ip, r in self.places.items():
            values = {"observed_at_us": r[1], "country": r[2], "isp": r[3], "asn": r[4]}
            if ip not in stored:
                inserts.append({"ip": ip, **values})
            elif int(stored[ip]) <= r[1]:
                updates.append({"pip": ip, **values})
        if inserts:
            self.conn.execute(console_place.insert(), inserts)
        if updates:
            self.conn.execute(_PLACE_UPDATE, updates)


def _any_piece(json_text: str | None) -> bool:
    """Whether a ``failed_pieces`` / ``failed_blocks`` JSON list (read as text: no JSON decoding per row)
    names one."""
    return json_text is not None and json_text.replace(" ", "") not in ("", "[]", "null")


def _folded_in_minute(conn: sa.Connection, key: PeerKey, minute: int, verified: bool) -> bool:
    """Whether an earlier transaction folded an observation of the peer ``key`` started in ``minute`` (UTC
    µs, a multiple of :data:`MINUTE_US`), a verified one when ``verified``: one in a batch already listed
    in ``console_batch`` (this transaction's batches are not listed yet)."""
    b = ledger_batch.c
    covered = sa.and_(_o.ledger_node == b.node_id, _o.ledger_index.between(b.first_index, b.last_index))
    query = (
        sa.select(sa.literal(1))
        .select_from(
            observation.join(ledger_batch, covered).join(console_batch, console_batch.c.batch_id == b.id)
        )
        .where(_o.infohash == key[0], _o.ip == key[1], _o.port == key[2])
        .where(_o.started_us >= minute, _o.started_us < minute + MINUTE_US)
    )
    if verified:
        query = query.where(_o.tier == Tier.VERIFIED.label)
    return conn.execute(query.limit(1)).first() is not None
