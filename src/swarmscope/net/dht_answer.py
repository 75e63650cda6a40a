"""Answers our DHT node gives to incoming queries (ping, find_node, get_peers, announce_peer, BEP 51).

Sources: BEP 5 "DHT Queries"; BEP 32 ``want``; BEP 33 (``scrape``, ``noseed``); BEP 42 (``ip`` in
replies); BEP 51 (``sample_infohashes``); interop-quirks DHT-07 (answer read-only nodes),
DHT-08 (tokens bound to the requester IP; wrong or empty tokens refused).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from swarmscope.errors import DecodeError
from swarmscope.wire import krpc
from swarmscope.wire.compact import NODE_V4_LEN, NODE_V6_LEN, encode_peers_v4, encode_peers_v6
from swarmscope.wire.krpc import KrpcError, Query, Response
from swarmscope.wire.krpc_query import FastQuery, encode_answer
from swarmscope.wire.types import Endpoint

if TYPE_CHECKING:
    from swarmscope.net.dht_limits import TokenIssuer
    from swarmscope.net.dht_store import PeerStore
    from swarmscope.wire.routing import RoutingTable

VERSION = b"SW\x00\x01"  # BEP 5 "v": 2-byte client code + 2-byte version
SAMPLE_INTERVAL = 300  # BEP 51 "interval", seconds
MAX_SAMPLES = 20  # BEP 51: what fits in a packet next to nodes
MAX_VALUES = 50  # keep replies under ~1200 bytes with BEP 33 filters


class AnsweringNode(Protocol):
    """What answering reads and updates on our node (:class:`swarmscope.net.dht_node.DhtNode` is one)."""

    node_id: bytes
    k: int
    routing: RoutingTable
    store: PeerStore
    tokens: TokenIssuer
    stats: dict[str, int]

    @property
    def v6(self) -> bool: ...

    def _discovered(self, info_hash: bytes, peers: list[Endpoint]) -> None: ...


@lru_cache(maxsize=16384)
def _endpoint(host: str, port: int) -> Endpoint:
    """Normalised endpoint of a socket address (cached: the same contacts recur in every answer)."""
    return Endpoint.parse(host, port)


@lru_cache(maxsize=16384)
def _ip_field(host: str, port: int) -> bytes:
    """BEP 42 ``ip`` of a requester: its normalised endpoint in compact form (6 or 18 bytes)."""
    endpoint = _endpoint(host, port)
    return encode_peers_v6([endpoint]) if endpoint.is_v6 else encode_peers_v4([endpoint])


def answer_bytes(
    node: AnsweringNode, query: Query | FastQuery, address: tuple[str, int], now: float
) -> bytes:
    """The encoded reply to one query: :func:`answer` then :func:`krpc.encode_message`, same bytes.

    A :class:`FastQuery` is answered from the routing table's compact node info without building a
    :class:`Response`, unless the reply needs more (stored ``values`` or BEP 33 filters for the
    infohash): then its datagram goes through the general decoder and :func:`answer`.

    Raises:
        DecodeError: the requester's address cannot be written compactly (e.g. a scoped IPv6 literal).
    """
    if isinstance(query, FastQuery):
        if query.method != krpc.GET_PEERS or not node.store.holds(query.key or b""):
            return _fast_answer(node, query, address)
        full = krpc.decode_message(query.raw, from_v6=node.v6)
        if not isinstance(full, Query):
            raise DecodeError("krpc: fast path and decoder disagree")  # never: parse_query is a subset
        query = full
    return krpc.encode_message(answer(node, query, address, now))


def _fast_answer(node: AnsweringNode, query: FastQuery, address: tuple[str, int]) -> bytes:
    """ping, find_node, or get_peers of an infohash with no stored peers (so no values, no filters)."""
    ip = _ip_field(*address)
    if query.key is None:  # ping
        return encode_answer(query.transaction_id, node.node_id, ip, VERSION)
    want = query.want or ((b"n6",) if node.v6 else (b"n4",))
    contacts = node.routing.closest_contacts(query.key, node.k)
    every = b"".join(contacts)
    if len(every) == NODE_V4_LEN * len(contacts):  # one family: a node's socket gives it one
        v4, v6 = every, b""
    elif len(every) == NODE_V6_LEN * len(contacts):
        v4, v6 = b"", every
    else:
        v4 = b"".join([c for c in contacts if len(c) == NODE_V4_LEN])
        v6 = b"".join([c for c in contacts if len(c) == NODE_V6_LEN])
    nodes = v4 if b"n4" in want else b""
    nodes6 = v6 if b"n6" in want else b""
    token = node.tokens.issue(address[0], query.key) if query.method == krpc.GET_PEERS else None
    return encode_answer(query.transaction_id, node.node_id, ip, VERSION, nodes, nodes6, token)


def _nodes(node: AnsweringNode, query: Query, target: bytes, now: float) -> dict[str, object]:
    """``nodes``/``nodes6`` of the closest good nodes, per ``want`` (BEP 32) or our socket family."""
    want = set(query.want) or ({b"n6"} if node.v6 else {b"n4"})
    closest = [(e.node_id, Endpoint(e.host, e.port)) for e in node.routing.closest(target, node.k, now)]
    out: dict[str, object] = {}
    if b"n4" in want:
        out["nodes"] = tuple(n for n in closest if not n[1].is_v6)
    if b"n6" in want:
        out["nodes6"] = tuple(n for n in closest if n[1].is_v6)
    return out


def answer(node: AnsweringNode, query: Query, address: tuple[str, int], now: float) -> krpc.Message:
    """Build the reply to one query from ``address``.

    Args:
        node: our node (routing table, peer store, tokens).
        query: the decoded query.
        address: ``(host, port)`` it came from.
        now: monotonic seconds.

    Returns:
        A :class:`Response` (with BEP 42 ``ip``) or a :class:`KrpcError` (203 bad token, 204 unknown).
    """
    tid, host = query.transaction_id, address[0]
    base = Response(tid, node.node_id, external_ip=_endpoint(host, address[1]), version=VERSION)
    if query.method == krpc.PING:
        return base
    if query.method == krpc.GET_PEERS and query.info_hash is not None:
        return _get_peers(node, query, base, host, now)
    if query.method == krpc.ANNOUNCE_PEER and query.info_hash is not None:
        if query.token is None or not node.tokens.verify(query.token, host, query.info_hash):
            return KrpcError(tid, krpc.ERROR_PROTOCOL, b"bad token")  # DHT-08
        port = address[1] if query.implied_port or query.port is None else query.port
        peer = Endpoint.parse(host, port)
        if node.store.add(query.info_hash, peer, query.seed, now):
            node.stats["announces_stored"] += 1
            node._discovered(query.info_hash, [peer])  # a peer announcing to us is a DHT listing too
        return base
    if query.method == krpc.SAMPLE_INFOHASHES and query.target is not None:
        samples = node.store.infohashes()
        return Response(
            tid, node.node_id, samples=tuple(samples[:MAX_SAMPLES]), num=len(samples),
            interval=SAMPLE_INTERVAL, external_ip=base.external_ip, version=base.version,
            **_nodes(node, query, query.target, now),  # type: ignore[arg-type]
        )  # fmt: skip
    target = query.target or query.info_hash
    if target is not None:  # find_node, and unknown methods with a target (forward compatibility)
        return Response(
            tid, node.node_id, external_ip=base.external_ip, version=base.version,
            **_nodes(node, query, target, now),  # type: ignore[arg-type]
        )  # fmt: skip
    return KrpcError(tid, krpc.ERROR_METHOD, b"method unknown")


def _get_peers(node: AnsweringNode, query: Query, base: Response, host: str, now: float) -> Response:
    info_hash = query.info_hash or b""
    values = tuple(node.store.peers(info_hash, MAX_VALUES, query.noseed))
    blooms = node.store.blooms(info_hash) if query.scrape else None
    return Response(
        base.transaction_id, node.node_id, values=values, token=node.tokens.issue(host, info_hash),
        bloom_seeds=blooms[0] if blooms else None, bloom_peers=blooms[1] if blooms else None,
        external_ip=base.external_ip, version=base.version,
        **_nodes(node, query, info_hash, now),  # type: ignore[arg-type]
    )  # fmt: skip
