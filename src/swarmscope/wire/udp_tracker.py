"""UDP tracker protocol: request packets and reply parsing (sans-IO; transaction ids are passed in).

Sources: BEP 15 (connect, announce, scrape, error), BEP 41 (URL data option); interop TRK-13, TRK-14,
TRK-15, TRK-17.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from swarmscope.errors import DecodeError
from swarmscope.wire.compact import PEER_V4_LEN, PEER_V6_LEN, decode_peers_v4, decode_peers_v6
from swarmscope.wire.tracker import (
    AnnounceRequest,
    AnnounceResponse,
    ScrapeCounts,
    TrackerPeer,
    effective_interval,
    unique_peers,
)
from swarmscope.wire.types import Endpoint

PROTOCOL_ID = 0x41727101980  # BEP 15: magic constant of the connect request
ACTION_CONNECT, ACTION_ANNOUNCE, ACTION_SCRAPE, ACTION_ERROR = 0, 1, 2, 3  # BEP 15
EVENT_CODES = {None: 0, "completed": 1, "started": 2, "stopped": 3}  # BEP 15 announce `event`
MAX_SCRAPE_HASHES = 74  # BEP 15: "up to about 74 torrents can be scraped at once"
CONNECTION_ID_LIFETIME = 60.0  # BEP 15: a client may use a connection id for one minute, seconds (TRK-15)
HEADER_LEN = 8  # BEP 15: action + transaction id
CONNECT_REPLY_LEN = 16  # BEP 15
ANNOUNCE_REPLY_HEADER_LEN = 20  # BEP 15: action, transaction id, interval, leechers, seeders
SCRAPE_ENTRY_LEN = 12  # BEP 15: seeders, completed, leechers
OPTION_END, OPTION_NOP, OPTION_URL_DATA = 0, 1, 2  # BEP 41

_ANNOUNCE = struct.Struct(">QII20s20sQQQIIIiH")  # BEP 15 IPv4 announce request, 98 bytes


@dataclass(frozen=True, slots=True)
class ConnectResponse:
    """Action 0 reply: the connection id to use for up to 60 s (BEP 15 "Connect")."""

    transaction_id: int
    connection_id: int


@dataclass(frozen=True, slots=True)
class UdpAnnounceResponse:
    """Action 1 reply: re-announce interval (seconds, as sent), swarm counters and peers (BEP 15)."""

    transaction_id: int
    interval: int
    leechers: int
    seeders: int
    peers: tuple[Endpoint, ...]

    def to_announce_response(self) -> AnnounceResponse:
        """The same reply in the transport-neutral shape of the HTTP parser (interval clamped, TRK-07).

        UDP carries no ``min interval`` and no completed counter (None there); a repeated endpoint is
        listed once (:func:`~swarmscope.wire.tracker.unique_peers`).
        """
        quirks: list[str] = []
        interval = effective_interval(self.interval, quirks)
        return AnnounceResponse(
            peers=unique_peers([TrackerPeer(p) for p in self.peers], quirks),
            interval=interval,
            interval_raw=self.interval,
            complete=self.seeders,
            incomplete=self.leechers,
            quirks=tuple(quirks),
        )


@dataclass(frozen=True, slots=True)
class ScrapeResponse:
    """Action 2 reply: ``(seeders, completed, leechers)`` per asked infohash, in request order (TRK-13)."""

    transaction_id: int
    entries: tuple[tuple[int, int, int], ...]

    def counts(self, infohashes: Sequence[bytes]) -> dict[bytes, ScrapeCounts]:
        """Pair the entries with the infohashes of the request (missing trailing entries are left out)."""
        return {
            h: ScrapeCounts(h, s, inc, c) for h, (s, c, inc) in zip(infohashes, self.entries, strict=False)
        }


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """Action 3 reply: the tracker's message, trailing NULs stripped, decoded leniently (TRK-14)."""

    transaction_id: int
    message: str


UdpResponse = ConnectResponse | UdpAnnounceResponse | ScrapeResponse | ErrorResponse


def connect_request(transaction_id: int) -> bytes:
    """Build the 16-byte connect request.

    Args:
        transaction_id: 0..2**32-1, chosen at random by the caller.

    Returns:
        ``protocol_id, action 0, transaction_id`` big-endian.

    Source: BEP 15 "Connect".
    """
    return struct.pack(">QII", PROTOCOL_ID, ACTION_CONNECT, transaction_id)


def _url_data_options(url_data: bytes) -> bytes:
    """BEP 41 option list: URL data in chunks of ≤ 255 bytes, then end-of-options."""
    out = bytearray()
    for i in range(0, len(url_data), 255):
        chunk = url_data[i : i + 255]
        out += bytes((OPTION_URL_DATA, len(chunk))) + chunk
    return bytes(out + bytes((OPTION_END,))) if out else b""


