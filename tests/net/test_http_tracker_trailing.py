"""A gzip tracker reply that goes on after its gzip member ended: the raw body must be bounded too.

``Inflater`` bounds the decoded size (``MAX_BODY``, 4 MiB), and the client counts only decoded bytes.
Once a gzip (or deflate) member has ended, zlib keeps every further byte in ``unused_data``: it decodes to
nothing, so the cap never trips, and each later read copies all of it again. A hostile tracker that sends a
25-byte member and then streams bytes without end grows the monitor's memory without bound and blocks
its event loop ever longer per read (64 MB of trailing bytes: 56 s of CPU here). RFC 9110 section 8.4.1:
the content coding covers the whole body; bytes after the coded stream are not of the coding.
"""

from __future__ import annotations

import os
import zlib

import pytest

from swarmscope.net.http_tracker_client import MAX_BODY, MAX_GZIP_MEMBERS, ContentEncodingError, Inflater

OK = b"d8:intervali1800e5:peers0:e"
MIB = 1024 * 1024


@pytest.mark.parametrize(("encoding", "wbits"), [("gzip", 31), ("deflate", 15)])
def test_bytes_after_the_coded_stream_are_refused_or_bounded(encoding: str, wbits: int) -> None:
    inflater = Inflater(encoding, MAX_BODY)
    decoded = b"".join(inflater.feed(zlib.compress(OK, wbits=wbits)))
    assert decoded == OK
    junk = os.urandom(64 * 1024)
    with pytest.raises(ContentEncodingError):
        for _ in range((MAX_BODY + MIB) // len(junk)):  # 5 MiB of raw bytes after the member
            for _part in inflater.feed(junk):
                pass


def _decode(inflater: Inflater, pieces: list[bytes]) -> bytes:
    out = b"".join(part for raw in pieces for part in inflater.feed(raw))
    inflater.finish()
    return out


def test_several_gzip_members_decode_as_gunzip_reads_them() -> None:
    """RFC 1952 section 2.2: a gzip file is a series of members; the magic of the second may be split."""
    body = zlib.compress(OK[:10], wbits=31) + zlib.compress(OK[10:], wbits=31)
    first_end = len(zlib.compress(OK[:10], wbits=31))
    assert _decode(Inflater("gzip", MAX_BODY), [body]) == OK
    assert _decode(Inflater("gzip", MAX_BODY), [body[: first_end + 1], body[first_end + 1 :]]) == OK


@pytest.mark.parametrize(("encoding", "wbits", "cut"), [("gzip", 31, 8), ("gzip", 31, 3), ("deflate", 15, 4)])
def test_a_body_cut_inside_its_coded_stream_is_refused(encoding: str, wbits: int, cut: int) -> None:
    """The CRC-32 and length trailer (gzip) or Adler-32 (zlib) is never skipped: a cut body is a fault."""
    body = zlib.compress(OK, wbits=wbits)[:-cut]
    inflater = Inflater(encoding, MAX_BODY)
    for _part in inflater.feed(body):
        pass
    with pytest.raises(ContentEncodingError, match="cut short"):
        inflater.finish()


def test_a_lone_magic_byte_after_a_member_is_refused_at_the_end() -> None:
    inflater = Inflater("gzip", MAX_BODY)
    assert b"".join(inflater.feed(zlib.compress(OK, wbits=31) + b"\x1f")) == OK
    with pytest.raises(ContentEncodingError, match="cut short"):
        inflater.finish()


def test_gzip_members_are_bounded() -> None:
    member = zlib.compress(b"", wbits=31)
    with pytest.raises(ContentEncodingError, match="after the end"):
        _decode(Inflater("gzip", MAX_BODY), [member * (MAX_GZIP_MEMBERS + 1)])
    assert _decode(Inflater("gzip", MAX_BODY), [member * MAX_GZIP_MEMBERS]) == b""


def test_a_second_member_after_deflate_is_refused() -> None:
    with pytest.raises(ContentEncodingError, match="after the end"):
        _decode(Inflater("deflate", MAX_BODY), [zlib.compress(OK) + zlib.compress(OK, wbits=31)])


@pytest.mark.parametrize("wbits", [15, -15])
@pytest.mark.parametrize("read", [1, 2, 3, 1000])
def test_deflate_decodes_the_same_whatever_the_reads(wbits: int, read: int) -> None:
    """RFC 9110 section 8.4.1.2: ``deflate`` zlib-wrapped (RFC 1950) or raw (RFC 1951), told apart by the
    first 2 bytes however the body is cut into reads (a raw body whose first read was 1 byte was refused)."""
    body = zlib.compress(OK, wbits=wbits)
    pieces = [body[i : i + read] for i in range(0, len(body), read)]
    assert _decode(Inflater("deflate", MAX_BODY), pieces) == OK


def test_a_deflate_body_of_one_byte_is_refused_at_the_end() -> None:
    inflater = Inflater("deflate", MAX_BODY)
    assert b"".join(inflater.feed(b"\x78")) == b""
    with pytest.raises(ContentEncodingError, match="cut short"):
        inflater.finish()
