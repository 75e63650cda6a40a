"""Answers to incoming KRPC queries (no socket): every method, want flags, tokens, and a property that
every answer to any decodable query encodes and decodes again."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.net.dht_answer import answer
from swarmscope.net.dht_node import DhtNode
from swarmscope.wire import krpc
from swarmscope.wire.bencode import encode
from swarmscope.wire.krpc import KrpcError, Query, Response
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
