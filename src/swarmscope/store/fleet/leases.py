"""Leases of fleet swarms: take, renew (the node's heartbeat), release, sweep; all in DATABASE time.

A node holds a swarm while its ``fleet_lease`` row is live (``expires_us`` after ``swarmscope_now_us()``).
Taking draws a new fencing token from ``fleet_lease_token`` (a takeover of an expired lease too), so a
token names one tenure; the batch fences of :mod:`swarmscope.store.fleet.fencing` refuse any other.

Vantages: a node prefers the swarms it adds a distinct vantage (source network) to, and leaves a swarm
whose holders share its vantage to a live node of another one (:func:`take_leases`).

Concurrency (PostgreSQL, READ COMMITTED): takers pick candidate swarms with ``SELECT ... FOR UPDATE OF
fleet_swarm SKIP LOCKED``, so two nodes never wait on, nor double-take, the same swarm in one round; the
``fleet_lease_vantages`` trigger (migration 0011) refuses a lease past the swarm's wanted vantages whatever
the caller does. A takeover UPDATE re-checks expiry on the row it locked, so a holder that renewed in the
meantime keeps its lease.

Every function runs in the caller's transaction (``conn``); the caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from swarmscope.evidence.bundle.vantage import NAT_RANGES
from swarmscope.store.database import StoreError

NOW_US = "swarmscope_now_us()"  # database time, UTC µs (migration 0011)


class NodeReplaced(StoreError):
    """A newer process started under this node's name: this one must take, renew and write nothing more."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"replaced by a newer process under {name}: this process stopped, nothing more taken or written"
        )
        self.name = name


def check_incarnation(conn: sa.Connection, node: str, incarnation: int | None) -> None:
    """Refuse a process of ``node`` whose start (``incarnation``, from the registration) is no longer the
    current one of the name; None: not checked (a caller outside a node process). The row is locked
    ``FOR SHARE`` until the caller's transaction ends, so a restart waits for it or it sees the restart.

    Raises:
        NodeReplaced: another process registered under ``node`` since.
    """
    if incarnation is None:
        return
    query = sa.text("SELECT incarnation FROM fleet_node WHERE name = :me FOR SHARE")
    current = conn.execute(query, {"me": node}).scalar()
    if current != incarnation:
        raise NodeReplaced(node)


@dataclass(frozen=True, slots=True)
class Lease:
    """A live lease. infohash: the swarm (hex). token: its fencing token. expires_us: database time, µs.
    handoff: the rebalancing job asks this node to give it back."""

    infohash: str
    token: int
    expires_us: int
    handoff: bool = False


@dataclass(frozen=True, slots=True)
class ClockReport:
    """A node's clock as its lease round measured it: ``offset_us`` = database time minus the node's clock
    (µs, RFC 4330 offset with the database as server), ``threshold_us`` = the node's clock threshold (µs)."""

    offset_us: int
    threshold_us: int


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def db_now_us(conn: sa.Connection) -> int:
    """The database's clock, UTC microseconds (the fleet's one clock for leases and heartbeats)."""
    return int(conn.execute(sa.text(f"SELECT {NOW_US}")).scalar_one())


def vantage_sql(column: str) -> str:
    """SQL of the vantage of a source address ``column`` (text), as
    :func:`swarmscope.evidence.bundle.vantage.vantage_of_address` names it: the address itself on
    loopback, NULL (no vantage named) for none or one behind NAT (``NAT_RANGES``), else its /24 (IPv4) or
    /48 (IPv6) network as text."""
    ip = f"({column})::inet"
    nat = ", ".join(f"'{net}'" for net in NAT_RANGES)
    return (
        f"(CASE WHEN {column} IS NULL THEN NULL WHEN {ip} <<= '127.0.0.0/8' OR {ip} = '::1' THEN host({ip})"
        f" WHEN {ip} <<= ANY(ARRAY[{nat}]::inet[]) THEN NULL"
        f" ELSE network(set_masklen({ip}, CASE family({ip}) WHEN 4 THEN 24 ELSE 48 END))::text END)"
    )


