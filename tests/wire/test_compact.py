"""Compact peer/node codecs: vectors, every truncation, trailing bytes, round trips, fuzz (BEP 5/7/23/32)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.wire.compact import (
    decode_nodes_v4,
    decode_nodes_v6,
    decode_peers_v4,
    decode_peers_v6,
    encode_nodes_v4,
    encode_nodes_v6,
    encode_peers_v4,
    encode_peers_v6,
)
from swarmscope.wire.types import Endpoint

NID = bytes(range(20))
V6 = bytes.fromhex("20010db8000000000000000000000001")
MAPPED = bytes.fromhex("00000000000000000000ffff0a000001")

# (decoder, input, expected) — hand-built bytes, expected values written out independently.
VECTORS: list[tuple[Callable[[bytes], Any], bytes, list[Any]]] = [
    (decode_peers_v4, b"", []),
    (decode_peers_v4, b"\x7f\x00\x00\x01\x1a\xe1", [Endpoint("127.0.0.1", 6881)]),
    (
        decode_peers_v4,
        b"\x0a\x00\x00\x02\x00\x50\xc0\xa8\x01\x01\xff\xff",
        [Endpoint("10.0.0.2", 80), Endpoint("192.168.1.1", 65535)],
    ),
    (decode_peers_v4, b"\x01\x02\x03\x04\x00\x00", [Endpoint("1.2.3.4", 0)]),
    (decode_peers_v6, V6 + b"\x1a\xe1", [Endpoint("2001:db8::1", 6881)]),
    (decode_peers_v6, MAPPED + b"\x00\x50", [Endpoint("10.0.0.1", 80)]),  # TRK-01 normalisation
    (decode_nodes_v4, NID + b"\x7f\x00\x00\x02\x1a\xe1", [(NID, Endpoint("127.0.0.2", 6881))]),
    (decode_nodes_v6, NID + V6 + b"\x00\x01", [(NID, Endpoint("2001:db8::1", 1))]),
]

STRIDES: list[tuple[Callable[[bytes], Any], int]] = [
    (decode_peers_v4, 6),
    (decode_peers_v6, 18),
    (decode_nodes_v4, 26),
    (decode_nodes_v6, 38),
]


@pytest.mark.parametrize(("decode", "data", "expected"), VECTORS)
def test_vectors_whole(decode: Callable[[bytes], Any], data: bytes, expected: list[Any]) -> None:
    assert decode(data) == expected


@pytest.mark.parametrize(("decode", "data", "expected"), VECTORS)
def test_vectors_every_truncation(decode: Callable[[bytes], Any], data: bytes, expected: list[Any]) -> None:
    stride = dict(STRIDES)[decode]
    for cut in range(len(data)):
        prefix = data[:cut]
        if cut % stride == 0:
            assert decode(prefix) == expected[: cut // stride]
        else:
            with pytest.raises(DecodeError, match="not a multiple of"):
                decode(prefix)


@pytest.mark.parametrize(("decode", "data", "expected"), VECTORS)
def test_vectors_trailing_bytes(decode: Callable[[bytes], Any], data: bytes, expected: list[Any]) -> None:
    with pytest.raises(DecodeError) as info:
        decode(data + b"\x00")
    assert info.value.offset == len(data)


def test_family_never_inferred_from_length() -> None:
    """DHT-03 / TRK-17: 18 bytes under `peers` are three IPv4 peers; 494 bytes of `nodes` are 19 v4 nodes."""
    blob = V6 + b"\x1a\xe1"
    assert len(decode_peers_v4(blob)) == 3
    assert decode_peers_v4(blob)[0] == Endpoint("32.1.13.184", 0)
    nodes = encode_nodes_v4([(NID, Endpoint("127.0.0.1", p)) for p in range(19)])
    assert len(nodes) == 494 == 38 * 13
    assert [e.port for _, e in decode_nodes_v4(nodes)] == list(range(19))
    assert len(decode_nodes_v6(nodes)) == 13  # the caller picked the family: no guessing happens here


def test_encoders_reject_wrong_family() -> None:
    with pytest.raises(ValueError):
        encode_peers_v4([Endpoint("::1", 1)])
    with pytest.raises(ValueError):
        encode_nodes_v4([(b"short", Endpoint("1.2.3.4", 1))])
    assert encode_peers_v6([Endpoint("10.0.0.1", 80)]) == MAPPED + b"\x00\x50"


v4_endpoints = st.builds(
    lambda a, p: Endpoint(".".join(str(b) for b in a), p),
    st.lists(st.integers(0, 255), min_size=4, max_size=4),
    st.integers(0, 65535),
)
node_ids = st.binary(min_size=20, max_size=20)


@given(st.lists(v4_endpoints, max_size=30))
def test_round_trip_peers_v4(peers: list[Endpoint]) -> None:
    assert decode_peers_v4(encode_peers_v4(peers)) == peers


@given(st.lists(st.tuples(node_ids, v4_endpoints), max_size=20))
def test_round_trip_nodes_v4(nodes: list[tuple[bytes, Endpoint]]) -> None:
    assert decode_nodes_v4(encode_nodes_v4(nodes)) == nodes


@given(st.binary(max_size=18 * 8).map(lambda b: b[: len(b) - len(b) % 18]))
def test_round_trip_bytes_peers_v6(data: bytes) -> None:
    assert encode_peers_v6(decode_peers_v6(data)) == data


@given(st.binary(max_size=38 * 6).map(lambda b: b[: len(b) - len(b) % 38]))
def test_round_trip_bytes_nodes_v6(data: bytes) -> None:
    assert encode_nodes_v6(decode_nodes_v6(data)) == data


@pytest.mark.parametrize(("decode", "stride"), STRIDES)
@given(data=st.binary(max_size=200))
def test_decodes_or_raises_decode_error(decode: Callable[[bytes], Any], stride: int, data: bytes) -> None:
    try:
        out = decode(data)
    except DecodeError:
        assert len(data) % stride
    else:
        assert len(out) == len(data) // stride
