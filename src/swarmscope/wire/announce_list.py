"""Tracker URLs from ``announce`` / ``announce-list`` (and magnet ``tr=``), cleaned of unusable entries.

Sources: BEP 3 (announce), BEP 12 (announce-list tiers); interop-quirks META-03 (announce as a list,
malformed announce-list → fall back to announce), TRK-18 (schemes, ``*`` prefix, whitespace, control
bytes, HTML pasted into a URL).
"""

from __future__ import annotations

from typing import Any

USABLE_SCHEMES = ("http://", "https://", "udp://")  # libtorrent is_valid_tracker_url (no WebRTC)


def clean_tracker_url(raw: bytes | str) -> str | None:
    """Return a usable tracker URL, or None when the entry must be skipped.

    Args:
        raw: one URL as found in the torrent or magnet.

    Returns:
        The URL with surrounding whitespace removed, or None for non-UTF-8 text, a leading ``*``
        (uTorrent's disabled tracker), bytes <= 0x20 or 0x7f inside, or a scheme other than
        http, https, udp.

    Source: interop-quirks TRK-18 (libtorrent PR #8202, anacrolix ``*`` skip).
    """
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    url = raw.strip(" \t\r\n\x0b\x0c")
    if not url or url.startswith("*"):
        return None
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return None
    if not url.lower().startswith(USABLE_SCHEMES) or len(url) <= len("udp://"):
        return None
    return url


def _clean_tier(tier: Any, seen: set[str]) -> tuple[str, ...]:
    if not isinstance(tier, list):
        return ()
    out: list[str] = []
    for item in tier:
        url = clean_tracker_url(item) if isinstance(item, bytes) else None
        if url is not None and url not in seen:
            seen.add(url)
            out.append(url)
    return tuple(out)


def tracker_tiers(announce_list: Any, announce: Any) -> tuple[tuple[str, ...], ...]:
    """Build announce tiers from decoded ``announce-list`` and ``announce`` values.

    Args:
        announce_list: the decoded ``announce-list`` (normally a list of lists of bytes) or None.
        announce: the decoded ``announce`` (normally bytes; a list is accepted, META-03) or None.

    Returns:
        Non-empty tiers of unique usable URLs, in file order. ``announce`` is used only when
        ``announce-list`` yields no usable URL (libtorrent, anacrolix ``OverridesAnnounce``).

    Source: BEP 12; interop-quirks META-03, TRK-18.
    """
    seen: set[str] = set()
    tiers: list[tuple[str, ...]] = []
    if isinstance(announce_list, list):
        for tier in announce_list:
            cleaned = _clean_tier(tier, seen)
            if cleaned:
                tiers.append(cleaned)
    if tiers:
        return tuple(tiers)
    fallback = _clean_tier(announce if isinstance(announce, list) else [announce], seen)
    return (fallback,) if fallback else ()
