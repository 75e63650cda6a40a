"""UDP tracker client (BEP 15) on an asyncio datagram endpoint; outcomes are values.

One connected datagram socket per announce/scrape (so ICMP "port unreachable" surfaces as connection
refused), a connection-id cache per (source IP, tracker address) with a 60 s lifetime (TRK-15) that is
dropped on any error reply (TRK-14), and BEP 15 retransmission after ``base_timeout · 2^n`` seconds,
bounded by ``max_tries`` and an overall deadline. asyncio's datagram transport reads up to 256 KiB, above
the 64 KiB TRK-17 asks for.

Sources: BEP 15 "Time outs", "Connect", "Announce", "Scrape", "Errors"; BEP 41; interop TRK-14/15/17.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from swarmscope.errors import DecodeError
from swarmscope.wire.tracker import (
    AnnounceRequest,
    AnnounceResponse,
    ScrapeCounts,
    ScrapeResult,
    TrackerFault,
)
from swarmscope.wire.udp_tracker import (
    CONNECTION_ID_LIFETIME,
    MAX_SCRAPE_HASHES,
    ConnectResponse,
    ErrorResponse,
    ScrapeResponse,
    UdpAnnounceResponse,
    UdpResponse,
    announce_request,
    connect_request,
    parse_response,
    scrape_request,
)

BASE_TIMEOUT = 15.0  # BEP 15: first retransmission after 15 s
MAX_TRIES = 9  # BEP 15: n goes from 0 up to 8
Address = tuple[str, int]
_Received = bytes | OSError


class _TrackerProtocol(asyncio.DatagramProtocol):
    """Queues every datagram and every socket error (ICMP unreachable → ConnectionRefusedError)."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[_Received] = asyncio.Queue(maxsize=64)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if not self.inbox.full():
            self.inbox.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError) and not self.inbox.full():
            self.inbox.put_nowait(exc)


class _Exchange:
    """One socket to one tracker: send a packet, wait for the reply carrying its transaction id."""

    def __init__(self, transport: asyncio.DatagramTransport, protocol: _TrackerProtocol, ipv6: bool) -> None:
        self.transport, self.protocol, self.ipv6 = transport, protocol, ipv6
        self.tries = 0

    async def send_wait(
        self, packet: bytes, tids: set[int], wait: float
    ) -> UdpResponse | TrackerFault | None:
        """None on timeout. A reply to any of ``tids`` (this request and its earlier retransmissions) is
        accepted; other datagrams are skipped, and so is one shorter than the 8-byte action + transaction
        id header, which cannot answer anything (libtorrent ``udp_tracker_connection::on_receive`` and
        Transmission ``announcer-udp.cc`` ``handle_message`` drop such packets and keep waiting)."""
        self.tries += 1
        self.transport.sendto(packet)
        loop = asyncio.get_running_loop()
        end = loop.time() + wait
        for _ in range(256):  # bounded: at most 256 stray datagrams per wait
            try:
                item = await asyncio.wait_for(self.protocol.inbox.get(), max(0.0, end - loop.time()))
            except TimeoutError:
                return None
            if isinstance(item, OSError):
                return TrackerFault(_os_error_text(item))
            if len(item) < 8 or int.from_bytes(item[4:8], "big") not in tids:
                continue
            try:
                return parse_response(item, ipv6=self.ipv6)
            except DecodeError as exc:
                return TrackerFault(str(exc))
        return TrackerFault("udp tracker: flooded with unrelated datagrams")


