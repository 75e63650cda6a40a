"""The HTTP tracker client's body cap holds for the decoded size: a gzip bomb from a loopback tracker.

A tracker reply is a few KiB; ``MAX_BODY`` (4 MiB) caps it. Inflating a whole network read before checking
the cap let 500 KB of gzip (512 MiB of zeros) cost 64 MiB per read; the client now inflates at most the cap
plus one byte at a time (zlib ``max_length``).
"""

from __future__ import annotations

import random
import tracemalloc
import zlib

import pytest

from swarmscope.net.http_tracker_client import (
    MAX_BODY,
    ContentEncodingError,
    HttpReply,
    HttpTrackerClient,
    Inflater,
)
from swarmscope.net.tracker_client import TrackerClient
from swarmscope.wire.tracker import TrackerFault
from tests.net.scripted_tracker import Reply, scripted_tracker

IH = bytes.fromhex("00112233445566778899aabbccddeeff00112233")
OK = b"d8:intervali1800e5:peers6:\x7f\x00\x00\x07\x1a\xe1e"  # 127.0.0.7:6881
MIB = 1024 * 1024


def compressed(size: int, wbits: int) -> bytes:
    """``size`` zero bytes compressed at level 9 without ever holding them (gzip: wbits 31)."""
    z = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = bytes(MIB)
    return b"".join(z.compress(block) for _ in range(size // MIB)) + z.flush()


async def test_a_gzip_bomb_costs_the_cap_not_the_inflated_size() -> None:
    """512 MiB of zeros as ~500 KB of gzip: a fault naming the cap, and under 24 MiB of Python memory at
    peak (the cap, one inflated piece of cap + 1 bytes, the raw reads); it was ≈ 150 MB."""
    bomb = compressed(512 * MIB, 31)
    assert len(bomb) < MIB
    reply = Reply(bomb, headers={"Content-Encoding": "gzip"})
    with scripted_tracker({"/announce": [reply]}) as tracker:
        client = TrackerClient(b"-SS0100-gzipbombtest", "127.0.0.1", 10.0, random.Random(1))
        tracemalloc.start()
        try:
            out = await client.announce(
                tracker.base + "/announce", client.make_request(IH, port=6881, left=-1)
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            await client.aclose()
    assert not out.ok and out.error is not None and f"body larger than {MAX_BODY} bytes" in out.error, out
    assert peak < 24 * MIB, peak / MIB


@pytest.mark.parametrize(("encoding", "body"), [
    ("gzip", zlib.compress(OK, wbits=31)),
    ("x-gzip", zlib.compress(OK, wbits=31)),
    ("deflate", zlib.compress(OK)),
    ("deflate", zlib.compress(OK, wbits=-15)),  # raw deflate, as some servers send it
    ("identity", OK),
    ("", OK),
])  # fmt: skip
async def test_encoded_bodies_are_decoded(encoding: str, body: bytes) -> None:
    headers = {"Content-Encoding": encoding} if encoding else {}
    with scripted_tracker({"/announce": [Reply(body, headers=headers, chunked=True)]}) as tracker:
        client = HttpTrackerClient(bind_ip="127.0.0.1", timeout=10.0)
        try:
            reply = await client.get(tracker.base + "/announce")
        finally:
            await client.aclose()
    assert isinstance(reply, HttpReply) and reply.body == OK, reply


@pytest.mark.parametrize("encoding", ["br", "gzip, deflate", "compress"])
async def test_unknown_or_stacked_encodings_are_a_fault(encoding: str) -> None:
    with scripted_tracker({"/announce": [Reply(OK, headers={"Content-Encoding": encoding})]}) as tracker:
        client = HttpTrackerClient(bind_ip="127.0.0.1", timeout=10.0)
        try:
            reply = await client.get(tracker.base + "/announce")
        finally:
            await client.aclose()
    assert isinstance(reply, TrackerFault) and reply.error.startswith("bad content encoding: unsupported")


def test_the_inflater_yields_pieces_of_at_most_the_bound() -> None:
    inflater = Inflater("gzip", 1000)
    bomb = compressed(8 * MIB, 31)
    sizes = [len(p) for i in range(0, len(bomb), 4096) for p in inflater.feed(bomb[i : i + 4096])]
    assert sum(sizes) == 8 * MIB and max(sizes) <= 1001
    with pytest.raises(ContentEncodingError):
        list(Inflater("gzip", 1000).feed(b"not gzip at all"))


async def test_a_gzip_reply_cut_before_its_trailer_is_a_fault() -> None:
    """The client checks the coded stream ended with the body (``Inflater.finish``): a cut gzip reply."""
    cut = Reply(zlib.compress(OK, wbits=31)[:-8], headers={"Content-Encoding": "gzip"})
    with scripted_tracker({"/announce": [cut]}) as tracker:
        client = HttpTrackerClient(bind_ip="127.0.0.1", timeout=10.0)
        try:
            reply = await client.get(tracker.base + "/announce")
        finally:
            await client.aclose()
    assert isinstance(reply, TrackerFault) and "cut short" in reply.error, reply
