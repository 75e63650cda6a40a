"""Tracker-neutral announce and scrape types, shared by the HTTP and UDP codecs and clients (sans-IO).

An announce says the same thing over either transport: :class:`AnnounceRequest` is built once and encoded
as an HTTP query (:mod:`swarmscope.wire.http_tracker`) or a BEP 15 packet
(:mod:`swarmscope.wire.udp_tracker`); both replies decode to one :class:`AnnounceResponse`, both scrape
replies to one :class:`ScrapeResult`, and a client that got no reply returns a :class:`TrackerFault`.

Sources: BEP 3 "Trackers" (fields, ``event``, ``tracker id``), BEP 15 (the same fields in a UDP packet),
BEP 23 (``compact``, ``no_peer_id``), BEP 7 (``key``, IPv6 peers), BEP 48 (scrape counters); interop
TRK-06, TRK-07, TRK-11, TRK-13.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from swarmscope.wire.types import PEER_ID_LEN, Endpoint

EVENTS = ("started", "stopped", "completed")  # BEP 3 announce `event` (None: a regular re-announce)
LEFT_UNKNOWN = 2**63 - 1  # TRK-11: an unknown `left` is sent as a large non-negative number, bytes
INTERVAL_DEFAULT = 1800  # TRK-07: libtorrent's value when `interval` is missing, seconds
INTERVAL_FLOOR = 300  # TRK-07: libtorrent `min_announce_interval`, seconds
INTERVAL_CEILING = 3 * 3600  # TRK-07: newTrackon calls > 3 h suspicious, seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnounceRequest:
    """What we tell a tracker in one announce (HTTP query or BEP 15 packet).

    Args:
        infohash: 20 raw bytes (BEP 52 v2 hashes truncated by the caller). peer_id: 20 raw bytes.
        port: TCP port we listen on. uploaded, downloaded: bytes so far (≥ 0).
        left: bytes still missing; negative means unknown and is sent as ``LEFT_UNKNOWN`` (TRK-11).
        event: "started", "stopped", "completed" or None (a regular re-announce).
        numwant: peers wanted. key: 0..2**32-1, stable per client (BEP 7). compact, no_peer_id: BEP 23 flags.
        tracker_id: the ``tracker id`` a previous reply gave, echoed as ``trackerid`` (BEP 3).

    Raises:
        ValueError: a field is out of range (our misuse, not remote input).
    """

    infohash: bytes
    peer_id: bytes
    port: int
    left: int
    key: int
    uploaded: int = 0
    downloaded: int = 0
    event: str | None = None
    numwant: int = 200
    compact: bool = True
    no_peer_id: bool = True
    tracker_id: bytes | None = None

    def __post_init__(self) -> None:
        if len(self.infohash) != 20 or len(self.peer_id) != PEER_ID_LEN:
            raise ValueError("announce: infohash and peer id must be 20 bytes each")
        if not 0 <= self.port <= 65535 or not 0 <= self.key < 2**32:
            raise ValueError(f"announce: port {self.port} or key {self.key} out of range")
        if self.uploaded < 0 or self.downloaded < 0 or self.numwant < 0:
            raise ValueError("announce: uploaded, downloaded and numwant must be non-negative")
        if self.event is not None and self.event not in EVENTS:
            raise ValueError(f"announce: unknown event {self.event!r}")

    @property
    def left_on_wire(self) -> int:
        """``left`` as sent: never negative (TRK-11)."""
        return self.left if 0 <= self.left <= LEFT_UNKNOWN else LEFT_UNKNOWN


@dataclass(frozen=True, slots=True)
class TrackerPeer:
    """One peer a tracker listed: its endpoint and, in the BEP 3 dict model only, its peer id."""

    endpoint: Endpoint
    peer_id: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnounceResponse:
    """A decoded announce reply. ``failure_reason`` set means the tracker refused (then no peers).

    ``interval`` is the effective re-announce delay in seconds (clamped, TRK-07); ``interval_raw`` what the
    tracker sent. Counters are None when absent (UDP carries no ``min interval`` nor completed counter).
    ``quirks`` names tolerated deviations (interop ids).
    """

    peers: tuple[TrackerPeer, ...] = ()
    interval: int = INTERVAL_DEFAULT
    interval_raw: int | None = None
    min_interval: int | None = None
    complete: int | None = None
    incomplete: int | None = None
    downloaded: int | None = None
    failure_reason: str | None = None
    warning_message: str | None = None
    tracker_id: bytes | None = None
    external_ip: str | None = None
    quirks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScrapeCounts:
    """Swarm counters for one infohash (None when the tracker left a field out; TRK-13)."""

    infohash: bytes
    complete: int | None
    incomplete: int | None
    downloaded: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScrapeResult:
    """A decoded scrape reply: ``files`` keyed by raw 20-byte infohash (BEP 48, BEP 15; TRK-13)."""

    files: dict[bytes, ScrapeCounts]
    failure_reason: str | None = None
    min_request_interval: int | None = None
    quirks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TrackerFault:
    """Why a tracker exchange produced no reply value: a precise, human-readable reason.

    Examples: ``"connection refused"``, ``"HTTP 502"``, ``"timeout after 3 tries"``, ``"not bencoded: …"``.
    """

    error: str


def effective_interval(raw: int | None, quirks: list[str]) -> int:
    """Clamp a tracker's re-announce interval into [``INTERVAL_FLOOR``, ``INTERVAL_CEILING``] seconds.

    Args:
        raw: ``interval`` as sent (seconds) or None when missing. quirks: appended to when clamping.

    Returns:
        The interval to honour, seconds; ``INTERVAL_DEFAULT`` when missing.

    Source: interop TRK-07 (libtorrent defaults and ``min_announce_interval``).
    """
    if raw is None:
        quirks.append("TRK-07 interval missing")
        return INTERVAL_DEFAULT
    clamped = min(max(raw, INTERVAL_FLOOR), INTERVAL_CEILING)
    if clamped != raw:
        quirks.append(f"TRK-07 interval {raw} clamped to {clamped}")
    return clamped


def unique_peers(peers: Sequence[TrackerPeer], quirks: list[str]) -> tuple[TrackerPeer, ...]:
    """Drop repeated endpoints from one reply, keeping each first occurrence (and its peer id).

    Args:
        peers: as listed (``peers`` then ``peers6``). quirks: appended to when an endpoint repeats.

    Returns:
        One entry per (IP, port), in first-seen order. A tracker that lists an address twice names it
        once: two sightings of one listing would look like two independent listings in the evidence.

    Source: libtorrent ``peer_list::add_peer`` (an endpoint already in the list is merged, not added);
    Transmission ``peer-mgr.cc`` (one peer-info per socket address).
    """
    seen: dict[Endpoint, TrackerPeer] = {}
    for peer in peers:
        seen.setdefault(peer.endpoint, peer)
    if len(seen) != len(peers):
        quirks.append(f"duplicate peers ({len(peers) - len(seen)})")
    return tuple(seen.values())
