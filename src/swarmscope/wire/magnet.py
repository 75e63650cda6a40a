"""Magnet URIs: ``magnet:?xt=urn:btih:…&xt=urn:btmh:1220…&dn=…&tr=…&x.pe=…&xl=…``.

Sources: BEP 9 ("Magnet URI format": xt btih in hex or base32, dn, tr, x.pe), BEP 52 (``urn:btmh``
with a SHA-256 multihash ``1220`` prefix), interop-quirks TRK-18 (unusable ``tr`` entries are skipped).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_plus

from swarmscope.errors import DecodeError
from swarmscope.wire.announce_list import clean_tracker_url
from swarmscope.wire.types import Endpoint, InfoHash, SwarmIds

MULTIHASH_SHA256 = "1220"  # BEP 52: multihash code 0x12 (sha2-256), length 0x20
_HEX = re.compile(r"[0-9a-fA-F]+")
_PEER = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[^:\[\]]+):([0-9]{1,5})$")
MAX_URI_LEN = 64 * 1024  # refuse absurd inputs before splitting them
MAX_XL_DIGITS = 20  # xl is a byte count; 2**64 - 1 has 20 digits (int() refuses 4,300 with ValueError)


@dataclass(frozen=True, slots=True)
class Magnet(SwarmIds):
    """What a magnet link carries.

    Attributes:
        v1: from the last ``xt=urn:btih:`` (40 hex or 32 base32 characters), or None.
        v2: from the last ``xt=urn:btmh:1220…`` (64 hex characters), or None.
        display_name: ``dn`` (percent-decoded, ``+`` as space), or None.
        trackers: usable ``tr`` URLs in order, duplicates and TRK-18 rejects removed.
        peers: ``x.pe`` peer addresses given as IP literals (host names are skipped).
        exact_length: ``xl`` in bytes (at most 20 digits), or None.
    """

    v1: InfoHash | None
    v2: InfoHash | None
    display_name: str | None
    trackers: tuple[str, ...]
    peers: tuple[Endpoint, ...]
    exact_length: int | None

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary for ``swarmscope inspect``."""
        return {
            "name": self.display_name,
            "version": "hybrid" if self.v1 and self.v2 else "v1" if self.v1 else "v2",
            "v1": self.v1.hex if self.v1 else None,
            "v2": self.v2.hex if self.v2 else None,
            "wire_infohash": self.wire_infohash.hex(),
            "total_size": self.exact_length,
            "trackers": list(self.trackers),
            "peers": [str(p) for p in self.peers],
        }


def _btih(value: str) -> InfoHash:
    if len(value) == 40 and _HEX.fullmatch(value):
        return InfoHash(bytes.fromhex(value))
    if len(value) == 32:
        try:
            return InfoHash(base64.b32decode(value.upper()))
        except (binascii.Error, ValueError):
            pass
    raise DecodeError(f"xt: urn:btih needs 40 hex or 32 base32 characters, got {value[:80]!r}")


def _btmh(value: str) -> InfoHash:
    if len(value) != 68 or not _HEX.fullmatch(value) or not value.startswith(MULTIHASH_SHA256):
        raise DecodeError(f"xt: urn:btmh needs '1220' + 64 hex characters, got {value[:80]!r}")
    return InfoHash(bytes.fromhex(value[4:]))


def _peer(value: str) -> Endpoint | None:
    match = _PEER.match(value)
    if match is None:
        raise DecodeError(f"x.pe: expected host:port, got {value[:80]!r}")
    host, port = match.group(1), int(match.group(2))
    if port > 65535:
        raise DecodeError(f"x.pe: port {port} outside 0..65535")
    try:
        return Endpoint.parse(host, port)
    except DecodeError:
        return None  # a host name: not an address we can record


def _params(uri: str) -> list[tuple[str, str]]:
    if len(uri) > MAX_URI_LEN:
        raise DecodeError(f"magnet: longer than {MAX_URI_LEN} characters")
    if not uri[:8].lower().startswith("magnet:"):
        raise DecodeError(f"magnet: not a magnet URI (scheme of {uri[:40]!r})")
    query = uri[7:].lstrip("?")
    pairs: list[tuple[str, str]] = []
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((key.lower().split(".")[0] if key.lower() != "x.pe" else "x.pe", value))
    return pairs


def parse_magnet(uri: str) -> Magnet:
    """Parse a magnet URI.

    Args:
        uri: the text of the link.

    Returns:
        The :class:`Magnet`.

    Every ``xt`` is checked; when several name an infohash of one kind (two ``urn:btih``, or two
    ``urn:btmh``), the last one wins, so the swarm is the one libtorrent joins for this link.

    Raises:
        DecodeError: not a ``magnet:`` URI, no BitTorrent infohash, or a malformed ``xt``, ``xl``
            or ``x.pe`` parameter (the message names it).

    Source: BEP 9 ("Magnet URI format"), BEP 52; libtorrent 2.1 ``parse_magnet_uri`` (each ``xt``
    overwrites the infohash of its kind); interop-quirks TRK-18.
    """
    v1 = v2 = None
    name = length = None
    trackers: list[str] = []
    peers: list[Endpoint] = []
    for key, value in _params(uri.strip()):
        if key == "xt":
            urn = unquote(value)
            if urn.lower().startswith("urn:btih:"):
                v1 = _btih(urn[9:])
            elif urn.lower().startswith("urn:btmh:"):
                v2 = _btmh(urn[9:])
        elif key == "dn" and name is None:
            name = unquote_plus(value)
        elif key == "tr":
            url = clean_tracker_url(unquote(value))
            if url is not None and url not in trackers:
                trackers.append(url)
        elif key == "x.pe":
            peer = _peer(unquote(value))
            if peer is not None and peer not in peers:
                peers.append(peer)
        elif key == "xl":
            if not (value.isascii() and value.isdigit()) or len(value) > MAX_XL_DIGITS:
                raise DecodeError(f"xl: not an integer of 1..{MAX_XL_DIGITS} digits: {value[:40]!r}")
            length = int(value)
    if v1 is None and v2 is None:
        raise DecodeError("xt: no urn:btih or urn:btmh infohash in the magnet")
    return Magnet(v1, v2, name, tuple(trackers), tuple(peers), length)
