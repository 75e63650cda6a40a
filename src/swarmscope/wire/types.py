"""Value types of the BitTorrent protocol shared by every wire module.

Sources: BEP 3 (infohash, peer id), BEP 52 (v2 infohash, SHA-256), BEP 7 (IPv6 endpoints).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from swarmscope.errors import DecodeError

INFOHASH_V1_LEN = 20  # BEP 3: SHA-1 of the bencoded info dict
INFOHASH_V2_LEN = 32  # BEP 52: SHA-256 of the bencoded info dict
PEER_ID_LEN = 20  # BEP 3
BLOCK_SIZE = 16 * 1024  # BEP 3 / BEP 52: request granularity, bytes


@dataclass(frozen=True, slots=True)
class InfoHash:
    """A swarm identifier: 20 bytes (v1, SHA-1) or 32 bytes (v2, SHA-256).

    On the peer wire a v2 infohash is truncated to its first 20 bytes (BEP 52, "Upgrade path").

    Raises:
        DecodeError: when ``raw`` is neither 20 nor 32 bytes long.
    """

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) not in (INFOHASH_V1_LEN, INFOHASH_V2_LEN):
            raise DecodeError(f"infohash: expected 20 or 32 bytes, got {len(self.raw)}")

    @property
    def version(self) -> int:
        """1 for SHA-1 infohashes, 2 for SHA-256."""
        return 1 if len(self.raw) == INFOHASH_V1_LEN else 2

    @property
    def wire(self) -> bytes:
        """The 20 bytes sent in the peer-wire handshake and to trackers (BEP 52 truncation)."""
        return self.raw[:INFOHASH_V1_LEN]

    @property
    def hex(self) -> str:
        """Lower-case hex of the full hash."""
        return self.raw.hex()

    @classmethod
    def from_hex(cls, text: str) -> InfoHash:
        """Parse 40 or 64 hex characters.

        Raises:
            DecodeError: not hex, or the wrong length.
        """
        try:
            raw = bytes.fromhex(text)
        except ValueError as exc:
            raise DecodeError(f"infohash: not hex: {text[:80]!r}") from exc
        return cls(raw)

    def __str__(self) -> str:
        return self.hex


class SwarmIds:
    """Base of what names a swarm by its v1 and/or v2 infohash (a torrent file, a magnet link).

    A BEP 52 hybrid torrent has both; the swarm is then identified by the v1 hash, which every client
    speaks. The subclass declares the ``v1`` and ``v2`` fields; at least one is set.
    """

    __slots__ = ()
    v1: InfoHash | None
    v2: InfoHash | None

    @property
    def swarm_id(self) -> InfoHash:
        """The identity of the swarm: the v1 infohash when present, else the v2 one."""
        ident = self.v1 if self.v1 is not None else self.v2
        assert ident is not None
        return ident

    @property
    def wire_infohash(self) -> bytes:
        """The 20 bytes for handshakes and trackers (BEP 52: v1, or the v2 hash truncated to 20)."""
        return self.swarm_id.wire


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A peer or tracker transport address. ``host`` is a normalised IP literal (IPv4-mapped → IPv4).

    Raises:
        DecodeError: port outside 0..65535 or host not an IP literal.
    """

    host: str
    port: int

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise DecodeError(f"port: {self.port} outside 0..65535")

    @classmethod
    def parse(cls, host: str, port: int) -> Endpoint:
        """Normalise an IP literal (``::ffff:a.b.c.d`` becomes ``a.b.c.d``; see interop TRK-01).

        Raises:
            DecodeError: ``host`` is not an IP literal or ``port`` is out of range.
        """
        try:
            addr = ipaddress.ip_address(host.strip("[]"))
        except ValueError as exc:
            raise DecodeError(f"ip: not an IP literal: {host[:80]!r}") from exc
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return cls(str(addr), port)

    @property
    def is_v6(self) -> bool:
        """True for IPv6 addresses."""
        return ":" in self.host

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if self.is_v6 else f"{self.host}:{self.port}"


def host_key(host: str) -> str:
    """The host an address counts as wherever one host must count once (a DHT lookup's nodes, the
    listener's per-IP bounds and seal throttle, a PEX naming peer's quota): the IPv4 address itself, or
    the /64 of an IPv6 address (the prefix one subscriber gets, RFC 6177). An unparseable host (a name in a
    bootstrap list) counts as itself.
    """
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
