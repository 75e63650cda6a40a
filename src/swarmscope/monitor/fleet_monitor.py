"""The monitor of a fleet node: the same engine as ``swarmscope monitor``, with swarms added and removed
while it runs (as the node's leases come and go).

:class:`FleetMonitor` is :class:`~swarmscope.monitor.crawler.Monitor` plus :meth:`FleetMonitor.add_target`
(record the swarm, start its tracker announces, its Mainline DHT lookups when the node runs a DHT node,
and, for a magnet, its BEP 9 metadata fetch) and :meth:`FleetMonitor.remove_target` (stop all of that,
forget its peers, cancel its probes in flight: the lease is gone, so their observations could not be
sealed anyway). Discovery of leased swarms is through trackers, the DHT (BEP 5: one node per fleet node,
opened at start with no swarm, each leased swarm's ``get_peers`` loop added and removed with its lease),
inbound peers and PEX: the channels of a laptop's ``monitor`` run.

With several probe processes (``swarmscope node --probe-processes N``, :mod:`swarmscope.monitor.shards`)
the node's monitor is the coordinator: ``shards`` is told each swarm added (once its metainfo is known),
removed, each change of the node's lease tokens (:meth:`FleetMonitor.leases_changed`) and each reference
copy loaded, and each probe process runs a ``FleetMonitor`` of its own in the coordinator's run
(``joined_run``) that is given its swarms the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any

from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import Observation, Source
from swarmscope.evidence.seal import SealedBatch
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.crawler import Monitor
from swarmscope.monitor.metadata import lead_queue
from swarmscope.monitor.plan import PeerKey
from swarmscope.monitor.proofs import ReferenceLoaded
from swarmscope.monitor.shards import FleetShards, LeadRouter
from swarmscope.monitor.stats import SwarmStats
from swarmscope.monitor.targets import Target
from swarmscope.net.clock import Clock
from swarmscope.store.fleet.fencing import Fence
from swarmscope.store.ports import EvidenceLedger, MonitorStore
from swarmscope.wire.metainfo import Metainfo


class FleetMonitor(Monitor):
    """A :class:`Monitor` that starts with no swarm and is given its swarms while it runs.

    Args: as :class:`Monitor`, without targets (its listener always runs: leads come from trackers, PEX
    and inbound peers). :attr:`on_metadata` is awaited when a magnet's info dict arrives (BEP 9).
    ``shards``: the coordinator's probe processes (also its lead router), or None.
    """

    def __init__(
        self,
        store: MonitorStore,
        config: MonitorConfig,
        clock: Clock,
        on_warning: Callable[[str], None],
        software_commit: str | None = None,
        on_committed: Callable[[SealedBatch], None] = lambda _sealed: None,
        *,
        ledger: EvidenceLedger | None = None,
        shards: FleetShards | None = None,
        router: LeadRouter | None = None,
        joined_run: int | None = None,
    ) -> None:
        super().__init__(
            [], store, config, clock, on_warning, software_commit, leads_from_caller=True,
            on_committed=on_committed, ledger=ledger, router=shards or router, joined_run=joined_run,
        )  # fmt: skip
        self.shards = shards
        self._swarm_tasks: dict[str, set[asyncio.Task[None]]] = {}
        self.fleet_addresses: set[str] = set()  # the fleet's nodes: never probed, never recorded as peers
        self.on_metadata: Callable[[Target], Awaitable[None]] | None = None  # a magnet's metainfo arrived

    @property
    def started(self) -> bool:
        """True once the run is recorded (swarms may be added from then on)."""
        return self.run_id is not None and not self._stopping

    @property
    def stopping(self) -> bool:
        """True once the run is stopping (what is pending is being committed, no new work starts)."""
        return self._stopping

    def pending_swarms(self) -> set[str]:
        """The swarms (infohash hex) whose records may not be committed yet: queued or in the commit under
        way in this process's writer (``LedgerWriter.pending_swarms``), or dropped and not yet answered
        drained by a running probe process (``ProbeProcesses.pending_swarms``). A handed-off swarm keeps
        its lease while it is here."""
        writer = self.evidence.writer
        pending = set() if writer is None else writer.pending_swarms()
        return pending if self.shards is None else pending | self.shards.pending_swarms()

    def swarms(self) -> Iterable[str]:
        """The swarms monitored now."""
        return list(self.targets)

    @property
    def dht_swarms(self) -> frozenset[bytes]:
        """Wire infohashes our DHT node looks up now (empty without a DHT node)."""
        return frozenset() if self._dht is None else self._dht.looked_up

    async def add_target(self, target: Target) -> None:
        """Start monitoring ``target`` (the run must have started: :attr:`started`)."""
        if target.swarm in self.targets or not self.started:
            return
        self._adopt(target)
        await asyncio.to_thread(self._add_swarm, target)
        if self.shards is not None and target.meta is not None:
            self.shards.add_target(target)
        if target.meta is None:
            self._metadata_leads[target.swarm] = lead_queue()
            self._spawn(target.swarm, self._fetch_metadata(target))
        for url in target.trackers:
            self._spawn(target.swarm, self._announcer(target, url))
        if self._dht is not None:
            self._dht.add(target.wire_infohash)

    def add_shard_target(self, target: Target) -> None:
        """A probe process's swarm (``joined_run``), handed by the coordinator with its metainfo: probed
        from now on (leads handed right after it are planned). No swarm row (the coordinator's), no
        announce (the coordinator's), no DHT lookup (the coordinator's)."""
        if self.joined_run is not None and not self._stopping and target.swarm not in self.targets:
            target.trackers = []
            self._adopt(target)

    def _adopt(self, target: Target) -> None:
        self.targets[target.swarm] = target
        self.stats[target.swarm] = SwarmStats(target.swarm, target.name)
        self._by_wire[target.wire_infohash] = target.swarm

    def remove_target(self, swarm: str) -> None:
        """Stop monitoring ``swarm`` at once: announces, metadata fetch and probes are cancelled."""
        target = self.targets.pop(swarm, None)
        if target is None:
            return
        for task in self._swarm_tasks.pop(swarm, set()):
            task.cancel()
        self.plan.forget(swarm)
        for key in [k for k in self._runs if k[0] == swarm]:
            del self._runs[key]
            self.evidence.tapped.pop(key, None)
        self._by_wire.pop(target.wire_infohash, None)
        if self._dht is not None:
            self._dht.remove(target.wire_infohash)
        self._metadata_leads.pop(swarm, None)
        self._held.pop(swarm, None)
        self.stats.pop(swarm, None)
        if self.shards is not None:
            self.shards.remove_target(swarm)

    def leases_changed(self, fence: Fence) -> None:
        """The node's lease tokens changed (or its fleet's addresses): the probe processes fence every
        later commit by them."""
        if self.shards is not None:
            self.shards.lease_state(fence, self.fleet_addresses)

    async def load_reference(self, swarm: str, meta: Metainfo, path: str) -> ReferenceLoaded:
        """This node's reference copy of a work ``swarm`` carries backs its block proofs, here and in every
        probe process. Raises InputError: as ``EvidenceSink.load_reference``."""
        loaded = await self.evidence.load_reference(swarm, meta, path)
        if self.shards is not None:
            self.shards.reference(swarm, path)
        return loaded

    def discard_queued(self, swarm: str) -> int:
        """Drop the records of ``swarm`` not committed yet (its lease is lost: they could not be sealed,
        and must not be sealed under a later lease of the same swarm); returns how many."""
        if self.shards is not None:  # the probe processes' queues too (not counted here)
            self.shards.discard_queued(swarm)
        writer = self.evidence.writer
        return 0 if writer is None else writer.drop_swarms(frozenset({swarm}))

    async def _fetch_metadata(self, t: Target) -> None:
        """BEP 9 as in a plain run, then :attr:`on_metadata` (the node loads its reference copies)."""
        await super()._fetch_metadata(t)
        if t.meta is not None and t.swarm in self.targets and self.shards is not None:
            self.shards.add_target(t)
        if t.meta is not None and t.swarm in self.targets and self.on_metadata is not None:
            await self.on_metadata(t)

    def _spawn(self, swarm: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)  # cancelled and awaited by the run's shutdown
        tasks = self._swarm_tasks.setdefault(swarm, set())
        tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(tasks.discard)

    def _start_probe(self, key: PeerKey, now: int) -> None:
        before = set(self._tasks)
        super()._start_probe(key, now)
        for task in self._tasks - before:  # the probe task just created: cancelled with its swarm
            tasks = self._swarm_tasks.setdefault(key[0], set())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    def discovered(
        self, swarm: str, peers: Sequence[tuple[str, int, bytes | None]], source: Source, detail: str
    ) -> None:
        if swarm in self.targets:  # a late lead of a removed swarm is dropped
            peers = [p for p in peers if p[0] not in self.fleet_addresses]
            super().discovered(swarm, peers, source, detail)

    def _inbound_run(self, wire_infohash: bytes, ip: str, port: int) -> ProbeRun | None:
        if ip in self.fleet_addresses:  # another node of the fleet probing us: not a peer
            return None
        return super()._inbound_run(wire_infohash, ip, port)

    def _inbound_done(self, run: ProbeRun, obs: Observation) -> None:
        if obs.infohash in self.targets:  # an inbound peer of a removed swarm finished after it left
            super()._inbound_done(run, obs)
