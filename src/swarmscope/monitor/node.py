"""One fleet node: lease swarms from the fleet, feed them to the monitor, renew, give them back on stop.

The lease loop (every ``lease_seconds / 3``, paced by deadlines: a round starts at the previous round's
start plus the period, a slow round skips the ticks it overran instead of pushing every later round late):
renew this node's leases (also its heartbeat, in database time, reporting its writer lag: how long its
oldest evidence not yet committed has waited); a lease missing from the answer was taken over or its swarm
removed: the swarm is dropped at once; then take swarms up to ``capacity`` and hand each to the
:class:`FleetMonitor`. The monitor's ledger writer seals through a
:class:`~swarmscope.store.fleet.fencing.FencedStore` reading :meth:`FleetNode.tokens`; a batch refused
by fencing drops the swarms it names here too. With probe processes (``--probe-processes N``) the
monitor hands them every change of the tokens (:meth:`FleetNode.fence`), and their refused batches drop
the swarms here the same way.

Each round also measures this node's clock against the database's (``Fleet.clock_sample``, as SNTP
does): the sample is sealed with the node's evidence (a node off by more than its clock threshold has
its hits flagged, the monitor's clock rule, so ``cases build`` does not count them) and the offset is
reported with the heartbeat (``fleet status`` flags it).

Each start under a name is an incarnation (the database counts them): every renewal, take and batch of
this process carries its own, so when a newer process registered under the name (this one was paused,
not dead) the round says "replaced by a newer process under NAME" and the node stops, taking, renewing,
releasing and writing nothing more (its batches are refused in their transaction).

Stopping (SIGTERM/SIGINT, or ``stop``): the monitor stops first (probes in flight recorded, everything
pending committed while the leases are still held), then the leases are released and the stop recorded.
A database that cannot be reached during a round is reported (one line) and the round is retried; once a
lease length has passed since the last renewal began, every lease has lapsed: the node stops watching its
swarms (others may hold them: no swarm is watched by more nodes than asked) and releases the rows when the
database answers again; fencing refuses whatever it could no longer hold meanwhile. A round that neither
answers nor fails (a row lock, a network partition) is watched apart (:meth:`FleetNode._watch`); the
fleet's statement, lock and TCP timeouts (``store.pg_timeouts``) bound how long it blocks. A monitor that
raises (could not start: its listen port taken meanwhile) still has the stop recorded.

Reference copies are node-local: :mod:`swarmscope.monitor.node_references` reads them for each swarm
leased.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from swarmscope.errors import SwarmscopeError
from swarmscope.monitor.fleet_monitor import FleetMonitor
from swarmscope.monitor.node_references import NodeReferences
from swarmscope.monitor.pacing import paced, wait_or_stop, watch
from swarmscope.monitor.targets import Target, load_target, target_from_metainfo
from swarmscope.store.fleet.fencing import Fence
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.leases import ClockReport, Lease, NodeReplaced
from swarmscope.store.fleet.registry import FleetSwarm, NodeStart


@dataclass(frozen=True, slots=True)
class NodePlan:
    """A node's place in the fleet: how it registers, how many swarms, lease length in seconds."""

    start: NodeStart
    lease_seconds: float = 30.0

    @property
    def renew_every(self) -> float:
        """Seconds between lease rounds: three renewals fit in one lease."""
        return self.lease_seconds / 3


def fleet_target(swarm: FleetSwarm) -> Target:
    """The monitor's target of a registered swarm (its stored .torrent bytes, else its magnet).

    Raises:
        InputError: the stored torrent or magnet is malformed.
    """
    if swarm.metainfo is not None:
        return target_from_metainfo(swarm.metainfo, f"fleet swarm {swarm.infohash}")
    assert swarm.magnet is not None  # fleet_swarm's check constraint: one of the two
    return load_target(swarm.magnet)


