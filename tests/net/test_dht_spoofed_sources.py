"""Our DHT node is no reflector, whatever the number of source addresses a query flood claims.

The hostile suite's query flood (tests/hostile/test_dht.py, 200 sources) is held by the per-address limit
(burst 50 + 20/s), which remembers 10,000 addresses (``AddressLimiter.max_addresses``). UDP source
addresses can be forged: a flood from more addresses than that (here 12,000, each asking twice within 2 s)
got every query answered, a get_peers answer of a node with a full routing table (``id``, 8 ``nodes``,
``token``, ~300 bytes) for a ~95-byte query, 3.2 times the bytes at the forged victims. Now a node-wide
byte budget (``DhtNode(answer_bytes_per_second=8000, answer_burst_bytes=24000)``, libtorrent's
``dht_upload_rate_limit`` and 3 s of burst) bounds answers, error replies and verification pings.
Stated bound (README "Resource bounds", tests/hostile/README.md): fewer bytes out than in, and at most
burst + rate x seconds + one datagram. An honest rate well under the budget is answered in full.
In process: the node's datagram handler, a transport that counts what would be sent; no socket.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from swarmscope.net.dht_node import DhtNode
from swarmscope.wire import krpc

SOURCES = 12_000
RATE, BURST = 8_000.0, 24_000.0  # the defaults, bytes per second and bytes


class _Counting:
    """A transport standing in for the UDP socket: counts datagrams and bytes, sends nothing."""

    def __init__(self) -> None:
        self.sent = 0
        self.bytes = 0
        self.to: list[tuple[str, int]] = []
        self.address = ("127.0.0.1", 6881)

    def sendto(self, data: bytes, address: tuple[str, int]) -> None:
        self.sent += 1
        self.bytes += len(data)
        self.to.append(address)

    def close(self) -> None:
        """Nothing to close."""


def _node(clock: list[float]) -> tuple[DhtNode, _Counting]:
    """A node with a routing table as full as a node's after a while on the DHT, on a counting transport."""
    node = DhtNode(("127.0.0.1", 6881), clock=lambda: clock[0], query_timeout=0.01)
    transport = _Counting()
    node._transport = transport  # type: ignore[assignment]
    for i in range(64):
        node.routing.observe_response(os.urandom(20), (f"10.9.{i}.1", 6881), clock[0])
    return node, transport


def _get_peers(sender: bytes | None = None) -> bytes:
    query = krpc.Query(os.urandom(2), krpc.GET_PEERS, sender or os.urandom(20), info_hash=os.urandom(20))
    return krpc.encode_message(query)


def test_a_flood_from_forged_sources_gets_no_more_bytes_back_than_it_sent() -> None:
    async def flood() -> tuple[int, int, DhtNode]:
        clock = [1_000.0]
        node, transport = _node(clock)
        received = 0
        for _ in range(2):
            for i in range(SOURCES):
                data = _get_peers()
                received += len(data)
                node._datagram(data, (f"127.{1 + (i >> 16)}.{i >> 8 & 255}.{i & 255}", 6881))
                clock[0] += 1 / SOURCES  # the whole flood in 2 s
        node.stop()
        await asyncio.sleep(0)
        return received, transport.bytes, node

    received, sent, node = asyncio.run(flood())
    assert sent <= received, f"{sent} bytes answered for {received} bytes of queries"
    assert sent <= BURST + RATE * 2 + 1_500, sent  # burst + rate x seconds + one datagram
    assert node.stats["dropped_budget"] > 20_000 and node.stats["dropped_rate"] == 0, node.stats
    assert node.stats["answered"] < 200, node.stats  # and at most 16 verification pings at once


def test_an_honest_rate_well_under_the_budget_is_answered_in_full() -> None:
    """16 nodes asking get_peers once a second each for 5 minutes (~5,000 B/s of answers, their first
    queries also trigger a verification ping each): every query is answered, nothing is dropped."""

    async def honest() -> tuple[int, DhtNode]:
        clock = [1_000.0]
        node, transport = _node(clock)
        senders = [os.urandom(20) for _ in range(16)]
        asked = 0
        for _ in range(300):
            for i, sender in enumerate(senders):
                node._datagram(_get_peers(sender), (f"127.0.3.{i + 1}", 6881))
                asked += 1
                clock[0] += 1 / len(senders)
        node.stop()
        await asyncio.sleep(0)
        assert transport.bytes < RATE * 300, transport.bytes  # it was an honest rate
        return asked, node

    asked, node = asyncio.run(honest())
    assert node.stats["answered"] == asked, node.stats
    assert node.stats["dropped_budget"] == node.stats["dropped_rate"] == 0, node.stats
    assert node.stats["verify_over_budget"] == 0, node.stats


def test_our_own_queries_are_not_charged_to_the_answer_budget() -> None:
    """A flood that empties the answer budget cannot silence our own lookups: queries we send take only
    the budget of queries we send (``queries_per_second``)."""

    async def run() -> int:
        clock = [1_000.0]
        node, transport = _node(clock)
        for i in range(2_000):  # empties the answer budget, clock standing still
            node._datagram(_get_peers(), (f"127.5.{i >> 8}.{i & 255}", 6881))
        assert node.stats["dropped_budget"] > 0
        await asyncio.gather(*(node.ping((f"10.9.{i}.1", 6881)) for i in range(8)))  # 0.01 s timeouts
        node.stop()
        return sum(host.startswith("10.9.") for host, _ in transport.to)

    assert asyncio.run(run()) == 8


@pytest.mark.parametrize(
    "rate, burst", [(0.0, 24_000.0), (float("nan"), 1.0), (8_000.0, float("inf")), (8_000.0, -1.0)]
)
def test_an_answer_budget_out_of_range_is_refused_in_one_line(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match=r"^DHT answer budget: .* must be finite and > 0, not"):
        DhtNode(answer_bytes_per_second=rate, answer_burst_bytes=burst)
