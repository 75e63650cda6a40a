"""Answers to incoming KRPC queries (no socket): every method, want flags, tokens, and a property that
every answer to any decodable query encodes and decodes again."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.net.dht_answer import answer, answer_bytes
from swarmscope.net.dht_node import DhtNode
from swarmscope.wire import krpc
from swarmscope.wire.bencode import decode_canonical, encode
from swarmscope.wire.krpc import KrpcError, Query, Response
from swarmscope.wire.krpc_query import parse_query
from swarmscope.wire.types import Endpoint

IH = b"h" * 20
ME = b"m" * 20
SENDER = ("127.0.0.9", 5555)


def node_with_contacts() -> DhtNode:
    node = DhtNode(bind=("127.0.0.1", 0), node_id=ME, random_bytes=lambda n: b"\x01" * n)
    for i in range(20):
        node.routing.observe_response(bytes([i * 12]) + b"\x00" * 19, (f"127.0.3.{i + 1}", 6881), 0.0)
    return node


def test_ping_find_node_and_want() -> None:
    node = node_with_contacts()
    pong = answer(node, Query(b"t1", krpc.PING, b"q" * 20), SENDER, 0.0)
    assert pong == Response(b"t1", ME, external_ip=Endpoint(*SENDER), version=pong.version)
    found = answer(node, Query(b"t2", krpc.FIND_NODE, b"q" * 20, target=bytes(20)), SENDER, 0.0)
    assert isinstance(found, Response) and len(found.nodes) == 8 and found.nodes6 == ()
    assert found.nodes[0][0] == bytes(20)  # closest first
    v6 = answer(node, Query(b"t3", krpc.FIND_NODE, b"q" * 20, target=bytes(20), want=(b"n6",)), SENDER, 0.0)
    assert isinstance(v6, Response) and v6.nodes == () and v6.nodes6 == ()  # no IPv6 contacts known


def test_get_peers_token_announce_and_values() -> None:
    node = node_with_contacts()
    reply = answer(node, Query(b"g", krpc.GET_PEERS, b"q" * 20, info_hash=IH), SENDER, 0.0)
    assert isinstance(reply, Response) and reply.token and reply.values == () and len(reply.nodes) == 8
    announce = Query(b"a", krpc.ANNOUNCE_PEER, b"q" * 20, info_hash=IH, token=reply.token, port=7000)
    assert isinstance(answer(node, announce, SENDER, 0.0), Response)
    implied = Query(
        b"a", krpc.ANNOUNCE_PEER, b"q" * 20, info_hash=IH, token=reply.token, port=1, implied_port=True
    )
    assert isinstance(answer(node, implied, SENDER, 0.0), Response)
    again = answer(node, Query(b"g", krpc.GET_PEERS, b"q" * 20, info_hash=IH, scrape=True), SENDER, 1.0)
    assert isinstance(again, Response)
    assert set(again.values) == {Endpoint("127.0.0.9", 7000), Endpoint("127.0.0.9", 5555)}
    assert again.bloom_peers is not None and again.bloom_seeds is not None
    stolen = answer(node, announce, ("127.0.0.10", 5555), 0.0)  # DHT-08: token bound to the IP
    assert isinstance(stolen, KrpcError) and stolen.code == krpc.ERROR_PROTOCOL


def test_unknown_methods() -> None:
    node = node_with_contacts()
    with_target = answer(node, Query(b"u", b"future_rpc", b"q" * 20, target=IH), SENDER, 0.0)
    assert isinstance(with_target, Response) and with_target.nodes  # forward compatibility
    bare = answer(node, Query(b"u", b"vote", b"q" * 20), SENDER, 0.0)
    assert isinstance(bare, KrpcError) and bare.code == krpc.ERROR_METHOD


KEYS = st.sampled_from(
    [
        b"id",
        b"target",
        b"info_hash",
        b"token",
        b"port",
        b"implied_port",
        b"want",
        b"scrape",
        b"noseed",
        b"seed",
    ]
)
ARG = (
    st.binary(min_size=20, max_size=20)
    | st.binary(max_size=8)
    | st.integers(-1, 70000)
    | st.lists(st.sampled_from([b"n4", b"n6", b"xx"]), max_size=3)
)


@settings(max_examples=200, deadline=None)
@given(
    method=st.sampled_from(
        [b"ping", b"find_node", b"get_peers", b"announce_peer", b"sample_infohashes", b"x"]
    ),
    args=st.dictionaries(KEYS, ARG, max_size=8),
    node_id=st.binary(min_size=20, max_size=20),
)
def test_every_answer_encodes_and_decodes(method: bytes, args: dict[bytes, object], node_id: bytes) -> None:
    node = node_with_contacts()
    datagram = encode({b"t": b"tt", b"y": b"q", b"q": method, b"a": {**args, b"id": node_id}})
    try:
        query = krpc.decode_message(datagram)
    except DecodeError:
        return
    assert isinstance(query, Query)
    reply = answer(node, query, SENDER, 0.0)
    decoded = krpc.decode_message(krpc.encode_message(reply))
    assert decoded.transaction_id == b"tt"


def node_with_both_families(v6: bool) -> DhtNode:
    """Contacts over IPv4 and IPv6 (BEP 32), one failing twice (BAD), and peers stored for IH."""
    node = DhtNode(bind=("::1" if v6 else "127.0.0.1", 0), node_id=ME, random_bytes=lambda n: b"\x01" * n)
    for i in range(40):
        host = f"127.0.4.{i + 1}" if i % 3 else f"2001:db8::{i + 1}"
        node.routing.observe_response(bytes([i * 6]) + b"\x07" * 19, (host, 6881 + i), 0.0)
    node.routing.observe_failure(("127.0.4.2", 6882))
    node.routing.observe_failure(("127.0.4.2", 6882))
    node.store.add(IH, Endpoint("127.0.0.9", 7000), True, 0.0)
    return node


@settings(max_examples=300, deadline=None)
@given(
    v6=st.booleans(),
    method=st.sampled_from([krpc.PING, krpc.FIND_NODE, krpc.GET_PEERS]),
    key=st.sampled_from([IH, bytes(20), b"\xff" * 20]) | st.binary(min_size=20, max_size=20),
    want=st.none() | st.lists(st.sampled_from([b"n4", b"n6", b"xx"]), max_size=3),
    flags=st.dictionaries(st.sampled_from([b"scrape", b"noseed", b"seed"]), st.integers(0, 1), max_size=3),
    ro=st.booleans(),
    sender=st.sampled_from([SENDER, ("::ffff:127.0.0.8", 1), ("2001:db8::99", 2)]),
)
def test_property_answer_bytes_is_the_general_answer_encoded(
    v6: bool, method: bytes, key: bytes, want: list[bytes] | None, flags: dict[bytes, int], ro: bool,
    sender: tuple[str, int],
) -> None:  # fmt: skip
    node = node_with_both_families(v6)
    args: dict[bytes, object] = {b"id": b"q" * 20, b"target": key, b"info_hash": key, **flags}
    if want is not None:
        args[b"want"] = want
    top: dict[bytes, object] = {b"t": b"tt", b"y": b"q", b"q": method, b"a": args}
    if ro:
        top[b"ro"] = 1
    datagram = encode(top)
    quick = parse_query(decode_canonical(datagram), datagram)
    assert quick is not None  # these are all plain queries
    query = krpc.decode_message(datagram)
    assert isinstance(query, Query)
    assert answer_bytes(node, quick, sender, 5.0) == krpc.encode_message(answer(node, query, sender, 5.0))
    assert answer_bytes(node, query, sender, 5.0) == krpc.encode_message(answer(node, query, sender, 5.0))


def test_fast_answers_fall_back_for_stored_peers_and_refuse_what_answer_refuses() -> None:
    node = node_with_both_families(False)
    datagram = krpc.encode_message(Query(b"g", krpc.GET_PEERS, b"q" * 20, info_hash=IH, scrape=True))
    quick = parse_query(decode_canonical(datagram), datagram)
    assert quick is not None
    reply = krpc.decode_message(answer_bytes(node, quick, SENDER, 0.0))
    assert isinstance(reply, Response) and reply.values == (Endpoint("127.0.0.9", 7000),)
    assert reply.bloom_seeds is not None and reply.token == node.tokens.issue(SENDER[0], IH)
    with pytest.raises(DecodeError):  # not an IP literal: nothing to write back (as answer() refuses)
        answer_bytes(node, quick._replace(method=krpc.PING, key=None), ("host.example", 1), 0.0)
