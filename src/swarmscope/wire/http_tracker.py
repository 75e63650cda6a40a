"""HTTP tracker protocol: announce URL building and announce/scrape response parsing (sans-IO).

The request and reply types are tracker-neutral (:mod:`swarmscope.wire.tracker`); this module holds only
their HTTP encoding.

Liberal in what it parses (interop TRK-01/03/06/07), strict in what it sends (TRK-09/11), and every
deviation it tolerated is named in ``quirks`` so the evidence keeps it.

A reply of more than :data:`MAX_VALUES` bencode values is refused before its objects are built: a
compact reply (BEP 23, what we ask for) holds about 10 whatever its peers, a dict-model one (BEP 3) 7 a
peer, and we ask for ``numwant`` 200; the decode of a reply at the bound, or of one refused past it at
the 4 MiB body bound, takes 30 to 70 ms of the event loop (a loaded 2-core machine).

Sources: BEP 3 "Trackers", BEP 23 (compact), BEP 7 (``peers6``), BEP 24 (``external ip``), BEP 48 (scrape).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote_from_bytes, urlsplit, urlunsplit

from swarmscope.errors import DecodeError
from swarmscope.wire.bencode import decode_prefix
from swarmscope.wire.compact import PEER_V4_LEN, PEER_V6_LEN, decode_peers_v4, decode_peers_v6
from swarmscope.wire.tracker import (
    AnnounceRequest,
    AnnounceResponse,
    ScrapeCounts,
    ScrapeResult,
    TrackerPeer,
    effective_interval,
    unique_peers,
)
from swarmscope.wire.types import Endpoint

BODY_PREVIEW = 64  # bytes of an undecodable body kept in the error (TRK-05)
MAX_VALUES = 20_000  # bencode values in one reply: ~2,850 dict-model peers, 14 times numwant 200


def build_announce_url(announce_url: str, req: AnnounceRequest) -> str:
    """Append the announce parameters to a tracker URL, keeping its own query string first.

    Args:
        announce_url: the tracker's announce URL, possibly with a query (``?passkey=…``).
        req: the announce.

    Returns:
        The GET URL. Binary fields are percent-encoded; every counter is always present (TRK-11).

    Source: BEP 3 "Trackers"; interop TRK-09 (existing query, ``&``), TRK-11 (always send the fields).
    """
    params = [
        ("info_hash", quote_from_bytes(req.infohash, safe="")),
        ("peer_id", quote_from_bytes(req.peer_id, safe="")),
        ("port", str(req.port)),
        ("uploaded", str(req.uploaded)),
        ("downloaded", str(req.downloaded)),
        ("left", str(req.left_on_wire)),
    ]
    if req.event is not None:
        params.append(("event", req.event))
    params += [
        ("key", f"{req.key:08X}"),
        ("numwant", str(req.numwant)),
        ("compact", "1" if req.compact else "0"),
    ]
    if req.no_peer_id:
        params.append(("no_peer_id", "1"))
    if req.tracker_id is not None:
        params.append(("trackerid", quote_from_bytes(req.tracker_id, safe="")))
    return _append_query(announce_url, "&".join(f"{k}={v}" for k, v in params))


def _append_query(url: str, query: str) -> str:
    """Add ``query`` after any existing query string (TRK-09); a fragment is dropped."""
    base = url.split("#", 1)[0]
    if "?" not in base:
        return f"{base}?{query}"
    if base.endswith(("?", "&")):
        return base + query
    return f"{base}&{query}"


def scrape_url(announce_url: str) -> str | None:
    """Derive the scrape URL from an announce URL, or None when the tracker cannot be scraped.

    Args:
        announce_url: ``http``/``https`` announce URL; a ``udp`` URL is returned unchanged (BEP 15 scrapes
            at the announce address).

    Returns:
        The URL with ``announce`` at the start of the last path segment replaced by ``scrape`` (query kept),
        or None when the last segment does not start with ``announce`` or the scheme is unknown.

    Source: BEP 48 "Scrape Request"; interop TRK-13.
    """
    try:
        parts = urlsplit(announce_url)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None
    if parts.scheme == "udp":
        return announce_url
    if parts.scheme not in ("http", "https"):
        return None
    head, _, last = parts.path.rpartition("/")
    if not last.startswith("announce"):
        return None
    path = f"{head}/scrape{last[len('announce') :]}"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def build_scrape_url(scrape: str, infohashes: Sequence[bytes]) -> str:
    """Append one ``info_hash`` parameter per infohash to a scrape URL.

    Args:
        scrape: a URL from :func:`scrape_url`. infohashes: raw 20-byte infohashes.

    Returns:
        The GET URL (existing query kept first, TRK-09).

    Source: BEP 48 "Scrape Request".
    """
    return _append_query(scrape, "&".join(f"info_hash={quote_from_bytes(h, safe='')}" for h in infohashes))


def _decode_body(body: bytes, what: str) -> tuple[dict[bytes, Any], list[str]]:
    """Decode the first bencoded value of a body; trailing bytes become a quirk (TRK-03, TRK-05)."""
    try:
        value, end = decode_prefix(body, 0, MAX_VALUES)
    except DecodeError as exc:
        raise DecodeError(
            f"{what}: not bencoded: {body[:BODY_PREVIEW]!r} ({exc.reason})", exc.offset
        ) from exc
    if not isinstance(value, dict):
        raise DecodeError(f"{what}: not a dictionary: {body[:BODY_PREVIEW]!r}")
    quirks = [] if end == len(body) else [f"TRK-03 trailing bytes ({len(body) - end})"]
    return value, quirks


def _int(d: dict[bytes, Any], key: bytes, quirks: list[str]) -> int | None:
    value = d.get(key)
    if value is None or isinstance(value, int):
        return value
    quirks.append(f"{key.decode()} is not an integer")
    return None


def _text(d: dict[bytes, Any], key: bytes) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    raw = value if isinstance(value, bytes) else repr(value).encode()
    return raw.decode("utf-8", errors="replace")


def _external_ip(value: object) -> str | None:
    if isinstance(value, bytes) and len(value) in (4, 16):
        addr = decode_peers_v4(value + b"\0\0") if len(value) == 4 else decode_peers_v6(value + b"\0\0")
        return addr[0].host
    return None


def parse_announce_response(body: bytes) -> AnnounceResponse:
    """Decode an HTTP announce reply body.

    Args:
        body: the HTTP body, already un-gzipped.

    Returns:
        The reply; a ``failure reason`` is a value (``failure_reason`` set, no peers) whose ``interval`` and
        ``min_interval`` are still read (TRK-06).

    Raises:
        DecodeError: the body is not bencoded (HTML, TRK-05; the message carries the first bytes), not a
            dictionary, or every peer entry is invalid (TRK-01). A ``peers``/``peers6`` that is neither a
            string nor a list is read as absent, with a quirk (libtorrent ``parse_tracker_response`` clears
            it; Transmission's ``AnnounceHandler`` has no handler for it).

    Source: BEP 3 "Trackers", BEP 23, BEP 7, BEP 24; interop TRK-01, TRK-03, TRK-05, TRK-06, TRK-07.
    """
    d, quirks = _decode_body(body, "announce reply")
    interval_raw = _int(d, b"interval", quirks)
    common: dict[str, Any] = {
        "interval_raw": interval_raw,
        "min_interval": _int(d, b"min interval", quirks),
        "complete": _int(d, b"complete", quirks),
        "incomplete": _int(d, b"incomplete", quirks),
        "downloaded": _int(d, b"downloaded", quirks),
        "warning_message": _text(d, b"warning message"),
        "external_ip": _external_ip(d.get(b"external ip")),
    }
    tracker_id = d.get(b"tracker id")
    common["tracker_id"] = tracker_id if isinstance(tracker_id, bytes) else None
    interval = effective_interval(interval_raw, quirks)
    failure = _text(d, b"failure reason")
    if failure is not None:
        return AnnounceResponse(failure_reason=failure, interval=interval, quirks=tuple(quirks), **common)
    peers = _peers(d, quirks)
    return AnnounceResponse(peers=peers, interval=interval, quirks=tuple(quirks), **common)


def _peers(d: dict[bytes, Any], quirks: list[str]) -> tuple[TrackerPeer, ...]:
    """Collect ``peers`` and ``peers6`` in either model, each endpoint once; fail only if every entry is bad
    (TRK-01)."""
    out: list[TrackerPeer] = []
    bad = total = 0
    for key, stride in ((b"peers", PEER_V4_LEN), (b"peers6", PEER_V6_LEN)):
        value = d.get(key)
        if value is None:
            continue
        if isinstance(value, bytes):
            whole = len(value) - len(value) % stride
            if whole != len(value):
                quirks.append(f"{key.decode()} length {len(value)} not a multiple of {stride}")
                bad += 1
            decode = decode_peers_v4 if stride == PEER_V4_LEN else decode_peers_v6
            found = [TrackerPeer(e) for e in decode(value[:whole])]
            total += len(found) + (whole != len(value))
        elif isinstance(value, list):
            quirks.append(f"TRK-01 dict-model {key.decode()}")
            found = [p for p in (_dict_peer(entry) for entry in value) if p is not None]
            bad, total = bad + len(value) - len(found), total + len(value)
        else:  # an int or a dict: read as absent, as libtorrent and Transmission do
            quirks.append(f"{key.decode()} is a {type(value).__name__}, not a string or list: ignored")
            continue
        out += found
    if total and bad == total:
        raise DecodeError(f"announce reply: all {total} peer entries are invalid")
    if bad:
        quirks.append(f"TRK-01 {bad} bad peer entries skipped")
    return unique_peers(out, quirks)


def _dict_peer(entry: object) -> TrackerPeer | None:
    """One dict-model peer (``ip``, ``port``, optional ``peer id``), or None when unusable (TRK-01)."""
    if not isinstance(entry, dict):
        return None
    ip, port = entry.get(b"ip"), entry.get(b"port")
    if not isinstance(ip, bytes) or not isinstance(port, int) or not 0 <= port <= 65535:
        return None
    try:
        endpoint = Endpoint.parse(ip.decode("ascii"), port)
    except (UnicodeDecodeError, DecodeError):
        return None  # a hostname or garbage: dropped like Transmission and anacrolix do
    peer_id = entry.get(b"peer id")
    return TrackerPeer(endpoint, peer_id if isinstance(peer_id, bytes) and len(peer_id) == 20 else None)


def parse_scrape_response(body: bytes, infohashes: Sequence[bytes]) -> ScrapeResult:
    """Decode an HTTP scrape reply body.

    Args:
        body: the HTTP body. infohashes: the raw 20-byte infohashes asked for; empty keeps every entry.

    Returns:
        Counters for each asked infohash the reply listed under its raw 20-byte key; a ``failure reason``
        is a value with empty ``files``.

    Raises:
        DecodeError: not bencoded (TRK-05), not a dictionary, or ``files`` is not a dictionary.

    Source: BEP 48 "Scrape Response"; interop TRK-03, TRK-13 (raw keys, ``flags.min_request_interval``).
    """
    d, quirks = _decode_body(body, "scrape reply")
    flags = d.get(b"flags")
    min_request = _int(flags, b"min_request_interval", quirks) if isinstance(flags, dict) else None
    failure = _text(d, b"failure reason")
    if failure is not None:
        return ScrapeResult(
            files={}, failure_reason=failure, min_request_interval=min_request, quirks=tuple(quirks)
        )
    files = d.get(b"files", {})
    if not isinstance(files, dict):
        raise DecodeError(f"scrape reply: files is a {type(files).__name__}, not a dictionary")
    wanted = set(infohashes)
    out: dict[bytes, ScrapeCounts] = {}
    skipped = 0
    for key, stats in files.items():
        if len(key) != 20 or (wanted and key not in wanted) or not isinstance(stats, dict):
            skipped += 1  # a 40-hex key, an unasked hash or a non-dict entry
            continue
        counts = (_int(stats, k, quirks) for k in (b"complete", b"incomplete", b"downloaded"))
        out[key] = ScrapeCounts(key, *counts)
    if skipped:
        quirks.append(f"TRK-13 {skipped} scrape entries skipped")
    return ScrapeResult(files=out, min_request_interval=min_request, quirks=tuple(quirks))
