"""KRPC codec: vectors (whole, every truncation, trailing bytes), DHT-* interop rows, round trips, fuzz."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.wire import krpc
from swarmscope.wire.krpc import KrpcError, Query, Response, decode_message, encode_message
from swarmscope.wire.types import Endpoint

A = b"a" * 20  # node id
B = b"b" * 20
IH = bytes(range(20))
NODE_127_2 = B + b"\x7f\x00\x00\x02\x1a\xe1"  # 127.0.0.2:6881
PEER_1 = b"\x7f\x00\x01\x01\x1b\x58"  # 127.0.1.1:7000
PEER_2 = b"\x7f\x00\x01\x02\x1b\x59"  # 127.0.1.2:7001
V6 = bytes.fromhex("20010db8000000000000000000000001") + b"\x00\x50"  # [2001:db8::1]:80

# Hand-written datagrams (BEP 5 examples, key order canonical) and the values expected from them.
VECTORS: list[tuple[bytes, krpc.Message]] = [
    (
        b"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaae1:q4:ping1:t2:aa1:y1:qe",
        Query(b"aa", krpc.PING, A),
    ),
    (
        b"d1:rd2:id20:bbbbbbbbbbbbbbbbbbbbe1:t2:aa1:y1:re",
        Response(b"aa", B),
    ),
    (
        b"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaa6:target20:bbbbbbbbbbbbbbbbbbbb4:wantl2:n4ee"
        b"1:q9:find_node1:t2:xy1:y1:qe",
        Query(b"xy", krpc.FIND_NODE, A, target=B, want=(b"n4",)),
    ),
    (
        b"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaa9:info_hash20:" + IH + b"6:scrapei1ee1:q9:get_peers"
        b"2:roi1e1:t2:gp1:y1:qe",
        Query(b"gp", krpc.GET_PEERS, A, info_hash=IH, scrape=True, read_only=True),
    ),
    (
        b"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaa12:implied_porti1e9:info_hash20:" + IH
        + b"4:porti6881e4:seedi1e5:token4:tok!e1:q13:announce_peer1:t2:an1:y1:qe",
        Query(b"an", krpc.ANNOUNCE_PEER, A, info_hash=IH, token=b"tok!", port=6881,
              implied_port=True, seed=True),
    ),
    (
        b"d2:ip6:\x7f\x00\x00\x01\x1a\xe11:rd2:id20:bbbbbbbbbbbbbbbbbbbb5:nodes26:" + NODE_127_2
        + b"5:token2:tk6:valuesl6:" + PEER_1 + b"6:" + PEER_2 + b"ee1:t2:gp1:v4:LT\x02\x011:y1:re",
        Response(
            b"gp", B, nodes=((B, Endpoint("127.0.0.2", 6881)),),
            values=(Endpoint("127.0.1.1", 7000), Endpoint("127.0.1.2", 7001)), token=b"tk",
            external_ip=Endpoint("127.0.0.1", 6881), version=b"LT\x02\x01",
        ),
    ),
    (
        b"d1:rd2:id20:bbbbbbbbbbbbbbbbbbbb8:intervali300e3:numi2e7:samples40:" + IH + A + b"e"
        b"1:t2:si1:y1:re",
        Response(b"si", B, samples=(IH, A), num=2, interval=300),
    ),
    (
        b"d1:eli203e9:bad tokene1:t2:an1:y1:ee",
        KrpcError(b"an", 203, b"bad token"),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("data", "expected"), VECTORS)
def test_vectors_whole(data: bytes, expected: krpc.Message) -> None:
    assert decode_message(data) == expected


@pytest.mark.parametrize(("data", "expected"), VECTORS)
def test_vectors_every_truncation_raises(data: bytes, expected: krpc.Message) -> None:
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            decode_message(data[:cut])


@pytest.mark.parametrize(("data", "expected"), VECTORS)
def test_vectors_trailing_bytes_ignored_and_noted(data: bytes, expected: krpc.Message) -> None:
    """One datagram, one message: bytes after the dict are ignored like libtorrent's bdecode."""
    message = decode_message(data + b"garbage")
    assert message.quirks[0] == "7 trailing bytes ignored"
    assert type(message) is type(expected)
    assert message.transaction_id == expected.transaction_id


@pytest.mark.parametrize(("data", "expected"), VECTORS)
def test_round_trip(data: bytes, expected: krpc.Message) -> None:
    assert encode_message(expected) == data
    assert decode_message(encode_message(expected)) == expected


