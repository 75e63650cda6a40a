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
"""

from __future__ import annotations

import math

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


def _ntp_reply(stratum: int, ref_id: bytes, transmit: bytes) -> bytes:
    """A server-mode (4) NTPv4 reply header: stratum, reference id, T2 = T3 = ``transmit`` (8 bytes)."""
    request = _request(T1_US)
    return bytes([0x24, stratum, 6, 0xEC]) + bytes(8) + ref_id + bytes(8) + request[40:48] + transmit * 2


def seeds() -> dict[str, list[bytes]]:
    """Valid inputs of each target: real clients' peer ids and ``v``, both handshakes' first bytes, SNTP
    replies (good, kiss-o'-death, short), BEP 33 filters (empty, one peer, full)."""
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
    }
