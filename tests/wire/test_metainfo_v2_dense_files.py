"""A genuine v2 or hybrid torrent of many empty files is read, not refused by the cost bound.

Review rev13a14: the torrent's bound is 32 times the file + 1 MiB (``metainfo.COST_FACTOR``), but a
meta version 2 info dict is weighed again by ``has_unsorted_keys`` at the default 16 times. A v2 file
tree entry of an empty file (``3:abcd0:d6:lengthi0eee``, 22 bytes) decodes to about 25 times its size
(``tracemalloc`` below), so 3,000 empty files (a 66 KB torrent libtorrent reads) are refused.

At 32 times the weights refused a v2 torrent of 20,000 empty files each in a folder of its own
(``4:abcdd1:0d0:d6:lengthi0eeee``, 28 bytes, weighed ~950): its decode allocates about 28 times its size,
and libtorrent reads it; each folder level more is a one-key dict of ~5 bytes (~45 times). The torrent's
bound is now 64 times; a chain of 8 folders per file is read too.
"""

from __future__ import annotations

import hashlib
import tracemalloc
from typing import Any

import pytest
from bencode2 import bdecode, bencode

from swarmscope.wire import metainfo
from swarmscope.wire.metainfo import parse_metainfo

lt = pytest.importorskip("libtorrent")

FILES = 3_000  # empty files side by side
FOLDERS = 20_000  # empty files, each in a folder of its own


def _v2(files: int, folders: int, hybrid: bool = False) -> bytes:
    """A v2 (or hybrid) torrent of ``files`` empty files named by their hex index (each under a chain of
    ``folders`` folders of its own) and one 1-byte file ``zz`` (a one-block file's pieces root is the
    SHA-256 of its bytes, BEP 52; no piece layer below the piece length)."""
    tree: dict[bytes, Any] = {}
    for i in range(files):
        leaf: dict[bytes, Any] = {b"": {b"length": 0}}
        for level in range(folders):
            leaf = {b"%d" % level: leaf}
        tree[b"%x" % i] = leaf
    tree[b"zz"] = {b"": {b"length": 1, b"pieces root": hashlib.sha256(b"x").digest()}}
    info: dict[bytes, Any] = {
        b"file tree": tree,
        b"meta version": 2,
        b"name": b"coll",
        b"piece length": 1 << 14,
    }
    if hybrid:  # the same files in v1 order (sorted paths), the empty ones first
        names = sorted([b"%x" % i for i in range(files)] + [b"zz"])
        info[b"files"] = [{b"length": int(n == b"zz"), b"path": [n]} for n in names]
        info[b"pieces"] = hashlib.sha1(b"x" + bytes((1 << 14) - 1)).digest()
    return bencode({b"info": info, b"piece layers": {}})


@pytest.mark.parametrize(("files", "folders"), [(FILES, 0), (FOLDERS, 1), (FOLDERS, 8)])
def test_the_dense_v2_torrent_is_genuine_and_decodes_within_the_torrent_bound(
    files: int, folders: int
) -> None:
    raw = _v2(files, folders)
    assert lt.torrent_info(lt.bdecode(raw)).num_files() >= files + 1
    tracemalloc.start()
    try:
        bdecode(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= metainfo.COST_FACTOR * len(raw) + (1 << 20)


@pytest.mark.parametrize("hybrid", [False, True])
def test_a_genuine_v2_or_hybrid_torrent_of_many_empty_files_is_read(hybrid: bool) -> None:
    raw = _v2(FILES, folders=0, hybrid=hybrid)
    assert lt.torrent_info(lt.bdecode(raw)).num_files() >= FILES + 1
    assert len(parse_metainfo(raw).files) >= FILES + 1


@pytest.mark.parametrize("folders", [1, 8])
def test_a_genuine_v2_torrent_of_empty_files_in_folders_of_their_own_is_read(folders: int) -> None:
    assert len(parse_metainfo(_v2(FOLDERS, folders)).files) >= FOLDERS + 1
