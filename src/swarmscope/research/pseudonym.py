"""Keyed pseudonyms of peer addresses for one study (pure: the key is passed in, nothing is drawn here).

A pseudonym is HMAC-SHA-256 (RFC 2104, FIPS 198-1) under the study key over a unit's text, in hex. An
unkeyed hash of an IPv4 address is no pseudonym at all: the 2^32 addresses can be hashed in minutes and
the table inverted. Under a secret key of 32 random bytes the pseudonym reveals nothing without the key,
and two studies (two keys) give unlinkable pseudonyms of one address.

The counting unit is the address itself, or its network when truncation is asked (``truncate=True``):
IPv4 to its /24, IPv6 to its /48 (the usual end-site assignment, RFC 6177 section 3). A truncated study
counts networks, never addresses, so a subscriber whose address changes inside its /24 counts once.
A *peer* is an address (or network) together with a port: the unit BitTorrent itself addresses.

Unit text (what the HMAC covers, ASCII): ``a|<address or network literal>`` for an address unit and
``p|<address or network literal>|<port>`` for a peer, so an address pseudonym never equals a peer one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass

KEY_BYTES = 32  # a study key: 32 random bytes (the HMAC-SHA-256 block-size rule wants at least 32)
V4_PREFIX = 24  # truncation of IPv4 addresses (bits)
V6_PREFIX = 48  # truncation of IPv6 addresses (bits), RFC 6177


def unit_of(ip: str, truncate: bool) -> str:
    """The counting unit of ``ip``: the normalised address, or its /24 (IPv4) or /48 (IPv6) network.

    Raises:
        ValueError: ``ip`` is not an IP address literal.
    """
    address = ipaddress.ip_address(ip)
    if not truncate:
        return address.compressed
    prefix = V4_PREFIX if address.version == 4 else V6_PREFIX
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False).compressed


@dataclass(frozen=True, slots=True)
class Pseudonymiser:
    """Pseudonyms under one study key (``key``: :data:`KEY_BYTES` bytes; ``truncate``: count networks)."""

    key: bytes
    truncate: bool = False

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise ValueError(f"a study key is {KEY_BYTES} bytes, not {len(self.key)}")

    def _mac(self, text: str) -> str:
        return hmac.new(self.key, text.encode("ascii"), hashlib.sha256).hexdigest()

    def address(self, ip: str) -> str:
        """The pseudonym (64 hex digits) of the address's counting unit."""
        return self._mac(f"a|{unit_of(ip, self.truncate)}")

    def peer(self, ip: str, port: int) -> str:
        """The pseudonym (64 hex digits) of the peer ``ip``:``port`` (its unit and port)."""
        return self._mac(f"p|{unit_of(ip, self.truncate)}|{port}")

    def study_id(self) -> str:
        """A public name of the study (16 hex digits): two exports under one key share it. A MAC over a
        fixed label, so it reveals nothing of the key nor of any pseudonym."""
        return self._mac("swarmscope research study id")[:16]
