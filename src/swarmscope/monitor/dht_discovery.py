"""Peer discovery through the Mainline DHT for the monitored swarms (BEP 5, BEP 32).

Runs an iterative ``get_peers`` lookup per swarm at start and then every ``interval`` seconds, announcing our
listen port to the closest nodes when we accept inbound connections. A lookup that finds no peer (or
fails) is retried sooner, after ``RETRY_FIRST`` seconds doubling up to ``interval``: a fresh routing table
or a lost reply must not leave a swarm (a magnet with no tracker above all) without a lead for the whole
interval. A DHT listing is never evidence: the
peers it names are handed to the monitor with source ``dht`` and probed like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from swarmscope.wire.dht_lookup import LookupResult
from swarmscope.wire.types import Endpoint

if TYPE_CHECKING:
    from swarmscope.net.dht_node import DhtNode

log = logging.getLogger("swarmscope.monitor.dht")
Address = tuple[str, int]
RETRY_FIRST = 5.0  # seconds before an empty or failed lookup is repeated; doubles up to ``interval``


def os_reason(exc: BaseException) -> str:
    """The OS's words for a failed socket call: the first ``strerror`` along the exception's causes.

    uvloop wraps the OS error (``OSError("could not bind to local_addr ...")`` with no errno) and keeps
    the original as ``__cause__``; asyncio's own loop raises the original. Falls back to ``str(exc)``.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    return str(exc)


class DhtUnusable(Exception):
    """Our DHT node is bound but can never meet another node (no bootstrap node resolves)."""


class DhtDiscovery:
    """One DHT node shared by every monitored swarm.

    Args:
        bind: UDP address of our node (same port number as the TCP listener, as clients do; a free
            port when that one is taken, see :meth:`open`).
        bootstrap: nodes to join through (production: the public routers; tests: a local node).
        infohashes: wire infohashes (20 bytes) to look up.
        on_peers: called with ``(wire infohash, peers)`` for each lookup result; must not block.
        on_estimate: called with ``(wire infohash, seeds, peers)`` BEP 33 swarm-size estimates.
        announce_port: TCP port announced to the closest nodes (None: do not announce, BEP 5).
        interval: seconds between lookups of one infohash. read_only: BEP 43.
    """

    def __init__(
        self,
        *,
        bind: Address,
        bootstrap: list[Address],
        infohashes: list[bytes],
        on_peers: Callable[[bytes, list[Endpoint]], None],
        announce_port: int | None,
        on_estimate: Callable[[bytes, float | None, float | None], None] | None = None,
        interval: float = 300.0,
        read_only: bool = False,
    ) -> None:
        from swarmscope.net.dht_node import DhtNode  # here: a probe process of the monitor runs no DHT node

        self.node: DhtNode = DhtNode(bind=bind, bootstrap=bootstrap, read_only=read_only)
        self.infohashes = infohashes
        self.on_peers = on_peers
        self.on_estimate = on_estimate
        self.announce_port = announce_port
        self.interval = interval
        self.lookups = 0
        self.errors = 0  # failed lookups (OSError, timeout) of the run
        self.last_error: str | None = None
        self._tasks: dict[bytes, asyncio.Task[None]] = {}

    async def open(self) -> str | None:
        """Bind our node's UDP port and join the DHT through the bootstrap nodes; no lookup starts yet.

        When the asked port cannot be ours (another client or monitor holds it, or it is not permitted)
        the node takes a free port instead, and the line saying so is returned (else None). Whether the
        port was the problem is decided by binding a free port on the same address, never by the errno
        alone: uvloop raises ``OSError("could not bind to local_addr ...")`` with no errno (the errno is
        on its ``__cause__``), asyncio's loop the bare ``EADDRINUSE``. Our node is then reached on that
        UDP port; ``announce_peer`` still names ``announce_port``, the TCP port peers dial, and never sets
        ``implied_port`` (BEP 5: ``port`` is the peer's TCP port; ``implied_port`` would make the storing
        node take our UDP source port instead, where no peer listens).

        Raises:
            OSError: not even a free UDP port can be bound on the address (e.g. no such local address);
                the error of the asked port.
            DhtUnusable: none of the bootstrap nodes resolves to an address of our family, so our node
                can never meet another one (the node is closed).
        """
        host, port = self.node.bind
        notice = None
        try:
            await self.node.start()
        except OSError as exc:
            self.node.stop()
            if port == 0:
                raise
            self.node.bind = (host, 0)
            try:
                await self.node.start()
            except OSError:
                self.node.stop()
                self.node.bind = (host, port)
                raise exc from None
            notice = (
                f"DHT: UDP port {port} is taken ({os_reason(exc)}); "
                f"our DHT node uses UDP port {self.node.address[1]} instead"
            )
        if not self.node.bootstrap:
            self.node.stop()
            raise DhtUnusable("none of the DHT bootstrap nodes resolves to an address")
        return notice

    def start(self) -> None:
        """Start one lookup loop per infohash (after :meth:`open`)."""
        for infohash in self.infohashes:
            self.add(infohash)

    @property
    def looked_up(self) -> frozenset[bytes]:
        """The wire infohashes whose lookup loop runs now."""
        return frozenset(self._tasks)

    def add(self, infohash: bytes) -> None:
        """Look up one more swarm (a fleet node's newly leased one), from now on; no-op when known."""
        if infohash not in self._tasks:
            self._tasks[infohash] = asyncio.create_task(self._loop(infohash))

    def remove(self, infohash: bytes) -> None:
        """Stop looking up ``infohash`` (a fleet node's lease is gone); a lookup in flight is cancelled."""
        task = self._tasks.pop(infohash, None)
        if task is not None:
            task.cancel()

    async def _loop(self, infohash: bytes) -> None:
        retry = RETRY_FIRST
        while True:
            found = False
            try:
                result: LookupResult = await self.node.lookup(infohash, announce_port=self.announce_port)
                self.lookups += 1
                if result.peers:
                    found = True
                    self.on_peers(infohash, list(result.peers))
                if self.on_estimate is not None:  # separate: libtorrent answers a scrape with blooms only
                    sized = await self.node.lookup(infohash, scrape=True)
                    if sized.seeds_estimate is not None or sized.peers_estimate is not None:
                        self.on_estimate(infohash, sized.seeds_estimate, sized.peers_estimate)
            except (OSError, TimeoutError) as exc:
                self.errors += 1
                self.last_error = f"DHT lookup failed: {exc}"
                log.warning("%s", self.last_error)
            if found:
                retry = RETRY_FIRST
                await asyncio.sleep(self.interval)
            else:
                await asyncio.sleep(min(retry, self.interval))
                retry = min(retry * 2, self.interval)

    async def stop(self) -> None:
        """Cancel the lookup loops and close the node."""
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.node.stop()
