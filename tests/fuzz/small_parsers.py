"""Fuzz targets for the small parsers of hostile bytes, and their seeds.

Each reads bytes a remote party chooses and is documented never to raise, so every target's rule is
"returns, never raises" (no allowed error), plus the invariant its contract states:

- ``client_id``: ``wire/client_id.py`` ``identify`` on a peer id (BEP 3 handshake, 20 bytes from the
  peer, any length accepted) and a BEP 10 ``v`` (bytes, or text). Byte 0: the peer id's length (mod 32);
  bit 6: ``v`` absent; bit 7: ``v`` given as text (UTF-8, surrogate-escaped). Source: BEP 20, BEP 10.
- ``mse_classify``: ``wire/mse.py`` ``classify_incoming`` on every prefix of an inbound connection's first
  bytes; once a prefix is decided (PLAINTEXT or ENCRYPTED) every longer prefix gets the same answer.
  Source: Vuze wiki MSE, BEP 3 handshake.
- ``ntp_reply``: ``net/ntp_clock.py`` ``reply_sample`` on a datagram answering our SNTP request. Bytes
  0-3: the monotonic µs elapsed (big-endian); the rest: the reply. A sample either names an error or has an
  offset and a delay, and the era chosen for T2/T3 keeps |offset| under one NTP era (2**32 s).
  Source: RFC 4330 sections 4, 5, 8.
- ``dht_bloom``: ``wire/dht_scrape.py`` ``bloom_union`` and ``bloom_estimate`` as a DHT lookup applies them
  to the BEP 33 ``BFsd``/``BFpe`` of get_peers replies (``wire/dht_lookup.py``): the input cut into
  256-byte filters (a shorter tail is a filter of another size, which the union skips); the union holds
  every filter's bits and each estimate is finite, in [0, 2048·ln 2048 / 2]. Source: BEP 33.
- ``http_body``: ``net/http_tracker_client.py`` ``Inflater`` on an HTTP tracker reply's body, fed as
  ``HttpTrackerClient.get`` feeds it (stop once past the bound, then ``finish``). Byte 0 bits 0-1: the
  ``Content-Encoding`` (0 ``gzip``, 1 ``deflate``, 2 ``deflate`` with raw-deflate seeds, 3 ``identity``);
  bits 2-7: the network reads, of 1-63 bytes each (63: the body in one read); the rest: the body. The
  body decodes to at most :data:`HTTP_MAX_OUT` bytes (pieces of at most the bound + 1) or is refused with
  ``ContentEncodingError``; the outcome does not depend on the reads (the same in one read); an accepted
  body is what the standard library decodes (``gzip.decompress``, ``zlib.decompress``).
  Source: RFC 9110 section 8.4.1, RFC 1950, RFC 1951, RFC 1952 section 2.2.
"""

from __future__ import annotations

import gzip
import math
import zlib
from collections.abc import Iterable

from swarmscope.net.http_tracker_client import ContentEncodingError, Inflater
from swarmscope.net.ntp_clock import PACKET_SIZE, _request, reply_sample
from swarmscope.wire import client_id, mse
from swarmscope.wire.dht_scrape import BLOOM_BITS, BLOOM_BYTES, bloom_estimate, bloom_insert, bloom_union

T1_US = 1_796_000_000_000_000  # 2026-11-29 UTC in µs: when our request left (the evidence clock)
ERA_US = (1 << 32) * 1_000_000  # one NTP era (RFC 5905 section 6) in µs
MAX_ESTIMATE = math.log(1 / BLOOM_BITS) / (2 * math.log(1 - 1 / BLOOM_BITS))  # one zero bit left


def client_id_target(data: bytes) -> None:
    if not data:
        client_id.identify(None)
        return
    head, rest = data[0], data[1:]
    cut = head & 0x1F
    peer_id, v_raw = rest[:cut], rest[cut:]
    v: bytes | str | None = None if head & 0x40 else v_raw
    if v is not None and head & 0x80:
        v = v_raw.decode("utf-8", errors="surrogateescape")
    info = client_id.identify(peer_id or None, v)
    assert isinstance(info, client_id.ClientInfo), "identify returned something else"
    assert info.style, "identify returned no style"


def mse_classify_target(data: bytes) -> None:
    decided: mse.IncomingKind | None = None
    for end in range(min(len(data), 2 * len(mse.PLAIN_HANDSHAKE_PREFIX)) + 1):
        kind = mse.classify_incoming(data[:end])
        if decided is not None:
            assert kind is decided, f"prefix of {end} bytes: {kind} after {decided}"
        elif kind is not mse.IncomingKind.UNDECIDED:
            decided = kind
    mse.classify_incoming(data)


def ntp_reply_target(data: bytes) -> None:
    elapsed_us = int.from_bytes(data[:4], "big")
    sample = reply_sample("127.0.0.1:123", data[4:], t1_us=T1_US, elapsed_us=elapsed_us)
    assert sample.measured_at_us == T1_US + elapsed_us
    if sample.error is None:
        assert sample.offset_us is not None and sample.delay_us is not None, "no error and no offset"
        assert abs(sample.offset_us) <= ERA_US, f"offset {sample.offset_us} µs beyond one NTP era"
    else:
        assert sample.offset_us is None, "an error and an offset"