def test_round_trip_ipv6_nodes_values_and_blooms() -> None:
    message = Response(
        b"\x00\x01", A, nodes6=((B, Endpoint("2001:db8::1", 80)),), values=(Endpoint("2001:db8::1", 80),),
        token=b"", bloom_seeds=bytes(256), bloom_peers=b"\xff" * 256, external_ip=Endpoint("::1", 1),
    )  # fmt: skip
    assert decode_message(encode_message(message), from_v6=True) == message


# ---- interop-quirks rows ------------------------------------------------------------------------


def _response(body: bytes, top: bytes = b"") -> bytes:
    return b"d" + top + b"1:rd2:id20:bbbbbbbbbbbbbbbbbbbb" + body + b"e1:t2:xx1:y1:re"


def test_dht01_values_list_of_6_and_18_byte_strings() -> None:
    message = decode_message(_response(b"6:valuesl6:" + PEER_1 + b"18:" + V6 + b"e"))
    assert isinstance(message, Response)
    assert message.values == (Endpoint("127.0.1.1", 7000), Endpoint("2001:db8::1", 80))


def test_dht01_single_concatenated_string_split_every_6_bytes_for_ipv4() -> None:
    message = decode_message(_response(b"6:valuesl12:" + PEER_1 + PEER_2 + b"e"))
    assert isinstance(message, Response)
    assert message.values == (Endpoint("127.0.1.1", 7000), Endpoint("127.0.1.2", 7001))
    assert any("concatenated" in q for q in message.quirks)


def test_dht01_single_18_byte_string_is_one_ipv6_peer_over_ipv6() -> None:
    message = decode_message(_response(b"6:valuesl18:" + V6 + b"e"), from_v6=True)
    assert isinstance(message, Response)
    assert message.values == (Endpoint("2001:db8::1", 80),)


def test_dht01_wrong_length_entries_skipped() -> None:
    message = decode_message(_response(b"6:valuesl5:abcde6:" + PEER_1 + b"i3ee"))
    assert isinstance(message, Response)
    assert message.values == (Endpoint("127.0.1.1", 7000),)
    assert any("5 bytes skipped" in q for q in message.quirks)


def test_dht01_values_not_a_list_is_a_protocol_error() -> None:
    with pytest.raises(DecodeError, match="values is not a list"):
        decode_message(_response(b"6:values6:" + PEER_1))


def test_dht03_family_from_key_not_length() -> None:
    """494 bytes under `nodes` are 19 IPv4 nodes, never 13 IPv6 ones."""
    blob = NODE_127_2 * 19
    message = decode_message(_response(b"5:nodes494:" + blob))
    assert isinstance(message, Response)
    assert len(message.nodes) == 19 and not message.nodes6


def test_dht03_partial_node_entry_ignored() -> None:
    message = decode_message(_response(b"5:nodes30:" + NODE_127_2 + b"\x01\x02\x03\x04"))
    assert isinstance(message, Response)
    assert message.nodes == ((B, Endpoint("127.0.0.2", 6881)),)
    assert "r.nodes: 4 trailing bytes ignored" in message.quirks


@pytest.mark.parametrize(
    "data",
    [
        b"d1:rd2:id20:bbbbbbbbbbbbbbbbbbbbe1:t2:aae",  # y missing
        b"d1:rd2:id20:bbbbbbbbbbbbbbbbbbbbe1:t2:aa1:y2:rre",  # y longer than one byte
        b"d1:rd2:id20:bbbbbbbbbbbbbbbbbbbbe1:y1:re",  # t missing
    ],
)
def test_dht04_bad_y_or_missing_t_rejected(data: bytes) -> None:
    with pytest.raises(DecodeError, match="DHT-04"):
        decode_message(data)


def test_dht04_response_with_q_tolerated() -> None:
    message = decode_message(b"d1:q4:ping1:rd2:id20:bbbbbbbbbbbbbbbbbbbbe1:t2:aa1:y1:re")
    assert isinstance(message, Response) and message.node_id == B
    assert "response carries 'q' (DHT-04)" in message.quirks


def test_dht04_odd_tid_lengths_decoded_for_the_caller_to_match() -> None:
    message = decode_message(b"d1:rd2:id20:bbbbbbbbbbbbbbbbbbbbe1:t5:abcde1:y1:re")
    assert message.transaction_id == b"abcde"


def test_dht07_read_only_flag() -> None:
    ro = decode_message(b"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaae1:q4:ping2:roi1e1:t2:aa1:y1:qe")
    rw = decode_message(b"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaae1:q4:ping2:roi0e1:t2:aa1:y1:qe")
    assert isinstance(ro, Query) and ro.read_only
    assert isinstance(rw, Query) and not rw.read_only


