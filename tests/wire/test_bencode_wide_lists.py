"""Bencode of many tiny values (``le`` is an empty list in 2 bytes, a 56-byte list and an 8-byte slot in
CPython) must be decoded or refused in memory bounded by a small multiple of its size.

libtorrent bounds the same decode by tokens (``bdecode(..., depth_limit = 100, token_limit = 2000000)``,
one 8-byte token per value); the bundle's JSON files are held to 16 times their size plus 1 MiB
(``evidence/bundle/json_bound.py``). A 1 MiB extension handshake of empty lists costs ~34 MiB (and about
2 s of the event loop), a 4 MiB tracker reply ~130 MiB and 3 to 6 s, a 624-byte capture in a hostile
bundle (zlib-compressed 600 KB body) ~19 MiB, and one at the 256 MiB body bound about 8 GiB.
"""

from __future__ import annotations

import tracemalloc
import zlib

from swarmscope.errors import DecodeError
from swarmscope.evidence.capture.decode import decode_capture
from swarmscope.evidence.capture.format import MAGIC, VERSION
from swarmscope.wire import bencode

FACTOR, SLACK = 16, 1 << 20  # as json_bound.COST_FACTOR and COST_SLACK


def _peak(call: object, arg: bytes) -> int:
    """tracemalloc's peak, in bytes, while ``call(arg)`` decodes or raises DecodeError."""
    tracemalloc.start()
    try:
        call(arg)  # type: ignore[operator]
    except DecodeError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_a_list_of_empty_lists_costs_a_bounded_multiple_of_its_size() -> None:
    raw = b"l" + b"le" * (1 << 17) + b"e"  # 256 KiB
    assert _peak(bencode.decode, raw) <= FACTOR * len(raw) + SLACK


def test_a_capture_of_empty_lists_is_refused_in_bounded_memory() -> None:
    body = b"d1:el" + b"le" * 150_000 + b"ee"
    payload = MAGIC + bytes([VERSION]) + zlib.compress(body, 9)
    data = payload + zlib.crc32(payload).to_bytes(4, "big")  # 333 bytes
    assert _peak(decode_capture, data) <= FACTOR * len(body) + SLACK  # even measured on the inflated body