class FleetNode:
    """Runs a :class:`FleetMonitor` on the swarms this node leases.

    Args:
        fleet: the fleet tables. monitor: the node's monitor (its store a ``FencedStore`` over
        :meth:`tokens`). plan: registration and lease length. on_event: one line per lease taken or lost.
        jobs: runs this node's worker of the fleet's exactly-once jobs until the event is set
        (``store.fleet.jobs.FleetJobs.run``), or None. references: this node's copies of works' reference
        content, work id → path (module docstring). on_registered: called once the fleet accepted the
        start (e.g. to announce a key file created for it: a refused start removes it unannounced).
    """

    def __init__(
        self,
        fleet: Fleet,
        monitor: FleetMonitor,
        plan: NodePlan,
        on_event: Callable[[str], None],
        jobs: Callable[[asyncio.Event], Awaitable[None]] | None = None,
        references: Mapping[int, str] | None = None,
        on_registered: Callable[[], None] | None = None,
    ) -> None:
        self.fleet, self.monitor, self.plan, self.on_event = fleet, monitor, plan, on_event
        self.jobs, self.on_registered = jobs, on_registered
        self._references = NodeReferences(fleet, monitor, references or {}, on_event)
        self.leases: dict[str, Lease] = {}
        self.registered = False  # set once the fleet accepted this node's start
        self.incarnation: int | None = None  # this process's start under the name (set at registration)
        self.replaced: NodeReplaced | None = None  # a newer process registered under the name: we stop
        self._tokens: Mapping[str, int] = {}  # replaced whole on change: read from the writer's thread
        self._failing, self._renewed_at = False, 0.0  # the last renewal's start (loop time, seconds)
        self._round_began: float | None = None  # the round in flight's start (loop time), or None
        self._lapses = 0  # times every lease lapsed unrenewed: a renewal begun before the last is stale
        self._handing: dict[str, Lease] = {}  # handed off: still renewed and fenced until released
        self._expired: list[int] = []  # tokens of leases that expired unrenewed: released when reachable
        self._releasing: set[asyncio.Task[int]] = set()
        monitor.evidence.on_fenced = self._fenced
        monitor.on_metadata = self._metadata_known

    @property
    def name(self) -> str:
        """This node's name in the fleet."""
        return self.plan.start.name

    def identity(self) -> tuple[str, int] | None:
        """(name, incarnation) once registered, for the fenced store's check of every batch; else None."""
        return None if self.incarnation is None else (self.name, self.incarnation)

    def tokens(self) -> Mapping[str, int]:
        """The current lease token of every swarm this node holds (infohash -> token)."""
        return self._tokens

    async def run(self, stop: asyncio.Event) -> None:
        """Register, run the monitor and the lease loop until ``stop``; then stop cleanly.

        Raises:
            SwarmscopeError: the registration is refused (the name is bound to another key...), or the
                monitor could not start.
            NodeReplaced: a newer process registered under this name while this one ran (it stopped
                without releasing or writing anything more).
        """
        registration = await asyncio.to_thread(self.fleet.register, self.plan.start, self.plan.lease_seconds)
        dropped, self.incarnation = registration.dropped, registration.incarnation
        self.registered = True
        self._publish()  # the probe processes' fence names this incarnation from their first commit
        if self.on_registered is not None:
            self.on_registered()
        if dropped:
            self.on_event(f"dropped {dropped} leases of this name's previous run (new tokens fence it)")
        monitor_stop = asyncio.Event()
        monitor = asyncio.create_task(self.monitor.run(monitor_stop))
        worker = asyncio.create_task(self._jobs(monitor_stop))
        going = lambda: not stop.is_set() and not monitor.done() and self.replaced is None  # noqa: E731
        idle = self.plan.renew_every
        watchdog = asyncio.create_task(watch(self._lapse_due, self._lapsed, going, stop, idle))
        try:
            while not monitor.done() and not self.monitor.started:
                await asyncio.sleep(0.05)
            clock, wait = asyncio.get_running_loop().time, lambda seconds: wait_or_stop(stop, seconds)
            await paced(self._round, self.plan.renew_every, going, clock, wait)
        finally:
            watchdog.cancel()
            self._references.cancel()
            monitor_stop.set()
            try:
                await worker
                await monitor  # commits everything pending while the leases are still held
            except BaseException:  # the monitor failed (could not start...): the stop is recorded still
                await self._record_stop(failing=True)
                raise
            await self._record_stop(failing=False)
        if self.replaced is not None:
            raise self.replaced

    async def _record_stop(self, failing: bool) -> None:
        """Release every lease row of this process (those lapsed unrenewed too), record the stop (unless
        replaced). ``failing``: the monitor raised, so a database error is one line, not raised over it.

        Raises:
            SwarmscopeError: the stop could not be recorded (not ``failing``)."""
        if self.replaced is not None:
            return
        held = [lease.token for lease in (*self.leases.values(), *self._handing.values())]
        try:
            released = await asyncio.to_thread(
                self.fleet.stop_node, self.name, held + self._expired, self.incarnation
            )
        except SwarmscopeError as exc:
            if not failing:
                raise
            self.on_event(f"stop not recorded (its leases lapse unrenewed): {exc}")
            return
        self.on_event(f"stopped: {released} leases released")

    async def _jobs(self, stop: asyncio.Event) -> None:
        """The fleet-jobs worker; its failure is one line (the node goes on monitoring without it)."""
        if self.jobs is None:
            return
        try:
            await self.jobs(stop)
        except Exception as exc:  # the queue is a helper: leases and fencing do not depend on it
            self.on_event(f"fleet jobs worker stopped: {exc}")

    async def _round(self) -> None:
        """Renew, drop what was lost, take up to capacity; a database error is one line, then retried."""
        self._round_began = asyncio.get_running_loop().time()
        try:
            if await self._renew():
                await self._take()
        except NodeReplaced as exc:
            self._replaced(exc)
            return
        except SwarmscopeError as exc:
            if not self._failing:
                self.on_event(f"lease round failed, retrying every {self.plan.renew_every:g} s: {exc}")
            self._failing = True
            if asyncio.get_running_loop().time() - self._renewed_at > self.plan.lease_seconds:
                self._forget_all("no lease renewal for a lease length: its lease has expired")
            return
        finally:
            self._round_began = None
        if self._failing:
            self.on_event("lease rounds succeed again")
        self._failing = False

    def _lapse_due(self) -> float | None:
        """When (loop time) every lease lapses for the watchdog (:meth:`_lapsed`), or None (no round in
        flight, or no lease held): a lease length after the last renewal began (the database's expiry is
        later: that renewal committed after it began), and not before the round in flight has had a
        renewal period to answer (a process resumed after a pause past its lease hears its round first)."""
        if self._round_began is None or not (self.leases or self._handing):
            return None
        return max(self._renewed_at + self.plan.lease_seconds, self._round_began + self.plan.renew_every)

    def _lapsed(self) -> None:
        """The round in flight is past :meth:`_lapse_due` (it waits on a row lock, or on a connection
        across a partition: libpq waits for the kernel, TCP retransmits for minutes): every lease has
        lapsed, so the node stops watching every swarm (others may lease them: README "A fleet", no swarm
        watched by more nodes than asked) while the round's thread stays blocked; what that round answers
        later is ignored (:meth:`_renew`)."""
        blocked = asyncio.get_running_loop().time() - (self._round_began or 0.0)
        self.on_event(f"lease round blocked on the database for {blocked:.1f} s: every lease lapsed")
        self._forget_all("no lease renewal for a lease length (the database does not answer)")

    async def _measure_clock(self) -> ClockReport | None:
        """This node's clock against the database's, sealed as a clock sample (it flags this node's hits
        by the monitor's clock rule when off by more than ``--clock-threshold-ms``) and reported with the
        heartbeat for ``fleet status``."""
        sample = await asyncio.to_thread(self.fleet.clock_sample, self.monitor.clock.now_us)
        if self.monitor.evidence.writer is not None:
            self.monitor.evidence.clock_sample(sample)
        threshold_us = round(self.monitor.config.clock_threshold_ms * 1000)
        return None if sample.offset_us is None else ClockReport(sample.offset_us, threshold_us)

    def _replaced(self, exc: NodeReplaced) -> None:
        """Another process runs under this name now: forget every lease (its tokens were dropped at that
        start), stop monitoring, discard what is queued; the lease loop ends and :meth:`run` raises."""
        self.replaced = exc
        self._forget_all(None)
        if self.monitor.evidence.writer is not None:  # its clock samples too: nothing more is written
            self.monitor.evidence.writer.discard_all()

    def _forget_all(self, why: str | None) -> None:
        """Stop watching every swarm and discard their queued records; ``why``: their leases expired
        unrenewed (one line per swarm; released at the next round that reaches the database), or None:
        a newer process dropped them (silent)."""
        if why is not None:
            self._expired += [lease.token for lease in (*self.leases.values(), *self._handing.values())]
            self._lapses += 1
        for swarm in list(self.leases) + list(self._handing):
            self.monitor.remove_target(swarm)
            discarded = self.monitor.discard_queued(swarm)
            if why is not None:
                self.on_event(f"dropped {swarm}: {why}; {discarded} queued records discarded")
        self.leases, self._handing = {}, {}
        self._publish()

    async def _renew(self) -> bool:
        """Renew (see the module docstring); False when every lease lapsed while the renewal was in flight
        (:meth:`_watch`): its answer is stale, nothing more is taken this round."""
        began = asyncio.get_running_loop().time()  # before the database granted anything: conservative
        await self._release_handed()
        tokens = [lease.token for lease in (*self.leases.values(), *self._handing.values())]
        lapses = self._lapses
        writer = self.monitor.evidence.writer
        lag = 0.0 if writer is None else writer.waiting_seconds()
        clock = await self._measure_clock()
        renewed = await asyncio.to_thread(
            self.fleet.renew, self.name, tokens, self.plan.lease_seconds, lag, self.incarnation, clock
        )
        if self._lapses != lapses:  # forgotten meanwhile: their rows are released at the next round
            return False
        kept = {lease.infohash for lease in renewed}
        for swarm in set(self.leases) - kept:
            self._drop(swarm, "lease lost (taken over, expired or the swarm was removed)")
        self._handing = {lease.infohash: lease for lease in renewed if lease.infohash in self._handing}
        self._renewed_at = began
        for lease in renewed:
            if lease.infohash not in self._handing:
                self.leases[lease.infohash] = lease
                if lease.handoff:
                    self._hand_off(lease)
        self._publish()
        self.monitor.fleet_addresses = await asyncio.to_thread(self.fleet.addresses)
        self.monitor.leases_changed(self.fence())
        return True

    async def _take(self) -> None:
        want = self.plan.start.capacity - len(self.leases)
        if want <= 0:
            return
        start = self.plan.start
        taken = await asyncio.to_thread(
            self.fleet.take, self.name, want, self.plan.lease_seconds, start.source_ip, self.incarnation
        )
        if not taken:
            return
        by_hash = {lease.infohash: lease for lease in taken}
        for swarm in await asyncio.to_thread(self.fleet.swarms, list(by_hash)):
            await self._start_swarm(swarm, by_hash[swarm.infohash])

    async def _start_swarm(self, swarm: FleetSwarm, lease: Lease) -> None:
        try:
            target = fleet_target(swarm)
        except SwarmscopeError as exc:
            self.on_event(f"cannot monitor {swarm.infohash}: {exc}; lease given back")
            await asyncio.to_thread(self.fleet.release, self.name, [lease.token])
            return
        self.leases[swarm.infohash] = lease
        self._publish()
        try:
            await self.monitor.add_target(target)
        except SwarmscopeError as exc:  # held but never watched otherwise: give it back, the round goes on
            self._drop(swarm.infohash, f"could not start monitoring it ({exc})")
            return
        self.on_event(f"leased {swarm.infohash} ({swarm.name}) token {lease.token}")
        self._references.read(swarm, target)

    async def _metadata_known(self, target: Target) -> None:
        """A leased magnet's info dict arrived (BEP 9): its works' reference copies can be checked now."""
        self._references.metadata_known(target, target.swarm in self.leases)

    def _hand_off(self, lease: Lease) -> None:
        """Rebalancing asks the swarm back: stop monitoring it now; what is queued for it (here and in
        each probe process) still commits under the lease, which is released at the first round that finds
        none of it pending (:meth:`_release_handed`)."""
        del self.leases[lease.infohash]
        self._handing[lease.infohash] = lease
        self.monitor.remove_target(lease.infohash)
        self.on_event(f"handing {lease.infohash} off (rebalancing)")

    async def _release_handed(self) -> None:
        """Release the swarms handed off whose evidence is all committed, and the leases that lapsed
        unrenewed (their rows would keep this node from leasing the swarms again). One handed off with
        records still queued in the writer, or in the commit under way (a loaded store), or not yet
        answered drained by a running probe process (``--probe-processes``), keeps its lease, renewed
        with the others, until a later round (``FleetMonitor.pending_swarms``): released first, its batch
        would be refused by fencing and lost. A lost lease does not wait (:meth:`_drop`). On an error the
        tokens stay for the next round."""
        pending = self.monitor.pending_swarms()
        done = [lease for swarm, lease in self._handing.items() if swarm not in pending]
        if done or self._expired:
            self._handing = {swarm: lease for swarm, lease in self._handing.items() if swarm in pending}
            self._expired += [lease.token for lease in done]
            self._publish()  # a later batch is fenced without them
            await asyncio.to_thread(self.fleet.release, self.name, self._expired)
            self._expired = []

    def _fenced(self, refused: Mapping[str, int | None]) -> None:
        """A batch was refused by fencing: these swarms (-> the token the batch named, None: none) are no
        longer ours, unless this node holds another token now (leased again after the refusal was
        judged: the lease and its queued records are the new tenure's, kept)."""
        for swarm, token in refused.items():
            if (held := self.leases.get(swarm)) is None or held.token == token:
                self._drop(swarm, "fencing refused this node's batch: another node holds it now")

    def _drop(self, swarm: str, why: str) -> None:
        """Stop monitoring ``swarm`` now; its lease row, if still this node's, is deleted in the background
        (an expired lease nobody took yet: this node would otherwise block itself from taking it again)."""
        self._references.forget(swarm)
        lease = self.leases.pop(swarm, None)
        if lease is not None:
            self._publish()
            task = asyncio.create_task(asyncio.to_thread(self.fleet.release, self.name, [lease.token]))
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)
            self.monitor.remove_target(swarm)
            discarded = self.monitor.discard_queued(swarm)
            self.on_event(f"dropped {swarm}: {why}; {discarded} queued records discarded")

    def _publish(self) -> None:
        held = {**self._handing, **self.leases}
        self._tokens = {swarm: lease.token for swarm, lease in held.items()}
        self.monitor.leases_changed(self.fence())  # the probe processes' commits: fenced by these from now

    def fence(self) -> Fence:
        """What this node's batches are fenced by now: its lease tokens and (once registered) identity."""
        return Fence(self._tokens, self.identity())
