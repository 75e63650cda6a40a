"""BEP 33 DHT scrape bloom filters: insert an IP, union filters, estimate the number of items.

Sources: BEP 33 "Bloom Filters" and "Calculating the estimate" (k = 2, m = 2048 bits, 256 bytes).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import Iterable

BLOOM_BYTES = 256  # BEP 33: m/8
BLOOM_BITS = BLOOM_BYTES * 8  # BEP 33: m = 2048
HASHES = 2  # BEP 33: k = 2


def bloom_insert(bloom: bytearray, ip: str) -> None:
    """Insert one IP address (not the port) into a 256-byte filter in place.

    Args:
        bloom: a mutable 256-byte filter.
        ip: an IPv4 or IPv6 literal; the packed address bytes are hashed.

    Raises:
        ValueError: ``ip`` is not an IP literal or the filter is not 256 bytes (our misuse).

    Source: BEP 33 "Bloom Filters" (insertIP pseudocode).
    """
    if len(bloom) != BLOOM_BYTES:
        raise ValueError("bloom filter must be 256 bytes")
    digest = hashlib.sha1(ipaddress.ip_address(ip).packed).digest()
    for index in (digest[0] | digest[1] << 8, digest[2] | digest[3] << 8):
        index %= BLOOM_BITS
        bloom[index // 8] |= 1 << (index % 8)


def bloom_union(filters: Iterable[bytes]) -> bytes:
    """OR several 256-byte filters (the union of the sets they hold); filters of another size are skipped.

    Source: BEP 33 "Calculating the estimate" (union by ORing the bits).
    """
    out = bytearray(BLOOM_BYTES)
    for bloom in filters:
        if len(bloom) == BLOOM_BYTES:
            for i, byte in enumerate(bloom):
                out[i] |= byte
    return bytes(out)


def bloom_estimate(bloom: bytes) -> float:
    """Estimate how many distinct IPs a 256-byte filter holds.

    Args:
        bloom: a 256-byte filter.

    Returns:
        ``log(c/m) / (k·log(1 − 1/m))`` with ``c`` = zero bits, capped at m − 1; unreliable past ~6000.

    Raises:
        ValueError: the filter is not 256 bytes (our misuse; :mod:`krpc` rejects remote ones).

    Source: BEP 33 "Calculating the estimate".
    """
    if len(bloom) != BLOOM_BYTES:
        raise ValueError("bloom filter must be 256 bytes")
    zeros = BLOOM_BITS - sum(bin(byte).count("1") for byte in bloom)
    zeros = max(1, min(BLOOM_BITS - 1, zeros))
    return math.log(zeros / BLOOM_BITS) / (HASHES * math.log(1 - 1 / BLOOM_BITS))