@pytest.mark.parametrize("token", [b"", b"x", b"0123456789abcdef0123456789"])
def test_dht08_tokens_opaque_any_length(token: bytes) -> None:
    query = Query(b"an", krpc.ANNOUNCE_PEER, A, info_hash=IH, token=token, port=1)
    decoded = decode_message(encode_message(query))
    assert isinstance(decoded, Query) and decoded.token == token
    response = decode_message(encode_message(Response(b"gp", B, token=token)))
    assert isinstance(response, Response) and response.token == token


def test_dht09_reply_without_nodes_is_empty_result() -> None:
    message = decode_message(b"d1:rd2:id20:bbbbbbbbbbbbbbbbbbbb5:token1:xe1:t2:aa1:y1:re")
    assert isinstance(message, Response)
    assert message.nodes == () and message.values == () and message.token == b"x"


@pytest.mark.parametrize("length", [0, 19, 21, 32])
def test_dht09_id_of_wrong_length_rejected(length: int) -> None:
    data = b"d1:rd2:id%d:%se1:t2:aa1:y1:re" % (length, b"b" * length)
    with pytest.raises(DecodeError, match="not 20"):
        decode_message(data)


def test_error_without_message_tolerated_and_malformed_rejected() -> None:
    message = decode_message(b"d1:eli201ee1:t2:aa1:y1:ee")
    assert message == KrpcError(b"aa", 201, b"", ("e: no message",))
    with pytest.raises(DecodeError):
        decode_message(b"d1:e5:oops!1:t2:aa1:y1:ee")


def test_bloom_filter_of_wrong_size_rejected() -> None:
    with pytest.raises(DecodeError, match="BEP 33"):
        decode_message(_response(b"4:BFsd3:abc"))


def test_not_a_dict_rejected() -> None:
    with pytest.raises(DecodeError, match="not a dictionary"):
        decode_message(b"li1ee")


# ---- properties ---------------------------------------------------------------------------------

ids = st.binary(min_size=20, max_size=20)
v4 = st.builds(
    lambda a, p: Endpoint(".".join(str(b) for b in a), p), st.binary(min_size=4, max_size=4),
    st.integers(1, 65535),
)  # fmt: skip


@given(st.binary(max_size=300))
def test_random_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_message(data)


@given(st.binary(max_size=200).map(lambda b: b"d1:rd2:id20:" + b"b" * 20 + b))
def test_mutated_responses_decode_or_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_message(data)


@given(
    tid=st.binary(max_size=4), node_id=ids, nodes=st.lists(st.tuples(ids, v4), max_size=8),
    values=st.lists(v4, max_size=8, unique=True), token=st.none() | st.binary(max_size=20),
)  # fmt: skip
def test_response_round_trip(
    tid: bytes,
    node_id: bytes,
    nodes: list[tuple[bytes, Endpoint]],
    values: list[Endpoint],
    token: bytes | None,
) -> None:
    message = Response(tid, node_id, nodes=tuple(nodes), values=tuple(values), token=token)
    decoded = decode_message(encode_message(message))
    assert isinstance(decoded, Response)
    assert (decoded.nodes, decoded.values, decoded.token) == (message.nodes, message.values, message.token)


@given(
    tid=st.binary(max_size=4), node_id=ids, target=ids,
    method=st.sampled_from([krpc.FIND_NODE, krpc.SAMPLE_INFOHASHES]), ro=st.booleans(),
)  # fmt: skip
def test_query_round_trip(tid: bytes, node_id: bytes, target: bytes, method: bytes, ro: bool) -> None:
    message = Query(tid, method, node_id, target=target, want=(b"n4", b"n6"), read_only=ro)
    assert decode_message(encode_message(message)) == message


KEYS = st.sampled_from(
    [b"t", b"y", b"q", b"a", b"r", b"e", b"id", b"nodes", b"values", b"token", b"ro", b"ip"]
)
bvalues = st.recursive(
    st.binary(max_size=40) | st.integers(-5, 70000) | st.sampled_from([b"q", b"r", b"e", b"a" * 20]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=20,
)


@given(st.dictionaries(KEYS, bvalues, max_size=8))
def test_structured_dicts_decode_or_raise_decode_error(top: dict[bytes, object]) -> None:
    from swarmscope.wire.bencode import encode

    with contextlib.suppress(DecodeError):
        decode_message(encode(top))
