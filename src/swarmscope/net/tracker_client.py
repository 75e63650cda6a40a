"""Tracker client facade: announce and scrape any ``http``/``https``/``udp`` tracker URL; never raises.

Every call returns an outcome value with a precise error text (``"connection refused"``, ``"timeout after 3
tries"``, ``"HTTP 502"``, ``"not bencoded: b'<html>…'"``, ``"failure reason: …"``) and the elapsed time.

Sources: BEP 3 "Trackers", BEP 15, BEP 48; interop TRK-06 (failure reason keeps interval), TRK-18 (URLs).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from swarmscope.errors import DecodeError
from swarmscope.net.http_tracker_client import HttpTrackerClient
from swarmscope.net.udp_tracker_client import BASE_TIMEOUT, MAX_TRIES, UdpTrackerClient
from swarmscope.wire.tracker import AnnounceRequest, AnnounceResponse, ScrapeResult, TrackerFault

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AnnounceOutcome:
    """The result of one announce.

    Args:
        url: the tracker URL as given. ok: a reply with peers arrived (no failure reason).
        response: the decoded reply, also set for a ``failure reason`` (its interval is the retry delay,
            TRK-06); None for network and decode faults. error: None when ``ok``, else a precise text.
        elapsed: seconds from the call to the outcome (monotonic).
    """

    url: str
    ok: bool
    response: AnnounceResponse | None
    error: str | None
    elapsed: float


@dataclass(frozen=True, slots=True)
class ScrapeOutcome:
    """The result of one scrape (same fields as :class:`AnnounceOutcome`, response a ``ScrapeResult``)."""

    url: str
    ok: bool
    response: ScrapeResult | None
    error: str | None
    elapsed: float


def _scheme(url: str) -> str | TrackerFault:
    """The scheme of a usable tracker URL, or a fault for TRK-18 garbage (controls, spaces, ``*``)."""
    if not url or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url) or url.startswith("*"):
        return TrackerFault(f"unusable tracker url: {url[:80]!r}")
    try:
        parts = urlsplit(url)
    except ValueError:
        return TrackerFault(f"unusable tracker url: {url[:80]!r}")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "udp"):
        return TrackerFault(f"unsupported tracker scheme: {scheme or url[:40]!r}")
    try:
        port = parts.port
    except ValueError:
        return TrackerFault(f"bad port in tracker url: {url[:80]!r}")
    if port == 0:
        return TrackerFault(f"port 0 in tracker url: {url[:80]!r}")
    if not parts.hostname or (scheme == "udp" and port is None):
        return TrackerFault(
            f"tracker url needs a host{' and a port' if scheme == 'udp' else ''}: {url[:80]!r}"
        )
    return scheme


def usable_tracker_url(url: str) -> bool:
    """True when we can announce to ``url`` (http, https or udp with a host; TRK-18 garbage is not)."""
    return isinstance(_scheme(url), str)


class TrackerClient:
    """Announce/scrape over HTTP(S) and UDP from one source address, with one key per client (BEP 7).

    Args:
        peer_id: our 20-byte peer id (used by :meth:`make_request`).
        bind_ip: source IP literal for every tracker socket, or None.
        timeout: overall seconds per call (and per HTTP phase).
        rng: random source for the announce key and UDP transaction ids (injectable for tests).
        udp_base_timeout, udp_max_tries: BEP 15 retransmission (15 s, 9 tries); tests use small values.
    """

    def __init__(
        self,
        peer_id: bytes,
        bind_ip: str | None = None,
        timeout: float = 60.0,
        rng: random.Random | None = None,
        *,
        udp_base_timeout: float = BASE_TIMEOUT,
        udp_max_tries: int = MAX_TRIES,
    ) -> None:
        if len(peer_id) != 20:
            raise ValueError("peer id must be 20 bytes")
        self.peer_id, self.bind_ip, self.timeout = peer_id, bind_ip, timeout
        self._rng = rng or random.Random()
        self.key = self._rng.getrandbits(32)
        self._http = HttpTrackerClient(bind_ip=bind_ip, timeout=timeout)
        self._udp = UdpTrackerClient(
            bind_ip=bind_ip,
            base_timeout=udp_base_timeout,
            max_tries=udp_max_tries,
            deadline=timeout,
            rng=self._rng,
        )

    def make_request(
        self,
        infohash: bytes,
        *,
        port: int,
        left: int,
        event: str | None = None,
        uploaded: int = 0,
        downloaded: int = 0,
        numwant: int = 200,
    ) -> AnnounceRequest:
        """An :class:`AnnounceRequest` carrying this client's peer id and key (``left`` < 0: unknown)."""
        return AnnounceRequest(
            infohash=infohash, peer_id=self.peer_id, port=port, left=left, key=self.key, event=event,
            uploaded=uploaded, downloaded=downloaded, numwant=numwant,
        )  # fmt: skip

    async def announce(self, url: str, req: AnnounceRequest) -> AnnounceOutcome:
        """Announce to ``url`` (http, https or udp) and return the outcome; never raises for network faults.

        Args:
            url: a tracker announce URL. req: the announce.

        Returns:
            ``ok`` with the reply, or ``error`` (``response`` kept for a failure reason, TRK-06).
        """
        start = time.monotonic()
        scheme = _scheme(url)
        result: AnnounceResponse | TrackerFault
        if isinstance(scheme, TrackerFault):
            result = scheme
        else:
            client = self._udp if scheme == "udp" else self._http
            result = await self._bounded(client.announce(url, req))
        elapsed = time.monotonic() - start
        if isinstance(result, TrackerFault):
            return AnnounceOutcome(url, False, None, result.error, elapsed)
        if result.failure_reason is not None:
            return AnnounceOutcome(url, False, result, f"failure reason: {result.failure_reason}", elapsed)
        return AnnounceOutcome(url, True, result, None, elapsed)

    async def scrape(self, url: str, infohashes: Sequence[bytes]) -> ScrapeOutcome:
        """Scrape ``url`` (the announce URL; BEP 48 derivation for HTTP) for raw 20-byte infohashes."""
        start = time.monotonic()
        scheme = _scheme(url)
        result: ScrapeResult | TrackerFault
        if isinstance(scheme, TrackerFault):
            result = scheme
        else:
            client = self._udp if scheme == "udp" else self._http
            result = await self._bounded(client.scrape(url, infohashes))
        elapsed = time.monotonic() - start
        if isinstance(result, TrackerFault):
            return ScrapeOutcome(url, False, None, result.error, elapsed)
        if result.failure_reason is not None:
            return ScrapeOutcome(url, False, result, f"failure reason: {result.failure_reason}", elapsed)
        return ScrapeOutcome(url, True, result, None, elapsed)

    async def _bounded(self, call: Awaitable[T]) -> T | TrackerFault:
        """Run one protocol call under the overall deadline (a little grace so the inner text wins)."""
        limit = self.timeout * 1.1 + 0.5
        try:
            async with asyncio.timeout(limit):
                return await call
        except TimeoutError:
            return TrackerFault(f"timeout after {limit:g} s")
        except (OSError, DecodeError) as exc:  # belt and braces: clients return faults
            return TrackerFault(f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            if not _http_error(exc):
                raise
            return TrackerFault(f"{type(exc).__name__}: {exc}")

    async def aclose(self) -> None:
        """Release the HTTP connection pool (UDP sockets live only for one call)."""
        await self._http.aclose()


def _http_error(exc: Exception) -> bool:
    """True for an ``httpx.HTTPError`` (belt and braces, as above). Only the HTTP client raises one, and it
    imported ``httpx`` first (``net.http_tracker_client``: imported at the first HTTP request)."""
    import httpx

    return isinstance(exc, httpx.HTTPError)
