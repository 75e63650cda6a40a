"""A hostile bundle whose ``metainfo/<ih>.torrent`` or capture is bencode of millions of empty lists:
``swarmscope verify`` refuses it in one problem line, in memory bounded by the decoder's cost bound
(16 times the input + 1 MiB, ``wire/bencode.py``), never decoding it (``le`` is 2 bytes and 64 once
built: a 16 MiB torrent of them took verify from 175 to 782 MB of RSS)."""

from __future__ import annotations

import tracemalloc
import zlib

from swarmscope.evidence.bundle.verify import Verdict, verify_bundle
from swarmscope.evidence.capture.format import MAGIC, VERSION
from tests.evidence.test_bundle import build, make_world

FILES = build(make_world())
WIDE = b"d4:infol" + b"le" * (1 << 20) + b"ee"  # 2 MiB: 64 MiB once decoded


def _verify(files: dict[str, bytes]) -> tuple[Verdict, int]:
    tracemalloc.start()
    try:
        verdict = verify_bundle(files)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return verdict, peak


def test_a_torrent_of_empty_lists_is_one_problem_in_bounded_memory() -> None:
    (path,) = [p for p in FILES if p.startswith("metainfo/")]
    _, baseline = _verify(dict(FILES))
    verdict, peak = _verify({**FILES, path: WIDE})
    named = [p.message for p in verdict.problems if p.check == "metainfo"]
    assert len(named) == 1 and "would allocate over" in named[0] and "\n" not in named[0], named
    assert peak - baseline < 8 << 20, (peak, baseline)  # decoded, the lists alone would be 64 MiB


def test_a_capture_inflating_to_empty_lists_is_refused_in_bounded_memory() -> None:
    (path, *_) = sorted(p for p in FILES if p.startswith("captures/"))
    body = b"d1:el" + b"le" * 1_000_000 + b"ee"  # 2 MB inflated, 64 MB decoded
    payload = MAGIC + bytes([VERSION]) + zlib.compress(body, 9)
    _, baseline = _verify(dict(FILES))
    verdict, peak = _verify({**FILES, path: payload + zlib.crc32(payload).to_bytes(4, "big")})
    assert not verdict.ok  # its hash no longer matches (the decoder's own bound: test_bencode_wide_lists)
    assert peak - baseline < 16 * len(body) + (1 << 20), (peak, baseline)
