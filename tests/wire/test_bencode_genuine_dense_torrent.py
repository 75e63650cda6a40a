"""A genuine torrent of many small files with short names is read, not refused by the cost bound.

It is within libtorrent's default ``load_torrent_limits`` (100 levels, millions of tokens, a buffer of
megabytes: ~1.1 MB and ~240,000 values here), and the values it
decodes to cost under 16 times its size + 1 MiB (``tracemalloc``, checked below), yet the cost weights of
``wire/bencode.py`` (232 bytes per dict of up to 5 keys) over-estimate a v1 ``files`` entry of an empty
file with a short name (``d6:lengthi0e4:pathl4:abcdee``, 27 bytes, weighed ~511) and refuse the torrent.
Review rev12b14.
"""

from __future__ import annotations

import tracemalloc

from bencode2 import bdecode, bencode

from swarmscope.wire import bencode as wire_bencode
from swarmscope.wire.metainfo import parse_metainfo

FILES = 40_000


def _dense_v1() -> bytes:
    """A v1 multi-file torrent: FILES files, names their hex index, one byte in all (one piece)."""
    files = [{b"length": 0, b"path": [b"%x" % i]} for i in range(FILES)]
    files[0][b"length"] = 1
    info = {b"files": files, b"name": b"coll", b"piece length": 1 << 14, b"pieces": b"\x01" * 20}
    return bencode({b"announce": b"http://127.0.0.1:1/announce", b"info": info})


def test_the_dense_torrent_decodes_within_the_stated_bound() -> None:
    raw = _dense_v1()
    tracemalloc.start()
    try:
        bdecode(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= wire_bencode.COST_FACTOR * len(raw) + wire_bencode.COST_SLACK


def test_a_genuine_torrent_of_many_empty_files_is_read() -> None:
    meta = parse_metainfo(_dense_v1())
    assert len(meta.files) == FILES
