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

from swarmscope.net.http_tracker_client import MAX_BODY, ContentEncodingError, Inflater

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
