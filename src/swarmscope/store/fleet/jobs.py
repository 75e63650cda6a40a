"""The fleet's jobs that must run exactly once across all nodes, on procrastinate (PostgreSQL queue).

Every node runs one procrastinate worker (concurrency 1) beside its monitor. Periodic jobs are deferred
by every worker but stored once per tick (procrastinate's ``procrastinate_periodic_defers`` key), and a
``queueing_lock`` keeps at most one of each waiting, so each runs once per period whichever node takes it:

- ``fleet.sweep_leases`` (every ``sweep_every`` s): delete expired leases (database time), so a dead
  node's swarms show as under-covered and its late batches are refused even while no node has room.
- ``fleet.rebalance`` (every ``sweep_every`` s): fair shares per live node and handoffs above them, so
  a node that joins gets swarms from the others (:mod:`swarmscope.store.fleet.rebalance`).
- ``fleet.retry_stalled`` (every ``sweep_every`` s): jobs left in ``doing`` by a worker that died
  (``kill -9``, power loss) are put back to ``todo``, each on its own; one whose ``queueing_lock``
  already has a waiting job is finished as ``failed`` instead (one waiting job per lock). procrastinate
  never does this by itself: such a job stays ``doing`` forever (its maintainers' answer, and its howto
  "Retry stalled jobs", is this periodic task); a worker is stalled when its heartbeat is older than
  ``stalled_after`` s (a pruned worker row sets its jobs' ``worker_id`` to NULL, which still counts as
  stalled). The retrying task has a ``queueing_lock`` but no ``lock``: with a ``lock``, a stalled run of
  the retrier itself blocks every later one (reported on procrastinate's tracker).

- ``fleet.duties`` (every ``sweep_every`` s): the fleet's periodic duties configured in the store
  (RFC 3161 timestamping, retention purges: :mod:`swarmscope.store.fleet.duties`), each claimed by one
  node per period and run by the ``runners`` this node was given (the composition root builds them over
  this node's store, so a purge record is sealed with this node's key, in its own chain). A node without
  a runner for a due duty does not claim it.

The procrastinate schema is applied on first use, under a PostgreSQL advisory lock so nodes starting
together apply it once. Only ``store/`` talks to the database: this module owns procrastinate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping

import sqlalchemy as sa
from procrastinate import App, PsycopgConnector
from procrastinate.exceptions import UniqueViolation
from procrastinate.jobs import Job, Status
from procrastinate.schema import SchemaManager
from sqlalchemy.engine import Engine

from swarmscope.store.fleet import duties as duty_rows
from swarmscope.store.fleet.duties import Duty
from swarmscope.store.fleet.leases import sweep_expired
from swarmscope.store.fleet.rebalance import rebalance
from swarmscope.store.pg_timeouts import with_connect_defaults
from swarmscope.store.ports import DatabaseHandle

DutyRunner = Callable[[Duty], str]  # runs one claimed duty (blocking); returns its one-line outcome
SCHEMA_LOCK = 0x5357_4D51  # pg_advisory_xact_lock key of the schema check ("SWMQ")


def libpq_url(engine: Engine) -> str:
    """The libpq connection URI of a SQLAlchemy PostgreSQL engine (driver name dropped), with the engine's
    libpq timeouts (:func:`~swarmscope.store.pg_timeouts.connect_args`)."""
    url = with_connect_defaults(engine.url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def ensure_job_schema(engine: Engine) -> bool:
    """Apply procrastinate's schema unless present (one node at a time); True when applied here."""
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
        if conn.execute(sa.text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None:
            return False
        cursor = conn.connection.cursor()  # the driver's own: no parameters, so '%' in the SQL stays as is
        try:
            cursor.execute(SchemaManager.get_schema())
        finally:
            cursor.close()
        return True


class FleetJobs:
    """The fleet's procrastinate app and its tasks.

    Args:
        store: the fleet store (PostgreSQL; its engine is used). name: this node's name (the worker's name).
        sweep_every: seconds between sweeps and stalled-job checks (1..59).
        stalled_after: seconds without heartbeat after which a worker is dead (its jobs are retried).
        heartbeat: seconds between this worker's heartbeats (well under ``stalled_after``).
        live_within: a node whose lease heartbeat is older than this (seconds) gets no share.
        on_event: one line per sweep that removed leases, per retried job and per duty run.
        runners: duty name -> how this node runs it (none: this node claims no duty).
    """

    def __init__(
        self,
        store: DatabaseHandle,
        name: str,
        *,
        sweep_every: int = 5,
        stalled_after: float = 30.0,
        heartbeat: float = 5.0,
        live_within: float = 30.0,
        on_event: Callable[[str], None] = lambda _line: None,
        runners: Mapping[str, DutyRunner] | None = None,
    ) -> None:
        engine = store.engine
        self.engine, self.name, self.on_event = engine, name, on_event
        self.runners = dict(runners or {})
        self.stalled_after, self.heartbeat, self.live_within = stalled_after, heartbeat, live_within
        self.app = App(connector=PsycopgConnector(conninfo=libpq_url(engine)))
        cron = f"* * * * * */{sweep_every}"  # the 6th column: seconds

        @self.app.periodic(cron=cron, periodic_id="sweep")
        @self.app.task(name="fleet.sweep_leases", queueing_lock="fleet.sweep_leases")
        async def sweep_leases(timestamp: int) -> None:
            swept = await asyncio.to_thread(self.sweep)
            if swept:
                self.on_event(
                    f"swept {len(swept)} expired leases: " + ", ".join(f"{h} ({n})" for h, n in swept)
                )

        @self.app.periodic(cron=cron, periodic_id="rebalance")
        @self.app.task(name="fleet.rebalance", queueing_lock="fleet.rebalance")
        async def rebalance_leases(timestamp: int) -> None:
            handed = await asyncio.to_thread(self.rebalance)
            for node, infohash in handed:
                self.on_event(f"rebalance: {node} hands {infohash} off")

        @self.app.periodic(cron=cron, periodic_id="stalled")
        @self.app.task(name="fleet.retry_stalled", queueing_lock="fleet.retry_stalled")
        async def retry_stalled(timestamp: int) -> None:
            await self.retry_stalled()

        @self.app.periodic(cron=cron, periodic_id="duties")
        @self.app.task(name="fleet.duties", queueing_lock="fleet.duties")
        async def run_duties(timestamp: int) -> None:
            await asyncio.to_thread(self.run_duties)

    def sweep(self) -> list[tuple[str, str]]:
        """Delete expired leases now; (infohash, node name) of each."""
        with self.engine.begin() as conn:
            return sweep_expired(conn)

    def rebalance(self) -> list[tuple[str, str]]:
        """Fair shares and handoffs now; (node name, infohash) of each handoff."""
        with self.engine.begin() as conn:
            return rebalance(conn, self.live_within)

    def run_duties(self) -> list[tuple[Duty, str]]:
        """Claim the due duties this node can run, run each, record its outcome; (duty, outcome) of each."""
        if not self.runners:
            return []
        with self.engine.begin() as conn:
            claimed = duty_rows.claim_due(conn, self.name, sorted(self.runners))
        done = []
        for duty in claimed:
            try:
                outcome = self.runners[duty.name](duty)
            except Exception as exc:  # a failed run is recorded, the worker goes on
                outcome = f"error: {' '.join(str(exc).split()) or type(exc).__name__}"
            with self.engine.begin() as conn:
                duty_rows.finish(conn, duty, outcome)
            self.on_event(f"{duty.name}: {outcome}")
            done.append((duty, outcome))
        return done

    async def retry_stalled(self) -> int:
        """Put the jobs of dead workers back to ``todo``, each on its own (one that cannot be handled is one
        line, the others go on); returns how many were put back.

        A stalled job whose ``queueing_lock`` already has a job waiting (the next period's, deferred
        meanwhile) cannot go back to ``todo``: procrastinate's unique index
        ``procrastinate_jobs_queueing_lock_idx_v1`` allows one waiting job per lock. It is finished as
        ``failed`` instead (the waiting job does its work), so it is not left ``doing`` for ever.
        """
        manager = self.app.job_manager
        stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=self.stalled_after))
        retried = 0
        for job in stalled:
            label = f"job {job.id} ({job.task_name}) was left doing by a dead worker"
            try:
                retried += await self._retry_one(job)
            except Exception as exc:  # one job's failure must not keep the others stuck
                self.on_event(f"{label}: not retried: {' '.join(str(exc).split()) or type(exc).__name__}")
        return retried

    async def _retry_one(self, job: Job) -> int:
        """Retry one stalled job (1), or finish it as failed when a job of its queueing lock waits (0)."""
        manager = self.app.job_manager
        label = f"job {job.id} ({job.task_name}) was left doing by a dead worker"
        try:
            await manager.retry_job(job)
        except UniqueViolation as exc:
            if "queueing_lock" not in (exc.constraint_name or ""):
                raise
            await manager.finish_job(job, Status.FAILED, delete_job=False)
            self.on_event(f"{label}: finished as failed (job of lock {job.queueing_lock!r} already waiting)")
            return 0
        self.on_event(f"{label}: retried")
        return 1

    async def run(self, stop: asyncio.Event) -> None:
        """Run this node's worker until ``stop`` (its running job, if any, is cancelled then)."""
        await asyncio.to_thread(ensure_job_schema, self.engine)
        async with self.app.open_async():
            worker = asyncio.create_task(
                self.app.run_worker_async(
                    name=self.name,
                    concurrency=1,
                    install_signal_handlers=False,
                    update_heartbeat_interval=self.heartbeat,
                    stalled_worker_timeout=self.stalled_after,
                    delete_jobs="successful",
                )
            )
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for task in (worker, stopping):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            stopping.cancel()