def _os_error_text(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"socket error: {exc.strerror or exc}"


class UdpTrackerClient:
    """Announce and scrape over UDP; never raises for network outcomes.

    Args:
        bind_ip: source IP literal to bind, or None. base_timeout: seconds before the first retransmission
            (BEP 15: 15). max_tries: sends before giving up (BEP 15: 9). deadline: overall seconds per call.
        rng: source of transaction ids. clock: monotonic seconds, for the connection-id lifetime.
    """

    def __init__(
        self,
        *,
        bind_ip: str | None = None,
        base_timeout: float = BASE_TIMEOUT,
        max_tries: int = MAX_TRIES,
        deadline: float = 120.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bind_ip, self.base_timeout, self.max_tries, self.deadline = (
            bind_ip,
            base_timeout,
            max_tries,
            deadline,
        )
        self._rng = rng or random.Random()
        self._clock = clock
        self._connection_ids: dict[tuple[str | None, Address], tuple[int, float]] = {}

    async def announce(self, url: str, req: AnnounceRequest) -> AnnounceResponse | TrackerFault:
        """Announce to a ``udp://host:port[/path]`` tracker (the path is sent as BEP 41 URL data).

        Returns:
            The reply (interval clamped, TRK-07), a ``failure_reason`` reply for an action-3 error,
            or a fault.
        """
        url_data = _url_data(url)
        reply = await self._call(url, lambda cid, tid: announce_request(cid, tid, req, url_data=url_data))
        if isinstance(reply, UdpAnnounceResponse):
            return reply.to_announce_response()
        if isinstance(reply, ErrorResponse):
            return AnnounceResponse(failure_reason=reply.message, quirks=("TRK-14 action 3 error",))
        return reply if isinstance(reply, TrackerFault) else _unexpected(reply, "announce")

    async def scrape(self, url: str, infohashes: Sequence[bytes]) -> ScrapeResult | TrackerFault:
        """Scrape a UDP tracker, ``MAX_SCRAPE_HASHES`` infohashes per packet (BEP 15 "Scrape")."""
        if not infohashes:
            return TrackerFault("udp scrape needs at least one infohash")
        files: dict[bytes, ScrapeCounts] = {}
        for i in range(0, len(infohashes), MAX_SCRAPE_HASHES):
            chunk = list(infohashes[i : i + MAX_SCRAPE_HASHES])
            reply = await self._call(url, _scrape_builder(chunk))
            if isinstance(reply, ErrorResponse):
                return ScrapeResult(files={}, failure_reason=reply.message, quirks=("TRK-14 action 3 error",))
            if not isinstance(reply, ScrapeResponse):
                return reply if isinstance(reply, TrackerFault) else _unexpected(reply, "scrape")
            files.update(reply.counts(chunk))
        return ScrapeResult(files=files)

    async def _call(self, url: str, build: Callable[[int, int], bytes]) -> UdpResponse | TrackerFault:
        """Resolve, open a connected socket, run the connect + request exchange, close."""
        target = await self._resolve(url)
        if isinstance(target, TrackerFault):
            return target
        family, addr = target
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                _TrackerProtocol,
                local_addr=(self.bind_ip, 0) if self.bind_ip else None,
                remote_addr=addr,
                family=family,
            )
        except OSError as exc:
            return TrackerFault(_os_error_text(exc))
        exchange = _Exchange(transport, protocol, family == socket.AF_INET6)
        try:
            async with asyncio.timeout(self.deadline):
                return await self._run(exchange, (self.bind_ip, addr), build)
        except TimeoutError:
            return TrackerFault(f"timeout after {exchange.tries} tries (deadline {self.deadline:g} s)")
        finally:
            transport.close()

    async def _run(
        self, exchange: _Exchange, key: tuple[str | None, Address], build: Callable[[int, int], bytes]
    ) -> UdpResponse | TrackerFault:
        """BEP 15 loop: reconnect when the id is missing or stale, retransmit after base·2^n seconds."""
        timeouts = 0
        connect_tids: set[int] = set()
        request_tids: set[int] = set()
        while timeouts < self.max_tries:
            wait = self.base_timeout * 2**timeouts
            cid, fresh = self._connection_id(key), False
            if cid is None:
                tid = self._rng.getrandbits(32)
                connect_tids.add(tid)
                got = await exchange.send_wait(connect_request(tid), connect_tids, wait)
                if got is None:
                    timeouts += 1
                    continue
                if not isinstance(got, ConnectResponse):
                    self._connection_ids.pop(key, None)
                    return got
                cid, fresh = got.connection_id, True
                request_tids.clear()  # replies to a request sent with an older connection id are stale
                self._connection_ids[key] = (cid, self._clock())
            tid = self._rng.getrandbits(32)
            request_tids.add(tid)
            got = await exchange.send_wait(build(cid, tid), request_tids, wait)
            if got is None:
                timeouts += 1
            elif isinstance(got, ErrorResponse):
                self._connection_ids.pop(key, None)  # TRK-14: any error reply invalidates the id
                if fresh:
                    return got
            else:
                return got
        return TrackerFault(f"timeout after {exchange.tries} tries")

    def _connection_id(self, key: tuple[str | None, Address]) -> int | None:
        """The cached connection id if younger than 60 s (TRK-15), else None."""
        entry = self._connection_ids.get(key)
        if entry is None or self._clock() - entry[1] >= CONNECTION_ID_LIFETIME:
            self._connection_ids.pop(key, None)
            return None
        return entry[0]

    async def _resolve(self, url: str) -> tuple[int, Address] | TrackerFault:
        """``udp://host:port`` → (family, (ip, port)); the family follows ``bind_ip`` when one is set."""
        parts = urlsplit(url)
        try:
            host, port = parts.hostname, parts.port
        except ValueError:
            return TrackerFault(f"bad udp tracker url: {url!r}")
        if not host or port is None:
            return TrackerFault(f"udp tracker url needs a host and a port: {url!r}")
        family = socket.AF_UNSPEC
        if self.bind_ip:
            family = socket.AF_INET6 if ":" in self.bind_ip else socket.AF_INET
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, family=family, type=socket.SOCK_DGRAM
            )
        except OSError as exc:
            return TrackerFault(f"cannot resolve {host!r}: {exc.strerror or exc}")
        fam, _, _, _, sockaddr = infos[0]
        return fam, (str(sockaddr[0]), int(sockaddr[1]))


def _url_data(url: str) -> bytes:
    """Path and query of a udp:// URL for the BEP 41 URL-data option (empty for a bare ``/`` path)."""
    parts = urlsplit(url)
    data = parts.path + (f"?{parts.query}" if parts.query else "")
    return b"" if data in ("", "/") else data.encode()


def _scrape_builder(infohashes: list[bytes]) -> Callable[[int, int], bytes]:
    return lambda cid, tid: scrape_request(cid, tid, infohashes)


def _unexpected(reply: UdpResponse, what: str) -> TrackerFault:
    return TrackerFault(f"udp tracker: expected a {what} reply, got {type(reply).__name__}")