# each node's vantage once; the live leases with their holder's vantage; the live nodes with room (below
# their share, else their capacity) that name a vantage other than this node's
_VANTAGE_CTES = f"""
WITH me AS (SELECT {vantage_sql("CAST(:ip AS text)")} AS v),
     nodes AS (SELECT n.*, {vantage_sql("n.source_ip")} AS v FROM fleet_node n),
     held AS (SELECT l.infohash, l.node_name, nodes.v
                FROM fleet_lease l JOIN nodes ON nodes.name = l.node_name WHERE l.expires_us > {NOW_US}),
     helpers AS (SELECT o.v FROM nodes o, me
                  WHERE o.name <> :me AND o.stopped_us IS NULL AND o.heartbeat_us > {NOW_US} - :live_us
                    AND o.v IS NOT NULL AND o.v IS DISTINCT FROM me.v
                    AND (SELECT count(*) FROM held h WHERE h.node_name = o.name)
                        < least(o.capacity, coalesce(o.share, o.capacity)))"""
# redundant: this node adds no vantage to the swarm's live holders (its named vantage is theirs already;
# a node that names none adds one only to a swarm nobody holds)
_REDUNDANT = """(CASE WHEN me.v IS NULL THEN EXISTS (SELECT 1 FROM held h WHERE h.infohash = s.infohash)
      ELSE EXISTS (SELECT 1 FROM held h WHERE h.infohash = s.infohash AND h.v = me.v) END)"""
# a helper whose vantage the swarm's holders lack: it, not this node, fills the slot
_HELPED = """EXISTS (SELECT 1 FROM helpers o
                WHERE NOT EXISTS (SELECT 1 FROM held h WHERE h.infohash = s.infohash AND h.v = o.v))"""

_CANDIDATES = sa.text(f"""{_VANTAGE_CTES}
SELECT s.infohash FROM fleet_swarm s, me
 WHERE NOT EXISTS (SELECT 1 FROM fleet_lease l WHERE l.infohash = s.infohash AND l.node_name = :me)
   AND (SELECT count(*) FROM held h WHERE h.infohash = s.infohash) < s.vantages
   AND NOT EXISTS (SELECT 1 FROM held h JOIN fleet_node n ON n.name = h.node_name
                    WHERE h.infohash = s.infohash AND n.source_ip = :ip)
   AND NOT ({_REDUNDANT} AND {_HELPED})
 ORDER BY {_REDUNDANT}, (SELECT count(*) FROM held h WHERE h.infohash = s.infohash), s.added_us, s.infohash
 LIMIT 1
 FOR UPDATE OF s SKIP LOCKED
""")

_TAKEOVER = sa.text(f"""
UPDATE fleet_lease SET node_name = :me, token = nextval('fleet_lease_token'), handoff = false,
       taken_us = {NOW_US}, expires_us = {NOW_US} + :lease_us
 WHERE id = (SELECT id FROM fleet_lease WHERE infohash = :infohash AND expires_us <= {NOW_US}
              ORDER BY expires_us LIMIT 1 FOR UPDATE)
   AND expires_us <= {NOW_US}
RETURNING infohash, token, expires_us
""")

_INSERT = sa.text(f"""
INSERT INTO fleet_lease (infohash, node_name, token, taken_us, expires_us)
VALUES (:infohash, :me, nextval('fleet_lease_token'), {NOW_US}, {NOW_US} + :lease_us)
RETURNING infohash, token, expires_us
""")


