"""Bencode (BEP 3): vector table tested whole, truncated at every byte and with trailing bytes;
META-09 rejections; META-01 leniency on key order; round trip and "DecodeError only" properties."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.wire.bencode import (
    MAX_DEPTH,
    decode,
    decode_prefix,
    encode,
    has_unsorted_keys,
    value_end,
    value_span,
)

# (encoded, value) — BEP 3 examples plus edge cases
VALID = [
    (b"i0e", 0),
    (b"i42e", 42),
    (b"i-42e", -42),
    (b"i9223372036854775808e", 2**63),
    (b"0:", b""),
    (b"4:spam", b"spam"),
    (b"3:\x00\xff:", b"\x00\xff:"),
    (b"le", []),
    (b"l4:spam4:eggse", [b"spam", b"eggs"]),
    (b"de", {}),
    (b"d3:cow3:moo4:spam4:eggse", {b"cow": b"moo", b"spam": b"eggs"}),
    (b"d4:spaml1:a1:bee", {b"spam": [b"a", b"b"]}),
    (b"d0:i1e1:ali1eleee", {b"": 1, b"a": [1, []]}),
    (b"lli1eeded1:xi-1eee", [[1], {}, {b"x": -1}]),
]

# META-09 and friends: (encoded, substring the message must contain)
INVALID = [
    (b"i03e", "leading zero"),
    (b"i-0e", "negative zero"),
    (b"i-03e", "negative zero"),
    (b"i+5e", "leading '+'"),
    (b"ie", "empty integer"),
    (b"i-e", "without digits"),
    (b"i1.5e", "invalid integer"),
    (b"-1:a", "negative string length"),
    (b"01:a", "leading zero"),
    (b"5:ab", "longer than the remaining"),
    (b"x", "invalid type byte"),
    (b"e", "invalid type byte"),
    (b"", "truncated"),
    (b"l", "truncated"),
    (b"d1:a", "truncated"),
    (b"di1ei2ee", "dict key is not a byte string"),
    (b"d1:ae", "dict key without a value"),
    (b"i1", "unterminated"),
    (b"1:", "longer than the remaining"),
    (b"i1ei2e", "trailing"),
    (b"l" * (MAX_DEPTH + 1) + b"e" * (MAX_DEPTH + 1), "nesting deeper"),
]


@pytest.mark.parametrize(("data", "value"), VALID)
def test_valid_vector_whole(data: bytes, value: Any) -> None:
    assert decode(data) == value
    assert decode_prefix(data) == (value, len(data))


@pytest.mark.parametrize(("data", "value"), VALID)
def test_valid_vector_every_truncation_raises(data: bytes, value: Any) -> None:
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            decode(data[:cut])
        if cut:
            with pytest.raises(DecodeError):
                decode_prefix(data[:cut])


@pytest.mark.parametrize(("data", "value"), VALID)
@pytest.mark.parametrize("trailer", [b"\n", b"6:peers6abcdef", b"\x00\xff", b"e"])
def test_valid_vector_with_trailing_bytes(data: bytes, value: Any, trailer: bytes) -> None:
    """TRK-03 / BEP 9: the prefix decoder returns the value and where it ends; decode() refuses."""
    assert decode_prefix(data + trailer) == (value, len(data))
    assert decode_prefix(b"XY" + data + trailer, 2) == (value, 2 + len(data))
    with pytest.raises(DecodeError, match="trailing"):
        decode(data + trailer)


@pytest.mark.parametrize(("data", "value"), VALID)
def test_valid_vector_round_trip(data: bytes, value: Any) -> None:
    assert encode(value) == data


@pytest.mark.parametrize(("data", "reason"), INVALID)
def test_invalid_vector(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert reason in str(info.value)


def test_meta09_inside_containers_is_rejected_too() -> None:
    for bad in (b"li03ee", b"d1:ai+1ee", b"l-1:e", b"d1:aie"):
        with pytest.raises(DecodeError):
            decode(bad)


def test_decode_prefix_start_out_of_range() -> None:
    with pytest.raises(DecodeError):
        decode_prefix(b"i1e", 3)


def test_unsorted_and_duplicate_keys_are_accepted_first_wins() -> None:
    """META-01: libtorrent's bdecode accepts non-canonical dicts; lookups find the first key."""
    assert decode(b"d1:bi1e1:ai2ee") == {b"b": 1, b"a": 2}
    assert decode(b"d1:ai1e1:ai2ee") == {b"a": 1}
    assert has_unsorted_keys(b"d1:bi1e1:ai2ee")
    assert has_unsorted_keys(b"d1:ai1e1:ai2ee")
    assert has_unsorted_keys(b"ld1:bi0e1:ai0eee")
    assert not has_unsorted_keys(b"d1:ai1e1:bd1:xi0e1:yi0eee")
    assert decode_prefix(b"d1:zi1e1:ai2eeTAIL") == ({b"z": 1, b"a": 2}, 14)


