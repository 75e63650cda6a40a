"""Compact peer and node encodings: fixed-stride binary address lists.

The address family is always chosen by the caller from the key the bytes came under (``peers`` vs
``peers6``, ``nodes`` vs ``nodes6``) or from the tracker socket's family, never inferred from the total
length: 18·k bytes is also a multiple of 6, and 494 = 26·19 = 38·13 (interop DHT-03, TRK-17).

Sources: BEP 23 (compact IPv4 peers, 6 bytes), BEP 7 (compact IPv6 peers, 18 bytes),
BEP 5 "Contact Encoding" (compact IPv4 nodes, 26 bytes), BEP 32 (compact IPv6 nodes, 38 bytes).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from swarmscope.errors import DecodeError
from swarmscope.wire.types import Endpoint

PEER_V4_LEN = 6  # BEP 23: 4-byte IPv4 address + 2-byte port, network order
PEER_V6_LEN = 18  # BEP 7: 16-byte IPv6 address + 2-byte port
NODE_ID_LEN = 20  # BEP 5: node id
NODE_V4_LEN = NODE_ID_LEN + PEER_V4_LEN  # BEP 5: 26 bytes
NODE_V6_LEN = NODE_ID_LEN + PEER_V6_LEN  # BEP 32: 38 bytes


def _check_stride(data: bytes, stride: int, what: str) -> None:
    if len(data) % stride:
        raise DecodeError(
            f"{what}: length {len(data)} is not a multiple of {stride}", len(data) - len(data) % stride
        )


def _endpoint(chunk: bytes) -> Endpoint:
    """One compact address+port (6 or 18 bytes) → :class:`Endpoint`; IPv4-mapped IPv6 becomes IPv4."""
    addr_len = len(chunk) - 2
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address
    addr = (
        ipaddress.IPv4Address(chunk[:addr_len]) if addr_len == 4 else ipaddress.IPv6Address(chunk[:addr_len])
    )
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return Endpoint(str(addr), int.from_bytes(chunk[addr_len:], "big"))


def _pack_endpoint(endpoint: Endpoint, v6: bool) -> bytes:
    """:class:`Endpoint` → compact bytes; an IPv4 endpoint is written IPv4-mapped in v6 form."""
    try:
        addr = ipaddress.ip_address(endpoint.host)
    except ValueError as exc:
        raise ValueError(f"compact: host is not an IP literal: {endpoint.host!r}") from exc
    if v6 and isinstance(addr, ipaddress.IPv4Address):
        addr = ipaddress.IPv6Address(b"\x00" * 10 + b"\xff\xff" + addr.packed)
    if (addr.version == 6) != v6:
        raise ValueError(f"compact: {endpoint} cannot be written as IPv{6 if v6 else 4}")
    return addr.packed + endpoint.port.to_bytes(2, "big")


def _decode_peers(data: bytes, stride: int, what: str) -> list[Endpoint]:
    _check_stride(data, stride, what)
    return [_endpoint(data[i : i + stride]) for i in range(0, len(data), stride)]


def _decode_nodes(data: bytes, stride: int, what: str) -> list[tuple[bytes, Endpoint]]:
    _check_stride(data, stride, what)
    return [
        (data[i : i + NODE_ID_LEN], _endpoint(data[i + NODE_ID_LEN : i + stride]))
        for i in range(0, len(data), stride)
    ]


def decode_peers_v4(data: bytes) -> list[Endpoint]:
    """Decode a compact IPv4 peer list (``peers`` string of a tracker reply, DHT ``values`` entry).

    Args:
        data: concatenated 6-byte entries (4-byte address, 2-byte big-endian port).

    Returns:
        The endpoints in wire order (duplicates and port 0 kept; the caller filters).

    Raises:
        DecodeError: the length is not a multiple of 6.

    Source: BEP 23; interop TRK-17 (stride from the caller, never from the length).
    """
    return _decode_peers(data, PEER_V4_LEN, "compact peers (IPv4)")


def decode_peers_v6(data: bytes) -> list[Endpoint]:
    """Decode a compact IPv6 peer list (``peers6`` of a tracker reply, an 18-byte DHT value).

    Args:
        data: concatenated 18-byte entries (16-byte address, 2-byte big-endian port).

    Returns:
        The endpoints in wire order; IPv4-mapped addresses are normalised to IPv4 (TRK-01).

    Raises:
        DecodeError: the length is not a multiple of 18.

    Source: BEP 7 "Tracker announce"; interop TRK-17.
    """
    return _decode_peers(data, PEER_V6_LEN, "compact peers (IPv6)")


def encode_peers_v4(peers: Iterable[Endpoint]) -> bytes:
    """Encode IPv4 endpoints as a compact peer list.

    Args:
        peers: endpoints whose host is an IPv4 literal.

    Returns:
        6 bytes per endpoint.

    Raises:
        ValueError: an endpoint is IPv6 or not an IP literal (our misuse, not remote input).

    Source: BEP 23.
    """
    return b"".join(_pack_endpoint(p, v6=False) for p in peers)


def encode_peers_v6(peers: Iterable[Endpoint]) -> bytes:
    """Encode endpoints as a compact IPv6 peer list (IPv4 endpoints are written IPv4-mapped).

    Args:
        peers: endpoints with an IP literal host.

    Returns:
        18 bytes per endpoint.

    Raises:
        ValueError: a host is not an IP literal.

    Source: BEP 7.
    """
    return b"".join(_pack_endpoint(p, v6=True) for p in peers)


def decode_nodes_v4(data: bytes) -> list[tuple[bytes, Endpoint]]:
    """Decode a compact IPv4 node list (KRPC ``nodes``).

    Args:
        data: concatenated 26-byte entries (20-byte node id, 4-byte address, 2-byte port).

    Returns:
        ``(node id, endpoint)`` pairs in wire order.

    Raises:
        DecodeError: the length is not a multiple of 26.

    Source: BEP 5 "Contact Encoding"; interop DHT-03.
    """
    return _decode_nodes(data, NODE_V4_LEN, "compact nodes (IPv4)")


def decode_nodes_v6(data: bytes) -> list[tuple[bytes, Endpoint]]:
    """Decode a compact IPv6 node list (KRPC ``nodes6``).

    Args:
        data: concatenated 38-byte entries (20-byte node id, 16-byte address, 2-byte port).

    Returns:
        ``(node id, endpoint)`` pairs in wire order; IPv4-mapped addresses normalised to IPv4.

    Raises:
        DecodeError: the length is not a multiple of 38.

    Source: BEP 32; interop DHT-03.
    """
    return _decode_nodes(data, NODE_V6_LEN, "compact nodes (IPv6)")


def _encode_nodes(nodes: Iterable[tuple[bytes, Endpoint]], v6: bool) -> bytes:
    out = bytearray()
    for node_id, endpoint in nodes:
        if len(node_id) != NODE_ID_LEN:
            raise ValueError(f"compact nodes: node id must be 20 bytes, got {len(node_id)}")
        out += node_id + _pack_endpoint(endpoint, v6)
    return bytes(out)


def encode_nodes_v4(nodes: Iterable[tuple[bytes, Endpoint]]) -> bytes:
    """Encode ``(node id, IPv4 endpoint)`` pairs as KRPC ``nodes``.

    Args:
        nodes: pairs of a 20-byte node id and an IPv4 endpoint.

    Returns:
        26 bytes per node.

    Raises:
        ValueError: a node id is not 20 bytes or an endpoint is not IPv4.

    Source: BEP 5 "Contact Encoding".
    """
    return _encode_nodes(nodes, v6=False)


def encode_nodes_v6(nodes: Iterable[tuple[bytes, Endpoint]]) -> bytes:
    """Encode ``(node id, endpoint)`` pairs as KRPC ``nodes6`` (IPv4 written IPv4-mapped).

    Args:
        nodes: pairs of a 20-byte node id and an endpoint.

    Returns:
        38 bytes per node.

    Raises:
        ValueError: a node id is not 20 bytes or a host is not an IP literal.

    Source: BEP 32.
    """
    return _encode_nodes(nodes, v6=True)