def take_leases(
    conn: sa.Connection, node: str, want: int, lease_seconds: float, source_ip: str | None = None
) -> list[Lease]:
    """Lease up to ``want`` swarms this node does not hold yet, least covered first.

    Nothing is taken while the node holds its share (``fleet_node.share``, else its capacity). A swarm
    qualifies while it has fewer live leases than its wanted vantages and no live lease of a node
    with the same source address. Vantages must differ (README "A fleet", Vantages): a swarm to which
    this node adds no vantage (:func:`vantage_sql`: a live holder is of its /24 already, or, for a node
    that names none, without --bind or behind NAT, the swarm has any live holder) is left to another
    live node with room (below its share, else its capacity) whose named vantage the holders lack; with
    no such node it is taken after every swarm this node does add a vantage to (a second watcher, not a
    corroborating one: ``fleet status`` says so). Unbound nodes never count as distinct from each other.
    An expired lease of another node is taken over
    (its row gets this node and a new token: the old holder's writes are fenced from now on); otherwise a
    new lease row is inserted. An expired lease locked by its old holder's batch in flight is waited for
    (the batch's fence holds it ``FOR SHARE`` until it commits or fails).

    Args:
        node: this node's ``fleet_node.name``. want: how many more swarms (<= 0: none).
        lease_seconds: lease length in seconds. source_ip: this node's source address, or None.

    Returns:
        The leases taken, with their new tokens and database expiry times.
    """
    taken: list[Lease] = []
    while len(taken) < want:
        lease = take_one(conn, node, lease_seconds, source_ip)
        if lease is None:
            break
        taken.append(lease)
    return taken


def take_one(
    conn: sa.Connection,
    node: str,
    lease_seconds: float,
    source_ip: str | None,
    incarnation: int | None = None,
) -> Lease | None:
    """Lease the least covered swarm this node may take (see :func:`take_leases`), or None.

    One candidate per statement: under READ COMMITTED each statement sees the leases other takers
    committed since, so concurrent nodes spread over the least covered swarms instead of all ranking them
    on one stale snapshot.

    Raises:
        NodeReplaced: ``incarnation`` is no longer the name's current start (:func:`check_incarnation`).
    """
    check_incarnation(conn, node, incarnation)
    params = {"me": node, "ip": source_ip, "live_us": _us(lease_seconds)}
    if _at_share(conn, node, lease_seconds):
        return None
    for _ in range(8):  # a candidate whose expired lease was renewed meanwhile is passed over
        infohash = conn.execute(_CANDIDATES, params).scalar()
        if infohash is None:
            return None
        values = {"me": node, "infohash": infohash, "lease_us": _us(lease_seconds)}
        row = conn.execute(_TAKEOVER, values).first()
        if row is None and _lease_rows(conn, infohash) < _vantages(conn, infohash):
            row = conn.execute(_INSERT, values).first()
        if row is not None:
            return Lease(row.infohash, int(row.token), int(row.expires_us))
    return None


_AT_SHARE = sa.text(f"""
WITH live AS (SELECT greatest(count(*), 1) AS n FROM fleet_node
               WHERE stopped_us IS NULL AND heartbeat_us > {NOW_US} - :live_us),
     fair AS (SELECT ceil(coalesce(sum(least(s.vantages, live.n)), 0)::numeric / live.n) AS share
                FROM fleet_swarm s, live GROUP BY live.n)
SELECT (SELECT count(*) FROM fleet_lease l WHERE l.node_name = n.name AND l.expires_us > {NOW_US})
       >= least(n.capacity, greatest(coalesce(n.share, n.capacity), coalesce((SELECT share FROM fair), 0)))
  FROM fleet_node n WHERE n.name = :me
""")


def _at_share(conn: sa.Connection, node: str, lease_seconds: float) -> bool:
    """True when ``node`` holds as many live leases as it may: its share (set by rebalancing; else its
    capacity), raised at once to the fair share among the nodes live NOW (heartbeat within
    ``lease_seconds``, database time) when a node died since the last rebalancing. So a dead node's
    swarms are taken over at the survivors' first round after its leases expired (README "Failover": the
    lease time plus one renewal round), not only after the next rebalancing job; a join lowers shares
    through rebalancing alone (its handoffs)."""
    params = {"me": node, "live_us": _us(lease_seconds)}
    return bool(conn.execute(_AT_SHARE, params).scalar())


