"""A KRPC datagram past the value cap (``krpc.MAX_VALUES``, 500 as libtorrent's DHT) is dropped as any
undecodable datagram (DHT-04: silently, never answered), in bounded time and memory, and the node goes on:
a genuine reply to a pending query beside it is still matched; each datagram is decoded once."""

from __future__ import annotations

import asyncio
import time
import tracemalloc

import pytest

from swarmscope.net.dht_node import DhtNode
from swarmscope.wire import bencode, krpc
from swarmscope.wire.krpc import Response

ME, PEER = b"m" * 20, ("127.0.0.9", 5555)
WIDE = b"d1:rd2:id20:" + b"a" * 20 + b"5:nodesl" + b"le" * 32_000 + b"ee1:t2:aa1:y1:re"  # 64 KB of []


def _reply(tid: bytes, values: int) -> bytes:
    """A get_peers reply of ``values`` bencode values (11 besides its 6-byte peers)."""
    peers = [bytes([127, 0, 0, 1, 0x1A, i % 256]) for i in range(values - 11)]
    return bencode.encode({b"r": {b"id": b"n" * 20, b"values": peers}, b"t": tid, b"y": b"r"})


@pytest.mark.parametrize("read_only", [False, True])
def test_a_datagram_past_the_cap_is_dropped_and_a_genuine_reply_beside_it_is_matched(read_only: bool) -> None:
    async def run() -> None:
        node = DhtNode(
            bind=("127.0.0.1", 0), node_id=ME, random_bytes=lambda n: b"\x01" * n, read_only=read_only
        )
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        node._pending[(b"aa", PEER)] = future  # type: ignore[assignment]
        tracemalloc.start()
        started = time.process_time()
        for hostile in (WIDE, _reply(b"aa", krpc.MAX_VALUES + 1)):
            node._datagram(hostile, PEER)
        spent = time.process_time() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert node.stats["dropped_decode"] == 2 and not future.done()
        assert spent < 0.05 and peak < 256 << 10, (spent, peak)
        node._datagram(_reply(b"aa", krpc.MAX_VALUES), PEER)  # at the cap: a genuine reply of 489 peers
        result = future.result()
        assert isinstance(result, Response) and len(result.values) == krpc.MAX_VALUES - 11

    asyncio.run(run())


def test_each_datagram_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = bencode.decode_canonical

    def counted(chunk: bytes, max_values: int = bencode.UNBOUNDED) -> object:
        calls.append(len(chunk))
        return real(chunk, max_values)

    monkeypatch.setattr(bencode, "decode_canonical", counted)
    node = DhtNode(bind=("127.0.0.1", 0), node_id=ME, random_bytes=lambda n: b"\x01" * n)
    node._datagram(_reply(b"zz", 20), PEER)  # a reply nobody waits for: decoded, then dropped (DHT-04)
    assert len(calls) == 1
