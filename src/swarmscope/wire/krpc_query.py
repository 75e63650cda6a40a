"""The fast path of KRPC: the three queries a DHT node answers most, read and answered without objects.

A busy node's traffic is mostly ``ping``, ``find_node`` and ``get_peers`` queries. :func:`parse_query`
reads the few keys they carry from the dict the C decoder built (:func:`bencode.decode_canonical`) and
returns a :class:`FastQuery`, or None whenever anything is unusual: then the caller hands the datagram to
the general :func:`krpc.decode_message`, which decides (accepts it with its quirks, or refuses it with
:class:`~swarmscope.errors.DecodeError`). The fast path never refuses and never accepts more: every input
it accepts, the general decoder accepts as a :class:`krpc.Query` with the same transaction id, method,
node id, target/info_hash, ``want`` and ``ro``; ``tests/wire/test_krpc_query.py`` checks that property on
valid and mutated datagrams.

:func:`encode_answer` writes a reply byte for byte as :func:`krpc.encode_message` writes the equivalent
:class:`krpc.Response` (canonical key order, BEP 3), from parts the caller keeps ready.

Sources: BEP 5 "KRPC Protocol", "DHT Queries"; BEP 32 (``want``, ``nodes6``); BEP 42 (top-level ``ip``);
BEP 43 (``ro``); interop-quirks DHT-04, DHT-09.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from swarmscope.wire.compact import NODE_ID_LEN
from swarmscope.wire.krpc import FIND_NODE, GET_PEERS, PING

_TARGET_KEY = {PING: None, FIND_NODE: b"target", GET_PEERS: b"info_hash"}  # BEP 5 "DHT Queries"
_NO_WANT: list[Any] = []
_is_bytes = bytes.__instancecheck__  # krpc's rule for want entries: isinstance(entry, bytes)


class FastQuery(NamedTuple):
    """A ping / find_node / get_peers query read by :func:`parse_query`.

    ``key`` is the find_node ``target`` or the get_peers ``info_hash`` (20 bytes; None for ping), ``want``
    the BEP 32 byte strings of ``a.want`` in order, ``read_only`` BEP 43 ``ro``; ``raw`` is the datagram,
    for the general decoder when the answer needs more than these fields.
    """

    transaction_id: bytes
    method: bytes
    node_id: bytes
    key: bytes | None
    want: tuple[bytes, ...]
    read_only: bool
    raw: bytes


def parse_query(top: object, raw: bytes) -> FastQuery | None:
    """Read a plain ping / find_node / get_peers query from its decoded top-level dict.

    Args:
        top: the value :func:`swarmscope.wire.bencode.decode_canonical` returned for ``raw``.
        raw: the datagram.

    Returns:
        The query, or None when the general decoder must decide: not a dict, ``y`` not ``q``, another
        method, a missing or mistyped key, a node id / target / info_hash not 20 bytes, a ``port`` or
        ``token`` key (validated there), or ``want`` not a list (a quirk there).
    """
    if type(top) is not dict or top.get(b"y") != b"q":
        return None
    tid, method, args = top.get(b"t"), top.get(b"q"), top.get(b"a")
    if type(tid) is not bytes or type(method) is not bytes or type(args) is not dict:
        return None
    if method not in _TARGET_KEY or b"port" in args or b"token" in args:
        return None
    node_id, want = args.get(b"id"), args.get(b"want", _NO_WANT)
    if type(node_id) is not bytes or len(node_id) != NODE_ID_LEN or type(want) is not list:
        return None
    name = _TARGET_KEY[method]
    key = None if name is None else args.get(name)
    if name is not None and (type(key) is not bytes or len(key) != NODE_ID_LEN):
        return None
    wants = tuple(filter(_is_bytes, want)) if want else ()
    ro = top.get(b"ro")
    return FastQuery(tid, method, node_id, key, wants, type(ro) is int and ro != 0, raw)  # krpc's flag rule


def encode_answer(
    transaction_id: bytes,
    node_id: bytes,
    external_ip: bytes,
    version: bytes,
    nodes: bytes = b"",
    nodes6: bytes = b"",
    token: bytes | None = None,
) -> bytes:
    """Bencode a reply without ``values``, ``samples`` or BEP 33 filters.

    Args:
        transaction_id: the query's ``t``.
        node_id: our 20-byte id.
        external_ip: compact address of the requester (BEP 42 ``ip``: 6 or 18 bytes).
        version: our ``v``.
        nodes, nodes6: compact node info (26 / 38 bytes a node); empty ones are left out.
        token: the get_peers write token, or None.

    Returns:
        The same bytes :func:`krpc.encode_message` gives for the equivalent :class:`krpc.Response`.
    """
    head = b"d2:ip%d:%s1:rd2:id%d:%s" % (len(external_ip), external_ip, len(node_id), node_id)
    tail = b"e1:t%d:%s1:v%d:%s1:y1:re" % (len(transaction_id), transaction_id, len(version), version)
    if token is None and not nodes6:
        return head + (b"5:nodes%d:%s" % (len(nodes), nodes) if nodes else b"") + tail
    body = [head]
    if nodes:
        body.append(b"5:nodes%d:%s" % (len(nodes), nodes))
    if nodes6:
        body.append(b"6:nodes6%d:%s" % (len(nodes6), nodes6))
    if token is not None:
        body.append(b"5:token%d:%s" % (len(token), token))
    body.append(tail)
    return b"".join(body)
