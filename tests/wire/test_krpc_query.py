"""The KRPC fast path: it accepts only what the general decoder accepts, with the same meaning, and writes
replies byte for byte as the general encoder does (properties over valid and mutated datagrams)."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.wire import krpc
from swarmscope.wire.bencode import decode_canonical, encode
from swarmscope.wire.krpc import Query, Response
from swarmscope.wire.krpc_query import FastQuery, encode_answer, parse_query
from swarmscope.wire.types import Endpoint

A, B, IH = b"a" * 20, b"b" * 20, bytes(range(20))


def fast(datagram: bytes) -> FastQuery | None:
    return parse_query(decode_canonical(datagram), datagram)


def agree(datagram: bytes) -> FastQuery | None:
    """Assert the fast path accepts a subset of what decode_message accepts, with the same fields."""
    quick = fast(datagram)
    try:
        full = krpc.decode_message(datagram)
    except DecodeError:
        assert quick is None, datagram
        return None
    if quick is None:
        return None
    assert isinstance(full, Query) and full.quirks == ()
    key = full.target if full.method == krpc.FIND_NODE else full.info_hash
    assert (quick.transaction_id, quick.method, quick.node_id, quick.key, quick.want, quick.read_only) == (
        full.transaction_id, full.method, full.node_id, key, full.want, full.read_only,
    )  # fmt: skip
    assert quick.raw is datagram
    return quick


def test_the_three_plain_queries_take_the_fast_path() -> None:
    ping = krpc.encode_message(Query(b"aa", krpc.PING, A))
    find = krpc.encode_message(Query(b"xy", krpc.FIND_NODE, A, target=B, want=(b"n4", b"n6")))
    peers = krpc.encode_message(Query(b"g", krpc.GET_PEERS, A, info_hash=IH, read_only=True, scrape=True))
    assert agree(ping) == FastQuery(b"aa", krpc.PING, A, None, (), False, ping)
    assert agree(find) == FastQuery(b"xy", krpc.FIND_NODE, A, B, (b"n4", b"n6"), False, find)
    assert agree(peers) == FastQuery(b"g", krpc.GET_PEERS, A, IH, (), True, peers)


def test_what_the_fast_path_leaves_to_the_general_decoder() -> None:
    ping = krpc.encode_message(Query(b"aa", krpc.PING, A))
    others = [
        ping + b"junk",  # trailing bytes: a quirk the general decoder records
        b"d1:ad2:id20:" + A + b"e1:y1:q1:q4:ping1:t2:aae",  # unsorted keys (META-01)
        krpc.encode_message(Query(b"a", krpc.ANNOUNCE_PEER, A, info_hash=IH, token=b"tk", port=1)),
        krpc.encode_message(Query(b"s", krpc.SAMPLE_INFOHASHES, A, target=B)),
        krpc.encode_message(Query(b"p", krpc.PING, A, port=6881)),  # a.port: range-checked there
        encode({b"t": b"w", b"y": b"q", b"q": b"ping", b"a": {b"id": A, b"want": b"n4"}}),  # want quirk
        krpc.encode_message(Response(b"aa", B)),
    ]
    assert [fast(datagram) for datagram in others] == [None] * len(others)
    assert all(isinstance(krpc.decode_message(datagram), krpc.Message) for datagram in others)
    refused = [b"", b"d1:y1:qe", b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe", b"l" * 200 + b"e" * 200]
    assert [fast(datagram) for datagram in refused] == [None] * len(refused)


ARG_KEYS = st.sampled_from([b"id", b"target", b"info_hash", b"token", b"port", b"want", b"scrape", b"x"])
LEAF = (
    st.binary(min_size=20, max_size=20) | st.binary(max_size=22) | st.integers(-2, 70000)
    | st.sampled_from([b"n4", b"n6"])
)  # fmt: skip
VALUE = st.recursive(
    LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ARG_KEYS, inner, max_size=3)
)
METHODS = st.sampled_from([b"ping", b"find_node", b"get_peers", b"announce_peer", b"vote"]) | st.binary(
    max_size=3
)


@st.composite
def query_dicts(draw: st.DrawFn) -> dict[bytes, object]:
    """Query-shaped dicts: mostly valid, with any key missing, retyped or added."""
    args = {
        b"id": draw(st.binary(min_size=20, max_size=20)),
        **draw(st.dictionaries(ARG_KEYS, VALUE, max_size=4)),
    }
    if draw(st.booleans()):
        args[b"target" if draw(st.booleans()) else b"info_hash"] = draw(st.binary(min_size=20, max_size=20))
    if draw(st.booleans()):
        args[b"want"] = draw(st.lists(st.sampled_from([b"n4", b"n6", b"xx"]) | st.integers(0, 2), max_size=3))
    top: dict[bytes, object] = {
        b"t": draw(st.binary(max_size=4)),
        b"y": b"q",
        b"q": draw(METHODS),
        b"a": args,
    }
    top.update(
        draw(st.dictionaries(st.sampled_from([b"t", b"y", b"q", b"a", b"ro", b"v"]), VALUE, max_size=2))
    )
    return top


@settings(max_examples=400, deadline=None)
@given(query_dicts())
def test_property_fast_path_agrees_with_decode_message_on_query_dicts(top: dict[bytes, object]) -> None:
    agree(encode(top))


def mutate(datagram: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    for where, cut, insert in edits:
        at = where % (len(datagram) + 1)
        datagram = datagram[:at] + insert + datagram[at + cut :]
    return datagram


PIECES = st.sampled_from([b"", b"e", b"d", b"l", b"0", b"1:", b"i1e"])
EDITS = st.lists(st.tuples(st.integers(0, 200), st.integers(0, 3), PIECES), min_size=1, max_size=3)


@settings(max_examples=400, deadline=None)
@given(top=query_dicts(), edits=EDITS)
def test_property_fast_path_agrees_with_decode_message_on_mutated_bytes(
    top: dict[bytes, object], edits: list[tuple[int, int, bytes]]
) -> None:
    agree(mutate(encode(top), edits))


@given(st.binary(max_size=200))
def test_property_random_bytes_never_pass_where_the_decoder_refuses(data: bytes) -> None:
    agree(data)


ids = st.binary(min_size=20, max_size=20)
v4 = st.builds(
    lambda a, p: Endpoint(".".join(str(b) for b in a), p),
    st.binary(min_size=4, max_size=4),
    st.integers(0, 65535),
)
v6 = st.builds(
    lambda a, p: Endpoint.parse(str(ipaddress.IPv6Address(a)), p),
    st.binary(min_size=16, max_size=16),
    st.integers(0, 65535),
)


@given(
    tid=st.binary(max_size=5), node_id=ids, ip=v4 | v6, version=st.binary(max_size=4),
    nodes=st.lists(st.tuples(ids, v4), max_size=8), nodes6=st.lists(st.tuples(ids, v6), max_size=8),
    token=st.none() | st.binary(max_size=20),
)  # fmt: skip
def test_property_encode_answer_is_encode_message(
    tid: bytes, node_id: bytes, ip: Endpoint, version: bytes,
    nodes: list[tuple[bytes, Endpoint]], nodes6: list[tuple[bytes, Endpoint]], token: bytes | None,
) -> None:  # fmt: skip
    from swarmscope.wire.compact import encode_nodes_v4, encode_nodes_v6, encode_peers_v4, encode_peers_v6

    expected = krpc.encode_message(
        Response(
            tid,
            node_id,
            nodes=tuple(nodes),
            nodes6=tuple(nodes6),
            token=token,
            external_ip=ip,
            version=version,
        )
    )
    compact_ip = encode_peers_v6([ip]) if ip.is_v6 else encode_peers_v4([ip])
    got = encode_answer(
        tid, node_id, compact_ip, version, encode_nodes_v4(nodes), encode_nodes_v6(nodes6), token
    )
    assert got == expected
