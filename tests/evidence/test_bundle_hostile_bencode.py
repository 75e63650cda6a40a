"""A hostile bundle whose ``metainfo/<ih>.torrent`` or capture is bencode of millions of empty containers:
``swarmscope verify`` refuses it in one problem line, in memory bounded by the decoder's cost bound
(16 times the input + 1 MiB, ``wire/bencode.py``; a torrent's 64 times, ``wire/metainfo.COST_FACTOR``, and
its 2,000,000 values), never decoding it (``le`` is 2 bytes and 64 once built: a 16 MiB torrent of them
took verify from 175 to 782 MB of RSS; ``de`` is 2 bytes and ~200 once built)."""

from __future__ import annotations

import tracemalloc
import zlib

from swarmscope.evidence.bundle.verify import Verdict, verify_bundle
from swarmscope.evidence.capture.format import MAGIC, VERSION
from tests.evidence.test_bundle import build, make_world

FILES = build(make_world())
WIDE = b"d4:infol" + b"de" * (1 << 20) + b"ee"  # 2 MiB: weighed 232 MiB, over the torrent's 64 times
MANY = b"d4:infol" + b"le" * 2_000_001 + b"ee"  # 4 MB: under 64 times, over the torrent's 2,000,000 values


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
    assert peak - baseline < 8 << 20, (peak, baseline)  # decoded, the dicts alone would be ~200 MiB
    verdict, peak = _verify({**FILES, path: MANY})
    named = [p.message for p in verdict.problems if p.check == "metainfo"]
    assert len(named) == 1 and "values" in named[0] and "\n" not in named[0], named
    assert peak - baseline < 8 << 20, (peak, baseline)  # decoded, the lists alone would be 128 MiB


def test_a_capture_inflating_to_empty_lists_is_refused_in_bounded_memory() -> None:
    (path, *_) = sorted(p for p in FILES if p.startswith("captures/"))
    body = b"d1:el" + b"le" * 1_000_000 + b"ee"  # 2 MB inflated, 64 MB decoded
    payload = MAGIC + bytes([VERSION]) + zlib.compress(body, 9)
    _, baseline = _verify(dict(FILES))
    verdict, peak = _verify({**FILES, path: payload + zlib.crc32(payload).to_bytes(4, "big")})
    assert not verdict.ok  # its hash no longer matches (the decoder's own bound: test_bencode_wide_lists)
    assert peak - baseline < 16 * len(body) + (1 << 20), (peak, baseline)
