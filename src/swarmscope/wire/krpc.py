"""KRPC: the bencoded UDP messages of the Mainline DHT (queries, responses, errors).

Decoding is liberal where real nodes deviate (interop-quirks DHT-01/03/04/07/08/09) and strict where a
wrong value would mislead us: a node id must be 20 bytes, ``y`` must be one of ``q``/``r``/``e`` and a
transaction id must be present. One UDP datagram holds one message; bytes after the top-level dict are
ignored, as libtorrent's ``bdecode`` stops at the end of the first value. Deviations that were tolerated
are listed in ``quirks`` so a recorder can keep them. More than :data:`MAX_VALUES` values are refused
(libtorrent's ``dht_tracker.cpp``: ``bdecode(..., 10, 500)``; a genuine datagram holds 10 to 110).
Transaction ids and tokens are opaque bytes passed in by the caller (this module draws no randomness).

Sources: BEP 5 "KRPC Protocol" and "DHT Queries"; BEP 32 (``nodes6``, ``want``); BEP 33 (``scrape``,
``noseed``, ``seed``, ``BFsd``/``BFpe``); BEP 42 (top-level ``ip``); BEP 43 (``ro``); BEP 51
(``sample_infohashes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from swarmscope.errors import DecodeError
from swarmscope.wire import bencode
from swarmscope.wire.compact import (
    NODE_ID_LEN,
    NODE_V4_LEN,
    NODE_V6_LEN,
    PEER_V4_LEN,
    PEER_V6_LEN,
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

PING, FIND_NODE, GET_PEERS = b"ping", b"find_node", b"get_peers"  # BEP 5
ANNOUNCE_PEER = b"announce_peer"  # BEP 5
SAMPLE_INFOHASHES = b"sample_infohashes"  # BEP 51
METHODS = frozenset({PING, FIND_NODE, GET_PEERS, ANNOUNCE_PEER, SAMPLE_INFOHASHES})
ERROR_GENERIC, ERROR_SERVER, ERROR_PROTOCOL, ERROR_METHOD = 201, 202, 203, 204  # BEP 5 "Errors"
BLOOM_LEN = 256  # BEP 33: BFsd / BFpe are 256 bytes
MAX_VALUES = 500  # bencode values in one datagram (libtorrent's DHT token_limit)

Node = tuple[bytes, Endpoint]


@dataclass(frozen=True, slots=True)
class Query:
    """A KRPC query (``y`` = ``q``). Fields not used by ``method`` stay at their defaults.

    ``target`` is the find_node / sample_infohashes target, ``info_hash`` the get_peers / announce_peer
    key (both 20 bytes). ``want`` holds BEP 32 flags (``n4``, ``n6``). ``read_only`` is BEP 43 ``ro=1``.
    """

    transaction_id: bytes
    method: bytes
    node_id: bytes
    target: bytes | None = None
    info_hash: bytes | None = None
    token: bytes | None = None
    port: int | None = None
    implied_port: bool = False
    seed: bool = False
    scrape: bool = False
    noseed: bool = False
    want: tuple[bytes, ...] = ()
    read_only: bool = False
    version: bytes | None = None
    quirks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Response:
    """A KRPC response (``y`` = ``r``). Absent optional keys are None / empty (DHT-09).

    ``nodes`` come from ``nodes`` (IPv4), ``nodes6`` from ``nodes6`` (IPv6), ``values`` are peers
    (DHT-01). ``samples``/``num``/``interval`` are BEP 51, ``bloom_seeds``/``bloom_peers`` BEP 33,
    ``external_ip`` the BEP 42 top-level ``ip`` (our address as the responder saw it).
    """

    transaction_id: bytes
    node_id: bytes
    nodes: tuple[Node, ...] = ()
    nodes6: tuple[Node, ...] = ()
    values: tuple[Endpoint, ...] = ()
    token: bytes | None = None
    bloom_seeds: bytes | None = None
    bloom_peers: bytes | None = None
    samples: tuple[bytes, ...] | None = None
    num: int | None = None
    interval: int | None = None
    external_ip: Endpoint | None = None
    version: bytes | None = None
    quirks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KrpcError:
    """A KRPC error (``y`` = ``e``): ``[code, message]`` (BEP 5 "Errors")."""

    transaction_id: bytes
    code: int
    message: bytes
    quirks: tuple[str, ...] = ()


Message = Query | Response | KrpcError


def _bytes(d: dict[bytes, Any], key: bytes, where: str) -> bytes | None:
    value = d.get(key)
    if value is not None and not isinstance(value, bytes):
        raise DecodeError(f"krpc: {where}.{key.decode()} is not a byte string")
    return value


def _id20(d: dict[bytes, Any], key: bytes, where: str) -> bytes:
    value = _bytes(d, key, where)
    if value is None:
        raise DecodeError(f"krpc: {where}.{key.decode()} missing")
    if len(value) != NODE_ID_LEN:
        raise DecodeError(f"krpc: {where}.{key.decode()} is {len(value)} bytes, not 20 (DHT-09)")
    return value


def _int(d: dict[bytes, Any], key: bytes, where: str) -> int | None:
    value = d.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise DecodeError(f"krpc: {where}.{key.decode()} is not an integer")
    return value


def _flag(d: dict[bytes, Any], key: bytes) -> bool:
    value = d.get(key)
    return isinstance(value, int) and value != 0


def _dict(d: dict[bytes, Any], key: bytes) -> dict[bytes, Any]:
    value = d.get(key)
    if not isinstance(value, dict):
        raise DecodeError(f"krpc: '{key.decode()}' missing or not a dictionary")
    return value


def _decode_query(top: dict[bytes, Any], tid: bytes, quirks: list[str]) -> Query:
    method = _bytes(top, b"q", "")
    if method is None:
        raise DecodeError("krpc: query without 'q'")
    args = _dict(top, b"a")
    port = _int(args, b"port", "a")
    if port is not None and not 0 <= port <= 65535:
        raise DecodeError(f"krpc: a.port {port} outside 0..65535")
    want = args.get(b"want", [])
    if not isinstance(want, list):
        quirks.append("a.want is not a list; ignored")
        want = []
    target = info_hash = None
    if method in (FIND_NODE, SAMPLE_INFOHASHES):
        target = _id20(args, b"target", "a")
    if method in (GET_PEERS, ANNOUNCE_PEER):
        info_hash = _id20(args, b"info_hash", "a")
    token = _bytes(args, b"token", "a")
    if method == ANNOUNCE_PEER and token is None:
        raise DecodeError("krpc: announce_peer without a.token")
    return Query(
        transaction_id=tid,
        method=method,
        node_id=_id20(args, b"id", "a"),
        target=target,
        info_hash=info_hash,
        token=token,
        port=port,
        implied_port=_flag(args, b"implied_port"),
        seed=_flag(args, b"seed"),
        scrape=_flag(args, b"scrape"),
        noseed=_flag(args, b"noseed"),
        want=tuple(w for w in want if isinstance(w, bytes)),
        read_only=_flag(top, b"ro"),
        version=_version(top),
        quirks=tuple(quirks),
    )


def _version(top: dict[bytes, Any]) -> bytes | None:
    value = top.get(b"v")
    return value if isinstance(value, bytes) else None


def _nodes(r: dict[bytes, Any], key: bytes, stride: int, quirks: list[str]) -> tuple[Node, ...]:
    """Whole entries of ``nodes``/``nodes6``; a partial tail is ignored like libtorrent (DHT-03)."""
    data = _bytes(r, key, "r")
    if data is None:
        return ()
    tail = len(data) % stride
    if tail:
        quirks.append(f"r.{key.decode()}: {tail} trailing bytes ignored")
        data = data[: len(data) - tail]
    decode = decode_nodes_v4 if stride == NODE_V4_LEN else decode_nodes_v6
    return tuple(decode(data))


def _values(r: dict[bytes, Any], from_v6: bool, quirks: list[str]) -> tuple[Endpoint, ...]:
    """``values`` per DHT-01: list of 6/18-byte strings, or one concatenated IPv4 string."""
    items = r.get(b"values")
    if items is None:
        return ()
    if not isinstance(items, list):
        raise DecodeError("krpc: r.values is not a list (DHT-01)")
    strings = [item for item in items if isinstance(item, bytes)]
    if len(strings) == 1 and not from_v6 and len(strings[0]) > PEER_V4_LEN and len(strings[0]) % 6 == 0:
        quirks.append("r.values: one concatenated string split every 6 bytes")
        return tuple(decode_peers_v4(strings[0]))
    peers: list[Endpoint] = []
    for item in strings:
        if len(item) == PEER_V4_LEN:
            peers += decode_peers_v4(item)
        elif len(item) == PEER_V6_LEN:
            peers += decode_peers_v6(item)
        else:
            quirks.append(f"r.values: entry of {len(item)} bytes skipped")
    if len(strings) != len(items):
        quirks.append("r.values: non-string entries skipped")
    return tuple(peers)


def _samples(r: dict[bytes, Any], quirks: list[str]) -> tuple[bytes, ...] | None:
    data = _bytes(r, b"samples", "r")
    if data is None:
        return None
    if len(data) % NODE_ID_LEN:
        quirks.append(f"r.samples: {len(data) % NODE_ID_LEN} trailing bytes ignored")
    return tuple(data[i : i + NODE_ID_LEN] for i in range(0, len(data) - NODE_ID_LEN + 1, NODE_ID_LEN))


def _bloom(r: dict[bytes, Any], key: bytes) -> bytes | None:
    data = _bytes(r, key, "r")
    if data is not None and len(data) != BLOOM_LEN:
        raise DecodeError(f"krpc: r.{key.decode()} is {len(data)} bytes, not {BLOOM_LEN} (BEP 33)")
    return data


def _external_ip(top: dict[bytes, Any], quirks: list[str]) -> Endpoint | None:
    data = top.get(b"ip")
    if not isinstance(data, bytes):
        return None
    if len(data) == PEER_V4_LEN:
        return decode_peers_v4(data)[0]
    if len(data) == PEER_V6_LEN:
        return decode_peers_v6(data)[0]
    quirks.append(f"ip: {len(data)} bytes ignored (BEP 42 wants 6 or 18)")
    return None


def _decode_response(top: dict[bytes, Any], tid: bytes, from_v6: bool, quirks: list[str]) -> Response:
    r = _dict(top, b"r")
    if b"q" in top:
        quirks.append("response carries 'q' (DHT-04)")
    return Response(
        transaction_id=tid,
        node_id=_id20(r, b"id", "r"),
        nodes=_nodes(r, b"nodes", NODE_V4_LEN, quirks),
        nodes6=_nodes(r, b"nodes6", NODE_V6_LEN, quirks),
        values=_values(r, from_v6, quirks),
        token=_bytes(r, b"token", "r"),
        bloom_seeds=_bloom(r, b"BFsd"),
        bloom_peers=_bloom(r, b"BFpe"),
        samples=_samples(r, quirks),
        num=_int(r, b"num", "r"),
        interval=_int(r, b"interval", "r"),
        external_ip=_external_ip(top, quirks),
        version=_version(top),
        quirks=tuple(quirks),
    )


def _decode_error(top: dict[bytes, Any], tid: bytes, quirks: list[str]) -> KrpcError:
    body = top.get(b"e")
    if isinstance(body, list) and len(body) >= 2 and isinstance(body[0], int) and isinstance(body[1], bytes):
        return KrpcError(tid, body[0], body[1], tuple(quirks))
    if isinstance(body, list) and body and isinstance(body[0], int):
        return KrpcError(tid, body[0], b"", (*quirks, "e: no message"))
    raise DecodeError("krpc: 'e' is not a [code, message] list")


def decode_message(data: bytes, *, from_v6: bool = False, top: Any = None) -> Message:
    """Decode one KRPC datagram.

    Args:
        data: the UDP payload.
        from_v6: the datagram came over IPv6 (decides a single ``values`` string, DHT-01).
        top: ``data`` as ``bencode.decode_canonical(data, MAX_VALUES)`` decoded it, when it did: not again.

    Returns:
        A :class:`Query`, :class:`Response` or :class:`KrpcError`; tolerated deviations in ``quirks``.

    Raises:
        DecodeError: not a bencoded dict or over :data:`MAX_VALUES` values; ``y`` not ``q``/``r``/``e``, or
            ``t`` missing (DHT-04); a node id, target or info_hash not 20 bytes (DHT-09); a wrong type.

    Source: BEP 5 "KRPC Protocol"; interop-quirks DHT-01, DHT-03, DHT-04, DHT-07, DHT-08, DHT-09.
    """
    top, end = (top, len(data)) if top is not None else bencode.decode_prefix(data, 0, MAX_VALUES)
    if not isinstance(top, dict):
        raise DecodeError("krpc: message is not a dictionary", 0)
    quirks = [f"{len(data) - end} trailing bytes ignored"] if end != len(data) else []
    kind = top.get(b"y")
    if not isinstance(kind, bytes) or kind not in (b"q", b"r", b"e"):
        raise DecodeError("krpc: 'y' missing or not one of q/r/e (DHT-04)")
    tid = top.get(b"t")
    if not isinstance(tid, bytes):
        raise DecodeError("krpc: transaction id 't' missing (DHT-04)")
    if kind == b"q":
        return _decode_query(top, tid, quirks)
    if kind == b"r":
        return _decode_response(top, tid, from_v6, quirks)
    return _decode_error(top, tid, quirks)


def _query_args(query: Query) -> dict[bytes, Any]:
    args: dict[bytes, Any] = {b"id": query.node_id}
    optional: list[tuple[bytes, Any]] = [
        (b"target", query.target),
        (b"info_hash", query.info_hash),
        (b"token", query.token),
        (b"port", query.port),
        (b"implied_port", 1 if query.implied_port else None),
        (b"seed", 1 if query.seed else None),
        (b"scrape", 1 if query.scrape else None),
        (b"noseed", 1 if query.noseed else None),
        (b"want", list(query.want) if query.want else None),
    ]
    args.update((key, value) for key, value in optional if value is not None)
    return args


@lru_cache(maxsize=16384)
def _compact(endpoint: Endpoint, v6: bool) -> bytes:
    """Compact bytes of one endpoint, cached: answers repeat the same routing-table contacts."""
    return encode_peers_v6([endpoint]) if v6 else encode_peers_v4([endpoint])


def _encode_nodes(nodes: tuple[Node, ...], v6: bool) -> bytes:
    if any(len(node_id) != NODE_ID_LEN for node_id, _ in nodes):
        return (encode_nodes_v6 if v6 else encode_nodes_v4)(nodes)  # raises ValueError (our misuse)
    return b"".join(node_id + _compact(endpoint, v6) for node_id, endpoint in nodes)


def _response_body(response: Response) -> dict[bytes, Any]:
    r: dict[bytes, Any] = {b"id": response.node_id}
    if response.nodes:
        r[b"nodes"] = _encode_nodes(response.nodes, False)
    if response.nodes6:
        r[b"nodes6"] = _encode_nodes(response.nodes6, True)
    if response.values:
        r[b"values"] = [_compact(peer, peer.is_v6) for peer in response.values]
    optional: list[tuple[bytes, Any]] = [
        (b"token", response.token),
        (b"BFsd", response.bloom_seeds),
        (b"BFpe", response.bloom_peers),
        (b"samples", None if response.samples is None else b"".join(response.samples)),
        (b"num", response.num),
        (b"interval", response.interval),
    ]
    r.update((key, value) for key, value in optional if value is not None)
    return r


def encode_message(message: Message) -> bytes:
    """Encode a query, response or error as one KRPC datagram.

    Args:
        message: the message; ``quirks`` are not encoded.

    Returns:
        The bencoded bytes (canonical key order).

    Raises:
        ValueError: a node endpoint that cannot be written in its family (our misuse).

    Source: BEP 5 "KRPC Protocol"; BEP 32, 33, 42, 43, 51 for the optional keys.
    """
    top: dict[bytes, Any] = {b"t": message.transaction_id}
    if isinstance(message, Query):
        top.update({b"y": b"q", b"q": message.method, b"a": _query_args(message)})
        if message.read_only:
            top[b"ro"] = 1
    elif isinstance(message, Response):
        top.update({b"y": b"r", b"r": _response_body(message)})
        if message.external_ip is not None:
            top[b"ip"] = _compact(message.external_ip, message.external_ip.is_v6)
    else:
        top.update({b"y": b"e", b"e": [message.code, message.message]})
    if not isinstance(message, KrpcError) and message.version is not None:
        top[b"v"] = message.version
    return bencode.encode(top)