def dht_bloom_target(data: bytes) -> None:
    filters = [data[i : i + BLOOM_BYTES] for i in range(0, len(data), BLOOM_BYTES)]
    union = bloom_union(filters)
    assert len(union) == BLOOM_BYTES
    for bloom in filters:
        if len(bloom) == BLOOM_BYTES:
            assert all(u | b == u for u, b in zip(union, bloom, strict=True)), "union lost a bit"
            _estimate(bloom)
    _estimate(union)
    if len(data) >= 4:  # our own insert (dht_store) on the union: an IPv4 address from the input
        grown = bytearray(union)
        bloom_insert(grown, ".".join(str(b) for b in data[:4]))
        assert _estimate(bytes(grown)) >= _estimate(union)


def _estimate(bloom: bytes) -> float:
    value = bloom_estimate(bloom)
    assert math.isfinite(value) and 0 <= value <= MAX_ESTIMATE + 1e-9, f"estimate {value}"
    return value


HTTP_CODINGS = ("gzip", "deflate", "deflate", "identity")  # byte 0 bits 0-1
HTTP_MAX_OUT = 16384  # bytes: the target's body bound (the client's is 4 MiB; the same code)
OVER = "over the bound"


def http_body_target(data: bytes) -> None:
    if not data:
        return
    coding, read = HTTP_CODINGS[data[0] & 3], (data[0] >> 2) + 1
    body = data[1:]
    whole = _inflate(coding, [body])
    if read < 64:
        parts = _inflate(coding, (body[i : i + read] for i in range(0, len(body), read)))
        assert parts == whole, f"{read}-byte reads: {_outcome(parts)}; one read: {_outcome(whole)}"
    if isinstance(whole, bytes):
        assert whole == _reference(coding, body), "accepted, but not what the standard library decodes"


def _inflate(coding: str, reads: Iterable[bytes]) -> bytes | str | None:
    """The body as ``HttpTrackerClient.get`` reads it: its bytes, :data:`OVER`, or None (refused)."""
    inflater = Inflater(coding, HTTP_MAX_OUT)
    out = bytearray()
    try:
        for raw in reads:
            for piece in inflater.feed(raw):
                assert len(piece) <= HTTP_MAX_OUT + 1, f"a piece of {len(piece)} bytes"
                out += piece
                if len(out) > HTTP_MAX_OUT:
                    return OVER
        inflater.finish()
    except ContentEncodingError:
        return None
    return bytes(out)


def _outcome(result: bytes | str | None) -> str:
    return "refused" if result is None else result if isinstance(result, str) else f"{len(result)} bytes"


def _reference(coding: str, body: bytes) -> bytes:
    """The standard library's decoding of a body the inflater accepted (raw deflate: no RFC 1950 header)."""
    if coding == "identity" or not body:
        return body
    if coding == "gzip":
        return gzip.decompress(body)
    try:
        return zlib.decompress(body)
    except zlib.error:
        return zlib.decompress(body, -zlib.MAX_WBITS)


def _http_bodies() -> list[bytes]:
    """gzip of 1 and 2 members, zlib, raw deflate, a cut gzip, identity; in one read and in small reads."""
    reply = b"d8:intervali1800e5:peers12:" + bytes(range(12)) + b"e"
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    one = gzip.compress(reply, mtime=0)
    return [
        bytes([0xFC]) + one,
        bytes([0x0C]) + one + gzip.compress(b"e" * 300, mtime=0),
        bytes([0xFD]) + zlib.compress(reply),
        bytes([0x01]) + zlib.compress(reply),
        bytes([0xFE]) + raw.compress(reply) + raw.flush(),
        bytes([0x00]) + one[:-3],
        bytes([0xFF]) + reply,
    ]


def _ntp_reply(stratum: int, ref_id: bytes, transmit: bytes) -> bytes:
    """A server-mode (4) NTPv4 reply header: stratum, reference id, T2 = T3 = ``transmit`` (8 bytes)."""
    request = _request(T1_US)
    return bytes([0x24, stratum, 6, 0xEC]) + bytes(8) + ref_id + bytes(8) + request[40:48] + transmit * 2


def seeds() -> dict[str, list[bytes]]:
    """Valid inputs of each target: real clients' peer ids and ``v``, both handshakes' first bytes, SNTP
    replies (good, kiss-o'-death, short), BEP 33 filters (empty, one peer, full), HTTP bodies."""
    good = _request(T1_US + 1_000)[40:48]
    one = bytearray(BLOOM_BYTES)
    bloom_insert(one, "10.0.0.1")
    return {
        "client_id": [
            b"\x14-lt0D60-\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0clibtorrent/1.2.19",
            b"\x94-TR4050-abcdefghijklTransmission 4.0.5",
            b"\x54M7-2-2--abcdefghijkl",
            b"\x14S58B-----abcdefghijk\xe5\xae\xa2\xe6\x88\xb7\xe7\xab\xaf",
        ],
        "mse_classify": [
            mse.PLAIN_HANDSHAKE_PREFIX + bytes(48),
            mse.PLAIN_HANDSHAKE_PREFIX[:7],
            bytes(range(96)),
        ],
        "ntp_reply": [
            (900).to_bytes(4, "big") + _ntp_reply(2, b"\x7f\x00\x00\x01", good),
            (900).to_bytes(4, "big") + _ntp_reply(0, b"RATE", good),
            (900).to_bytes(4, "big") + _ntp_reply(2, b"\x7f\x00\x00\x01", good)[: PACKET_SIZE - 1],
        ],
        "dht_bloom": [bytes(BLOOM_BYTES), bytes(one) + bytes(one), b"\xff" * BLOOM_BYTES + b"\x01"],
        "http_body": _http_bodies(),
    }