def test_value_span_returns_raw_bytes_of_nested_values() -> None:
    data = b"d8:announce3:url4:infod6:lengthi5e1:zi0e1:ai0ee5:extrai1ee"
    start, end = value_span(data, b"info") or (0, 0)
    assert data[start:end] == b"d6:lengthi5e1:zi0e1:ai0ee"
    span = value_span(data, b"info", b"length")
    assert span is not None and data[span[0] : span[1]] == b"i5e"
    assert value_span(data, b"missing") is None
    assert value_span(data, b"announce", b"x") is None
    assert value_span(b"d4:infoi1e4:infod1:ai1eee", b"info") == (7, 10)  # first occurrence


def test_encode_sorts_keys_and_accepts_str() -> None:
    assert encode({b"b": 1, "a": [b"x", "y"]}) == b"d1:al1:x1:ye1:bi1ee"
    with pytest.raises(TypeError):
        encode(1.5)


values = st.recursive(
    st.integers() | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.binary(max_size=8), inner, max_size=6),
    max_leaves=30,
)


@given(values)
@settings(max_examples=300)
def test_round_trip_property(value: Any) -> None:
    data = encode(value)
    assert decode(data) == value
    assert decode_prefix(data + b"trailer") == (value, len(data))


@given(st.binary(max_size=200))
@settings(max_examples=1000)
def test_arbitrary_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    for decoder in (decode, decode_prefix):
        with contextlib.suppress(DecodeError):
            decoder(data)


@given(values, st.binary(max_size=30))
@settings(max_examples=300)
def test_mutated_encodings_decode_or_raise_decode_error(value: Any, noise: bytes) -> None:
    data = encode(value)
    for pos in range(0, len(data), max(1, len(data) // 5)):
        mutated = data[:pos] + noise + data[pos + len(noise) :]
        try:
            decode_prefix(mutated)
            decode(mutated)
        except DecodeError:
            pass


@pytest.mark.parametrize("digits", [4301, 5000, 100_000])
def test_huge_integers_are_a_decode_error_not_a_value_error(digits: int) -> None:
    """CPython refuses int() of more than 4,300 digits with ValueError; a hostile torrent or tracker reply
    must still get our DecodeError (found by review: `inspect` and the announce task crashed)."""
    for data in (b"i" + b"9" * digits + b"e", b"d8:intervali" + b"9" * digits + b"e5:peers0:e"):
        with pytest.raises(DecodeError, match="longer than"):
            decode(data)
        with pytest.raises(DecodeError, match="longer than"):
            decode_prefix(data)


def _prefix_end(data: bytes, start: int) -> int | None:
    """decode_prefix's end offset, or None when it raises."""
    try:
        return decode_prefix(data, start)[1]
    except DecodeError:
        return None


def _value_end(data: bytes, start: int, expected: int | None) -> int | None:
    try:
        return value_end(data, start, expected)
    except DecodeError:
        return None


@pytest.mark.parametrize(
    "value",
    [
        b"d1:ai1ee",  # canonical: one bencode2 call
        b"d1:zi1e1:ai2ee",  # unsorted keys (META-01): the scan
        b"i" + b"9" * 1001 + b"e",  # longer than MAX_INT_DIGITS although bencode2 reads it
        b"l" * (MAX_DEPTH + 1) + b"e" * (MAX_DEPTH + 1),  # too deep although bencode2 reads it
        b"l" * MAX_DEPTH + b"e" * MAX_DEPTH,
        b"d1:a",  # truncated
        b"i03e",
    ],
)
def test_value_end_agrees_with_decode_prefix_whatever_the_expected_end(value: bytes) -> None:
    data = b"XY" + value + b"4:tail"
    for expected in (None, 2 + len(value), 2 + len(value) - 1, len(data), len(data) + 5, 1):
        assert _value_end(data, 2, expected) == _prefix_end(data, 2), expected


@given(values, st.binary(max_size=20), st.integers(min_value=-3, max_value=3))
@settings(max_examples=300)
def test_value_end_property(value: Any, trailer: bytes, shift: int) -> None:
    data = b"Z" + encode(value) + trailer
    expected = len(data) - len(trailer) + shift
    assert _value_end(data, 1, expected) == _prefix_end(data, 1) == len(data) - len(trailer)