def announce_request(
    connection_id: int, transaction_id: int, req: AnnounceRequest, *, url_data: bytes = b""
) -> bytes:
    """Build an announce request packet.

    Args:
        connection_id: from the last connect reply (< 60 s old). transaction_id: 0..2**32-1.
        req: the announce; ``left`` is never negative on the wire (TRK-11); ``numwant`` is an int32.
        url_data: path and query of a ``udp://`` URL (e.g. ``b"/announce?passkey=x"``), sent as BEP 41
            options when non-empty.

    Returns:
        98 bytes (+ BEP 41 options). The IP address field is 0 (BEP 15: use the packet's source).

    Source: BEP 15 "Announce", BEP 41.
    """
    event = EVENT_CODES[req.event]
    numwant = min(req.numwant, 2**31 - 1)
    return _ANNOUNCE.pack(
        connection_id, ACTION_ANNOUNCE, transaction_id, req.infohash, req.peer_id,
        req.downloaded, req.left_on_wire, req.uploaded, event, 0, req.key, numwant, req.port,
    ) + _url_data_options(url_data)  # fmt: skip


def scrape_request(connection_id: int, transaction_id: int, infohashes: Sequence[bytes]) -> bytes:
    """Build a scrape request packet.

    Args:
        connection_id: from the last connect reply. transaction_id: 0..2**32-1.
        infohashes: 1..74 raw 20-byte infohashes.

    Returns:
        16 + 20·N bytes.

    Raises:
        ValueError: no infohash, more than ``MAX_SCRAPE_HASHES``, or one not 20 bytes (our misuse).

    Source: BEP 15 "Scrape".
    """
    if not 1 <= len(infohashes) <= MAX_SCRAPE_HASHES or any(len(h) != 20 for h in infohashes):
        raise ValueError(f"scrape: need 1..{MAX_SCRAPE_HASHES} infohashes of 20 bytes")
    return struct.pack(">QII", connection_id, ACTION_SCRAPE, transaction_id) + b"".join(infohashes)


def parse_response(data: bytes, *, ipv6: bool) -> UdpResponse:
    """Decode one datagram from a UDP tracker.

    Args:
        data: the whole datagram (read with a 64 KiB buffer, TRK-17).
        ipv6: True when the tracker was reached over IPv6; picks the 18-byte peer stride (TRK-17).

    Returns:
        The reply for its action; the caller matches ``transaction_id`` to its request.

    Raises:
        DecodeError: shorter than the 8-byte header, an unknown action, a connect reply under 16 bytes, an
            announce reply under 20 bytes (opentracker sends just the 8-byte header for a non-whitelisted
            infohash), or a peer/scrape list whose length is not a multiple of its stride.

    Source: BEP 15; interop TRK-14 (error text), TRK-17 (stride from the address family).
    """
    if len(data) < HEADER_LEN:
        raise DecodeError(f"udp tracker reply: {len(data)} bytes, shorter than the 8-byte header", len(data))
    action, tid = struct.unpack_from(">II", data)
    if action == ACTION_CONNECT:
        if len(data) < CONNECT_REPLY_LEN:
            raise DecodeError(f"udp connect reply: {len(data)} bytes, expected 16", len(data))
        return ConnectResponse(tid, int.from_bytes(data[8:16], "big"))
    if action == ACTION_ANNOUNCE:
        return _parse_announce(data, tid, ipv6)
    if action == ACTION_SCRAPE:
        return _parse_scrape(data, tid)
    if action == ACTION_ERROR:
        return ErrorResponse(tid, data[HEADER_LEN:].rstrip(b"\0").decode("utf-8", errors="replace"))
    raise DecodeError(f"udp tracker reply: unknown action {action}", 0)


def _parse_announce(data: bytes, tid: int, ipv6: bool) -> UdpAnnounceResponse:
    if len(data) < ANNOUNCE_REPLY_HEADER_LEN:
        raise DecodeError(
            f"udp announce reply: truncated, {len(data)} bytes, shorter than the 20-byte header "
            "(opentracker answers a non-whitelisted infohash this way)",
            len(data),
        )
    interval, leechers, seeders = struct.unpack_from(">iii", data, HEADER_LEN)
    body = data[ANNOUNCE_REPLY_HEADER_LEN:]
    stride = PEER_V6_LEN if ipv6 else PEER_V4_LEN
    if len(body) % stride:
        raise DecodeError(
            f"udp announce reply: peer list of {len(body)} bytes is not a multiple of {stride}",
            ANNOUNCE_REPLY_HEADER_LEN + len(body) - len(body) % stride,
        )
    peers = decode_peers_v6(body) if ipv6 else decode_peers_v4(body)
    return UdpAnnounceResponse(tid, interval, leechers, seeders, tuple(peers))


def _parse_scrape(data: bytes, tid: int) -> ScrapeResponse:
    body = data[HEADER_LEN:]
    if len(body) % SCRAPE_ENTRY_LEN:
        raise DecodeError(
            f"udp scrape reply: {len(body)} bytes of counters is not a multiple of 12",
            HEADER_LEN + len(body) - len(body) % SCRAPE_ENTRY_LEN,
        )
    entries = tuple(struct.iter_unpack(">iii", body))
    return ScrapeResponse(tid, entries)
