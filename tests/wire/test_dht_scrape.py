"""BEP 33 bloom filters: the BEP's own test vector and estimate."""

from __future__ import annotations

import ipaddress

import pytest

from swarmscope.wire.dht_scrape import BLOOM_BYTES, bloom_estimate, bloom_insert, bloom_union

BEP33_HEX = """
F6C3F5EA A07FFD91 BDE89F77 7F26FB2B FF37BDB8 FB2BBAA2 FD3DDDE7 BACFFF75 EE7CCBAE
FE5EEDB1 FBFAFF67 F6ABFF5E 43DDBCA3 FD9B9FFD F4FFD3E9 DFF12D1B DF59DB53 DBE9FA5B
7FF3B8FD FCDE1AFB 8BEDD7BE 2F3EE71E BBBFE93B CDEEFE14 8246C2BC 5DBFF7E7 EFDCF24F
D8DC7ADF FD8FFFDF DDFFF7A4 BBEEDF5C B95CE81F C7FCFF1F F4FFFFDF E5F7FDCB B7FD79B3
FA1FC77B FE07FFF9 05B7B7FF C7FEFEFF E0B8370B B0CD3F5B 7F2BD93F EB4386CF DD6F7FD5
BFAF2E9E BFFFFEEC D67ADBF7 C67F17EF D5D75EBA 6FFEBA7F FF47A91E B1BFBB53 E8ABFB57
62ABE8FF 237279BF EFBFEEF5 FFC5FEBF DFE5ADFF ADFEE1FB 737FFFFB FD9F6AEF FEEE76B6
FD8F72EF
"""


def test_bep33_test_vector_and_estimate() -> None:
    bloom = bytearray(BLOOM_BYTES)
    for i in range(256):
        bloom_insert(bloom, f"192.0.2.{i}")
    base = int(ipaddress.IPv6Address("2001:db8::"))
    for i in range(0x3E8):
        bloom_insert(bloom, str(ipaddress.IPv6Address(base + i)))
    assert bytes(bloom) == bytes.fromhex("".join(BEP33_HEX.split()))
    assert bloom_estimate(bytes(bloom)) == pytest.approx(1224.9308, abs=1e-3)


def test_union_and_empty() -> None:
    a, b = bytearray(BLOOM_BYTES), bytearray(BLOOM_BYTES)
    bloom_insert(a, "10.0.0.1")
    bloom_insert(b, "10.0.0.2")
    assert bloom_estimate(bytes(BLOOM_BYTES)) == pytest.approx(0.5, abs=0.01)  # BEP 33: c = min(m - 1, zeros)
    union = bloom_union([bytes(a), bytes(b), b"short"])
    assert 1.5 < bloom_estimate(union) < 2.5
