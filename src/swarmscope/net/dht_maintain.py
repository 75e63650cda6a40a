"""Periodic work of our DHT node: token rotation, peer-store expiry, re-lookups, bucket refresh.

One step a second while the node's socket is open; each step runs at most 4 re-lookups of monitored
infohashes and refreshes at most 2 stale buckets, so a step is bounded by a few lookups' deadlines.

Sources: BEP 5 "Routing Table" (refresh a bucket not changed in 15 minutes with a find_node of a random
id in its range; tokens rotate every 5 minutes), "announce_peer" (stored peers expire).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Protocol

from swarmscope.wire.routing import random_id_in
from swarmscope.wire.types import Endpoint

if TYPE_CHECKING:
    from swarmscope.net.dht_limits import TokenIssuer
    from swarmscope.net.dht_store import PeerStore
    from swarmscope.wire.dht_lookup import LookupResult
    from swarmscope.wire.routing import RoutingTable


class MaintainedNode(Protocol):
    """What the periodic work reads and drives (:class:`swarmscope.net.dht_node.DhtNode` is one)."""

    node_id: bytes
    bootstrap: list[tuple[str, int]]
    routing: RoutingTable
    store: PeerStore
    tokens: TokenIssuer
    monitored: dict[bytes, float]
    relookup_interval: float
    _clock: Callable[[], float]
    _random: Callable[[int], bytes]

    @property
    def running(self) -> bool: ...

    def get_peers(self, info_hash: bytes, *, scrape: bool = False) -> AsyncIterator[list[Endpoint]]: ...

    async def find_node(self, target: bytes) -> LookupResult: ...

    def _discovered(self, info_hash: bytes, peers: list[Endpoint]) -> None: ...


async def maintain(node: MaintainedNode) -> None:
    """Run the periodic work until the node's socket is closed (one step a second, bounded as above)."""
    while node.running:
        await asyncio.sleep(1.0)
        now = node._clock()
        node.tokens.rotate_if_due(node._random(20), now)
        node.store.expire(now)
        due = [ih for ih, last in node.monitored.items() if now - last >= node.relookup_interval]
        for info_hash in due[:4]:
            node.monitored[info_hash] = now
            async for peers in node.get_peers(info_hash):
                node._discovered(info_hash, peers)
        if not len(node.routing) and node.bootstrap:
            await node.find_node(node.node_id)
        for bucket in node.routing.stale_buckets(now)[:2]:
            bucket.changed = now
            await node.find_node(random_id_in(bucket, node._random(20)))