def _lease_rows(conn: sa.Connection, infohash: str) -> int:
    query = sa.text("SELECT count(*) FROM fleet_lease WHERE infohash = :infohash")
    return int(conn.execute(query, {"infohash": infohash}).scalar_one())


def _vantages(conn: sa.Connection, infohash: str) -> int:
    query = sa.text("SELECT vantages FROM fleet_swarm WHERE infohash = :infohash")
    return int(conn.execute(query, {"infohash": infohash}).scalar_one())


def renew_leases(
    conn: sa.Connection,
    node: str,
    tokens: Iterable[int],
    lease_seconds: float,
    writer_lag: float | None = None,
    incarnation: int | None = None,
    clock: ClockReport | None = None,
) -> list[Lease]:
    """Extend this node's leases that still carry ``tokens`` and beat its heartbeat (database time).

    ``writer_lag``: seconds its oldest evidence not yet committed has waited (0: nothing pending), stored
    beside the heartbeat as ``writer_lag_us`` (None: not reported). ``incarnation``: this process's start
    (:func:`check_incarnation`; nothing is renewed for a replaced process). ``clock``: the node's clock
    offset from the database and its threshold, stored beside the heartbeat (None: left as it was).

    Returns:
        The leases renewed (``handoff`` set on those the rebalancing job asks back); a token missing from
        the answer was taken over or removed (the swarm is lost).

    Raises:
        NodeReplaced: another process started under ``node`` since this one.
    """
    check_incarnation(conn, node, incarnation)
    conn.execute(
        sa.text(
            f"UPDATE fleet_node SET heartbeat_us = {NOW_US}, writer_lag_us = :lag,"
            " clock_offset_us = coalesce(:offset, clock_offset_us),"
            " clock_threshold_us = coalesce(:threshold, clock_threshold_us) WHERE name = :me"
        ),
        {
            "me": node,
            "lag": None if writer_lag is None else _us(writer_lag),
            "offset": None if clock is None else clock.offset_us,
            "threshold": None if clock is None else clock.threshold_us,
        },
    )
    wanted = sorted(set(tokens))
    if not wanted:
        return []
    rows = conn.execute(
        sa.text(
            f"UPDATE fleet_lease SET expires_us = {NOW_US} + :lease_us"
            " WHERE node_name = :me AND token = ANY(:tokens) RETURNING infohash, token, expires_us, handoff"
        ),
        {"me": node, "tokens": wanted, "lease_us": _us(lease_seconds)},
    ).all()
    return [Lease(r.infohash, int(r.token), int(r.expires_us), bool(r.handoff)) for r in rows]


def release_leases(conn: sa.Connection, node: str, tokens: Iterable[int] | None = None) -> int:
    """Give back this node's leases (those with ``tokens``; None: all of them). Returns how many."""
    query = "DELETE FROM fleet_lease WHERE node_name = :me"
    params: dict[str, object] = {"me": node}
    if tokens is not None:
        query += " AND token = ANY(:tokens)"
        params["tokens"] = sorted(set(tokens))
    return conn.execute(sa.text(query), params).rowcount


def sweep_expired(conn: sa.Connection) -> list[tuple[str, str]]:
    """Delete every expired lease (database time); returns (infohash, node name) of each.

    Takers take expired leases over anyway; sweeping makes a dead node's swarms show as under-covered and
    refuses its late writes even while no node had room to take them.
    """
    rows = conn.execute(
        sa.text(f"DELETE FROM fleet_lease WHERE expires_us <= {NOW_US} RETURNING infohash, node_name")
    ).all()
    return [(r.infohash, r.node_name) for r in rows]


def held_leases(conn: sa.Connection, node: str) -> list[Lease]:
    """Every lease row of ``node``, live or expired, by infohash."""
    rows = conn.execute(
        sa.text(
            "SELECT infohash, token, expires_us FROM fleet_lease WHERE node_name = :me ORDER BY infohash"
        ),
        {"me": node},
    ).all()
    return [Lease(r.infohash, int(r.token), int(r.expires_us)) for r in rows]
