"""The fleet as the commands and the node see it: one object over an open PostgreSQL store.

Each method is one transaction (committed on return); a database error becomes one
:class:`~swarmscope.store.database.StoreError` line. Opening refuses any database but PostgreSQL: the
fleet's leases, fencing triggers and job queue need it (SQLite serves one ``swarmscope monitor``). A node's
fleet limits each of its lease transactions (every one but its registration) to ``timeout`` seconds, its
statements and its waits for locks (:func:`~swarmscope.store.pg_timeouts.limit_transaction`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager

import sqlalchemy as sa

from swarmscope.evidence.records import ClockSample
from swarmscope.store.database import Store, StoreError
from swarmscope.store.fleet import duties, leases, rebalance, registry
from swarmscope.store.fleet.duties import Duty
from swarmscope.store.fleet.leases import ClockReport, Lease
from swarmscope.store.fleet.registry import FleetError, FleetSwarm, NodeStart, Registration
from swarmscope.store.fleet.status import FleetStatus, fleet_status
from swarmscope.store.pg_timeouts import limit_transaction

DATABASE_CLOCK = "fleet-database"  # the ``server`` of a clock sample measured against the database clock

NEEDS_POSTGRESQL = (
    "the fleet needs PostgreSQL (--db postgresql+psycopg://...); an SQLite file serves one "
    "`swarmscope monitor`"
)


def is_postgresql(url_or_path: str) -> bool:
    """True when ``url_or_path`` names a PostgreSQL database (checked before anything is created)."""
    return url_or_path.startswith(("postgresql://", "postgresql+", "postgres://"))


class Fleet:
    """The fleet tables of an open store. ``timeout``: seconds each statement or lock wait of a lease
    transaction may take (a node's renewal period: ``pg_timeouts``), or None (no limit: the commands).

    Raises:
        FleetError: the store is not on PostgreSQL.
    """

    def __init__(self, store: Store, timeout: float | None = None) -> None:
        if store.engine.dialect.name != "postgresql":
            raise FleetError(NEEDS_POSTGRESQL)
        self.store, self.timeout = store, timeout

    @contextmanager
    def _tx(self, limited: bool = True) -> Iterator[sa.Connection]:
        try:
            with self.store.engine.begin() as conn:
                if limited and self.timeout is not None:
                    limit_transaction(conn, self.timeout)
                yield conn
        except sa.exc.SQLAlchemyError as exc:
            reason = " ".join(str(exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc).split())
            raise StoreError(f"fleet: database refused: {reason}") from exc

    def add_swarm(self, swarm: FleetSwarm, keep_vantages: bool = False) -> str:
        """Register or update ``swarm``; ``registry.ADDED``, ``UPDATED`` or ``TORRENT_KEPT`` (see
        :func:`registry.add_swarm`; ``keep_vantages``: a registered swarm keeps its stored vantages)."""
        with self._tx() as conn:
            return registry.add_swarm(conn, swarm, keep_vantages)

    def remove_swarm(self, infohash: str) -> bool:
        """Unregister a swarm (its leases end; its evidence stays); True when it was registered."""
        with self._tx() as conn:
            return registry.remove_swarm(conn, infohash)

    def swarms(self, infohashes: Iterable[str]) -> list[FleetSwarm]:
        """The registered swarms among ``infohashes``."""
        with self._tx() as conn:
            return registry.fleet_swarms(conn, list(infohashes))

    def addresses(self) -> set[str]:
        """Source addresses of the fleet's nodes (filtered out of discovery and inbound peers)."""
        with self._tx() as conn:
            return registry.node_addresses(conn)

    def status(self) -> FleetStatus:
        """Nodes, heartbeats, leases, coverage and writer lag (database time)."""
        with self._tx() as conn:
            return fleet_status(conn)

    def start_node(self, node: NodeStart, live_within: float = 30.0) -> int:
        """Register or restart ``node``; returns the leftover leases of its name it dropped.

        ``live_within``: seconds, this start's lease length; a heartbeat of a node of that name within
        it, or within that node's own stored lease length if longer, shows it running still (its start
        is then refused)."""
        return self.register(node, live_within).dropped

    def register(self, node: NodeStart, live_within: float = 30.0) -> Registration:
        """Register or restart ``node`` (see :meth:`start_node`); with this process's incarnation (no
        ``timeout``: it waits for the other registrations under way, one at a time)."""
        with self._tx(limited=False) as conn:
            return registry.register_node(conn, node, live_within)

    def stop_node(self, name: str, tokens: Iterable[int], incarnation: int | None = None) -> int:
        """Release the leases with ``tokens`` and record a clean stop; returns how many were released.
        With ``incarnation``, the stop is recorded only while that start is the name's current one."""
        with self._tx() as conn:
            released = leases.release_leases(conn, name, tokens)
            registry.mark_stopped(conn, name, incarnation)
            return released

    def retire_node(self, name: str) -> int:
        """Remove a node gone for good (see :func:`registry.retire_node`); returns its leases removed."""
        with self._tx() as conn:
            return registry.retire_node(conn, name)

    def take(
        self,
        name: str,
        want: int,
        lease_seconds: float,
        source_ip: str | None,
        incarnation: int | None = None,
    ) -> list[Lease]:
        """Lease up to ``want`` more swarms, one transaction each (see :func:`leases.take_one`): a lease is
        visible to the other takers as soon as it is taken. A database error after some were taken ends
        the take with those (they are committed: lost to the caller, they would sit unwatched for a lease).

        Raises:
            NodeReplaced: ``incarnation`` is no longer the name's current start.
            StoreError: the database refused the first take (a lock waited past ``timeout``...)."""
        taken: list[Lease] = []
        while len(taken) < want:
            try:
                with self._tx() as conn:
                    lease = leases.take_one(conn, name, lease_seconds, source_ip, incarnation)
            except leases.NodeReplaced:
                raise
            except StoreError:
                if not taken:
                    raise
                break
            if lease is None:
                break
            taken.append(lease)
        return taken

    def renew(
        self,
        name: str,
        tokens: Iterable[int],
        lease_seconds: float,
        writer_lag: float | None = None,
        incarnation: int | None = None,
        clock: ClockReport | None = None,
    ) -> list[Lease]:
        """Renew the leases with ``tokens`` and the node's heartbeat (with its writer lag, seconds, and its
        clock offset, when given); the missing ones are lost.

        Raises:
            NodeReplaced: ``incarnation`` is no longer the name's current start (nothing renewed)."""
        with self._tx() as conn:
            return leases.renew_leases(conn, name, tokens, lease_seconds, writer_lag, incarnation, clock)

    def clock_sample(self, now_us: Callable[[], int]) -> ClockSample:
        """Measure the node's clock ``now_us`` (UTC µs) against the database clock (``clock_timestamp()``),
        as SNTP does against a server (RFC 4330 section 5, the database stamping once: offset = database
        time minus the midpoint of the node's two readings around the query, delay = their difference).

        Raises:
            StoreError: the database cannot be reached."""
        with self._tx() as conn:
            t1 = now_us()
            database = leases.db_now_us(conn)
            t4 = now_us()
        return ClockSample(DATABASE_CLOCK, t4, offset_us=database - (t1 + t4) // 2, delay_us=t4 - t1)

    def release(self, name: str, tokens: Iterable[int]) -> int:
        """Give back the leases with ``tokens``."""
        with self._tx() as conn:
            return leases.release_leases(conn, name, tokens)

    def rebalance(self, live_within: float) -> list[tuple[str, str]]:
        """Fair shares and handoffs (see :func:`rebalance.rebalance`); (node, infohash) handed off."""
        with self._tx() as conn:
            return rebalance.rebalance(conn, live_within)

    def sweep(self) -> list[tuple[str, str]]:
        """Delete expired leases; (infohash, node name) of each."""
        with self._tx() as conn:
            return leases.sweep_expired(conn)

    def set_duty(self, name: str, every_s: int, settings: Mapping[str, object]) -> None:
        """Configure the fleet's periodic duty ``name`` (see :mod:`duties`)."""
        with self._tx() as conn:
            duties.set_duty(conn, name, every_s, settings)

    def drop_duty(self, name: str) -> bool:
        """Stop the periodic duty ``name``; True when it was configured."""
        with self._tx() as conn:
            return duties.drop_duty(conn, name)

    def duties(self) -> list[Duty]:
        """The configured duties and their last runs."""
        with self._tx() as conn:
            return duties.duties(conn)
