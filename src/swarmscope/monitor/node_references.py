"""A fleet node's reference copies: block proofs for a leased swarm from THIS node's copy of each work.

Reference copies are node-local (README "Node-local paths"): a leased swarm that carries a work with
reference content (linked by ``works link``, or named by ``fleet add --work``) gets block proofs from the
node's copy of it (work id → path, checked against the work's stored SHA-256 when the node started), read
beside the lease rounds (hashing a film's copy takes longer than a lease) and, for a magnet, once BEP 9
brought its metainfo; without one the node says so in one line and monitors the swarm without them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from swarmscope.errors import SwarmscopeError
from swarmscope.monitor.fleet_monitor import FleetMonitor
from swarmscope.monitor.targets import Target
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.registry import FleetSwarm
from swarmscope.store.legal.cases import swarm_reference_works


class NodeReferences:
    """Reads the reference copies of the works of the swarms a node leases (module docstring).

    Args:
        fleet: the fleet tables (the works a swarm carries). monitor: the node's monitor (loads a copy into
        its evidence sink and probe processes). references: work id → path on this node. on_event: one line
        per work: what its copy gave, or why it gives nothing here.
    """

    def __init__(
        self,
        fleet: Fleet,
        monitor: FleetMonitor,
        references: Mapping[int, str],
        on_event: Callable[[str], None],
    ) -> None:
        self.fleet, self.monitor, self.references, self.on_event = fleet, monitor, dict(references), on_event
        self.loading: set[asyncio.Task[None]] = set()  # copies being read (not in the lease round)
        self._magnets: dict[str, FleetSwarm] = {}  # leased magnets whose works wait for their metainfo

    def read(self, swarm: FleetSwarm, target: Target) -> None:
        """Read the copies of ``swarm``'s works in the background."""
        task = asyncio.create_task(self._load_references(swarm, target))
        self.loading.add(task)
        task.add_done_callback(self.loading.discard)

    def metadata_known(self, target: Target, leased: bool) -> None:
        """A magnet's info dict arrived (BEP 9): its works' copies are read now, if still ``leased``."""
        swarm = self._magnets.pop(target.swarm, None)
        if swarm is not None and leased:
            self.read(swarm, target)

    def forget(self, swarm: str) -> None:
        """``swarm`` is no longer leased: no copy waits for its metainfo."""
        self._magnets.pop(swarm, None)

    def cancel(self) -> None:
        """Stop every read under way (the node stops)."""
        for task in self.loading:
            task.cancel()

    async def _load_references(self, swarm: FleetSwarm, target: Target) -> None:
        try:
            works = await asyncio.to_thread(
                swarm_reference_works, self.fleet.store, swarm.infohash, swarm.work
            )
        except SwarmscopeError as exc:
            self.on_event(f"works of {swarm.infohash} not read, no reference copy used: {exc}")
            return
        for work in works:
            label, path = f"work {work.id} ({work.title})", self.references.get(work.id)
            if path is None:
                self.on_event(
                    f"no reference copy of {label} on this node: {swarm.infohash} is monitored without block"
                    f" proofs from it (swarmscope node --reference {work.id}=PATH)"
                )
            elif target.meta is None:
                self._magnets[swarm.infohash] = swarm
                self.on_event(
                    f"reference copy of {label} waits for magnet {swarm.infohash}'s metainfo (BEP 9)"
                )
            else:
                await self._load_reference(swarm.infohash, target, label, path)

    async def _load_reference(self, infohash: str, target: Target, label: str, path: str) -> None:
        assert target.meta is not None
        try:
            loaded = await self.monitor.load_reference(infohash, target.meta, path)
        except SwarmscopeError as exc:
            self.on_event(f"reference copy of {label} at {path} unusable for {infohash}: {exc}")
            return
        self.on_event(
            f"reference copy of {label} at {path}: {len(loaded.kept)} pieces back block proofs of {infohash}"
            f" ({loaded.verified} verified, {loaded.mismatched} mismatched, {loaded.missing} missing)"
        )
