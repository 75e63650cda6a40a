"""The HTTP body Inflater keeps its raw-deflate fallback (RFC 9110 section 8.4.1.2: some servers send
``Content-Encoding: deflate`` without the zlib wrapper) whatever the reads' sizes: a first read of 1 byte
cannot fail zlib's 2-byte header check (RFC 1950 section 2.2), so the Inflater stays "not started" until
zlib has taken both header bytes, and replays them into the raw decoder when the check fails.

Found by hypothesis with ``payload=b'', cuts=[1]`` (raw deflate of nothing, read 1 byte then the rest).
"""

from __future__ import annotations

import zlib

import pytest

from swarmscope.net.http_tracker_client import ContentEncodingError, Inflater


def _raw_deflate(payload: bytes) -> bytes:
    coder = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return coder.compress(payload) + coder.flush()


def _inflate(body: bytes, cuts: list[int], max_out: int = 1 << 20) -> bytes:
    """Feed ``body`` to a deflate Inflater in reads cut at ``cuts``; the decoded bytes."""
    inflater = Inflater("deflate", max_out)
    out = bytearray()
    pos = 0
    for cut in [*sorted(cuts), len(body)]:
        for piece in inflater.feed(body[pos:cut]):
            out += piece
        pos = cut
    inflater.finish()
    return bytes(out)


def test_the_hypothesis_vector_raw_deflate_of_nothing_read_one_byte_first() -> None:
    assert _inflate(_raw_deflate(b""), [1]) == b""


@pytest.mark.parametrize("payload", [b"", b"d8:intervali1800e5:peers0:e", bytes(range(256)) * 8])
@pytest.mark.parametrize("wrap", ["zlib", "raw"])
def test_every_first_read_size_decodes_both_forms(payload: bytes, wrap: str) -> None:
    body = zlib.compress(payload) if wrap == "zlib" else _raw_deflate(payload)
    for first in range(1, min(len(body), 6)):
        assert _inflate(body, [first]) == payload, (wrap, first)
        assert _inflate(body, list(range(1, min(len(body), 8)))) == payload  # byte by byte at first


def test_garbage_is_still_refused_after_a_one_byte_read() -> None:
    with pytest.raises(ContentEncodingError):
        _inflate(b"\xff\xff\xff\xff\xff", [1])


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_body_of_one_byte_is_a_stream_cut_short(coding: str) -> None:
    inflater = Inflater(coding, 1 << 20)
    assert list(inflater.feed(b"\x1f" if coding == "gzip" else b"\x78")) == []
    with pytest.raises(ContentEncodingError, match="cut short"):
        inflater.finish()
