"""SNTP measurement of the evidence clock against time servers; outcomes are values, never exceptions.

Design: ntplib's packet codec (:class:`ntplib.NTPPacket`) on an asyncio datagram endpoint, not
:class:`ntplib.NTPClient` in a thread executor. Reasons: (1) the exchange must be stamped with the
*evidence* clock (:meth:`Clock.now_us`), while NTPClient reads ``time.time()``; (2) a coroutine is cancellable
and needs no thread per server; (3) NTPClient does not check that a reply echoes our transmit timestamp
(RFC 4330 section 5 "bogus" check), so a stale or spoofed datagram would be accepted; (4) ntplib converts
timestamps to float seconds (about 1 µs resolution at today's NTP seconds), so the four timestamps are taken
from the raw 64-bit fields in integer microseconds instead. ntplib encodes the request and decodes the header
fields (leap, version, mode, stratum, reference id).

The destination timestamp T4 is T1 plus the *monotonic* time elapsed, so a step of the local clock during
the exchange cannot distort the offset or the delay. ``offset = ((T2 - T1) + (T3 - T4)) / 2`` (server minus
local) and ``delay = (T4 - T1) - (T3 - T2)`` (RFC 4330 section 5).

A connected datagram socket is used, so on loopback "nothing listening" surfaces at once as connection
refused (ICMP port unreachable) instead of a timeout.

Sources: RFC 4330 (SNTPv4) sections 4, 5 and 8 (kiss-o'-death); RFC 5905 section 7.3 (leap 3 = clock
unsynchronised, stratum 16 = unsynchronised); README "Honest clock".
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import struct
from collections.abc import Callable, Sequence
from typing import Any

import ntplib

from swarmscope.errors import InputError
from swarmscope.evidence.declarations import CLOCK_SAMPLE
from swarmscope.evidence.records import ClockSample
from swarmscope.net.clock import Clock

NTP_PORT = 123
PACKET_SIZE = 48  # RFC 4330 section 4: header without extension fields or MAC
MAX_STRAY = 64  # bounded: datagrams not answering our request that one sample skips
_NTP_UNIX_DELTA = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01 (RFC 5905 section 6)
_ERA = 1 << 32


def parse_server(server: str) -> tuple[str, int]:
    """Split ``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 literal into (host, port).

    Args:
        server: the configured server; port 123 when none is given.

    Returns:
        (host, port) with IPv6 brackets removed.

    Raises:
        InputError: empty host or a port outside 1..65535 / not a number.
    """
    text = server.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket:
            raise InputError(f"NTP server {server!r}: missing ']'")
        if rest and not rest.startswith(":"):
            raise InputError(f"NTP server {server!r}: text after ']' must be ':PORT'")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    if not host:
        raise InputError(f"NTP server {server!r}: empty host")
    if not port_text:
        return host, NTP_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InputError(f"NTP server {server!r}: port must be 1..65535")
    return host, int(port_text)


def _to_ntp(us: int) -> tuple[int, int]:
    """Unix microseconds → NTP (seconds, 32-bit fraction), era 0 wrapped modulo 2**32 (RFC 4330 s. 3)."""
    seconds, micro = divmod(us, 1_000_000)
    return (seconds + _NTP_UNIX_DELTA) % _ERA, ((micro << 32) + 999_999) // 1_000_000  # ceil: exact back


def _from_ntp(seconds: int, fraction: int, near_us: int) -> int:
    """NTP (seconds, fraction) → Unix microseconds, choosing the era closest to ``near_us``."""
    unix = seconds - _NTP_UNIX_DELTA
    near_s = near_us // 1_000_000
    unix += ((near_s - unix + _ERA // 2) // _ERA) * _ERA
    return unix * 1_000_000 + (fraction * 1_000_000 >> 32)


def _request(t1_us: int) -> bytes:
    """A client-mode (3) NTPv4 request whose transmit timestamp is T1."""
    packet = ntplib.NTPPacket(version=4, mode=3)
    seconds, fraction = _to_ntp(t1_us)
    data: bytes = packet.to_data()
    return data[:40] + struct.pack("!II", seconds, fraction)


def _kiss_code(ref_id: int) -> str | None:
    """The ASCII kiss code in a stratum-0 reply's reference id (RFC 4330 section 8), else None."""
    raw = ref_id.to_bytes(4, "big").rstrip(b"\0")
    if raw and all(0x20 < b < 0x7F for b in raw):
        return raw.decode("ascii")
    return None


def reply_sample(server: str, reply: bytes, *, t1_us: int, elapsed_us: int) -> ClockSample:
    """Judge one reply to a request sent at T1 and received ``elapsed_us`` later (monotonic).

    Args:
        server: the server as configured (recorded verbatim).
        reply: the datagram (48 bytes or more; extension fields and MAC are ignored).
        t1_us: evidence-clock UTC microseconds when the request left (its transmit timestamp).
        elapsed_us: monotonic microseconds from sending to receiving (>= 0).

    Returns:
        A ClockSample: offset/delay set for a usable reply; ``error`` set (offset None) for a
        kiss-o'-death, an unsynchronised server or a malformed reply.

    Source: RFC 4330 sections 4, 5, 8; RFC 5905 section 7.3.
    """
    t4_us = t1_us + elapsed_us
    if len(reply) < PACKET_SIZE:
        return ClockSample(server, t4_us, error=f"malformed reply: {len(reply)} bytes, need {PACKET_SIZE}")
    head = ntplib.NTPPacket()
    head.from_data(reply)
    stratum, leap = int(head.stratum), int(head.leap)
    if head.mode != 4:
        return ClockSample(server, t4_us, error=f"malformed reply: mode {head.mode}, expected 4 (server)")
    unusable = ClockSample(server, t4_us, stratum=stratum, leap=leap)
    if stratum == 0:
        code = _kiss_code(int(head.ref_id))
        if code is not None:
            return dataclasses.replace(unusable, error=f"kiss-o'-death {code}")
    if leap == 3 or stratum == 0 or stratum > 15:
        return dataclasses.replace(unusable, error=f"server unsynchronised (leap {leap}, stratum {stratum})")
    words = struct.unpack("!4I", reply[32:48])
    if words[2] == 0 and words[3] == 0:
        return dataclasses.replace(unusable, error="malformed reply: transmit timestamp is zero")
    t2_us = _from_ntp(words[0], words[1], t1_us)
    t3_us = _from_ntp(words[2], words[3], t1_us)
    offset = ((t2_us - t1_us) + (t3_us - t4_us)) // 2
    delay = (t4_us - t1_us) - (t3_us - t2_us)
    return dataclasses.replace(unusable, offset_us=offset, delay_us=delay)


class _Inbox(asyncio.DatagramProtocol):
    """Queues datagrams and socket errors (ICMP port unreachable → ConnectionRefusedError)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | OSError] = asyncio.Queue(maxsize=MAX_STRAY)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if not self.queue.full():
            self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError) and not self.queue.full():
            self.queue.put_nowait(exc)


async def sample(server: str, *, clock: Clock, timeout: float = 2.0) -> ClockSample:
    """Measure ``clock`` against one NTP server with a single SNTP exchange.

    Args:
        server: ``host``, ``host:port``, ``[v6]:port`` or an IPv6 literal (port 123 by default).
        clock: the evidence clock; the offset measured is of ``clock.now_us()`` (with its offset_us).
        timeout: seconds to wait for the reply (resolution included).

    Returns:
        A ClockSample; every failure (bad server text, resolution, timeout, refused, kiss-o'-death,
        leap 3, malformed reply) is its ``error`` text. Never raises except on cancellation.

    Source: RFC 4330 section 5.
    """
    try:
        host, port = parse_server(server)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            family, address = infos[0][0], (str(infos[0][4][0]), int(infos[0][4][1]))
            transport, inbox = await loop.create_datagram_endpoint(_Inbox, family=family, remote_addr=address)
            try:
                return await _exchange(server, transport, inbox, clock)
            finally:
                transport.close()
    except TimeoutError:
        return ClockSample(server, clock.now_us(), error=f"timeout: no reply within {timeout} s")
    except InputError as exc:
        return ClockSample(server, clock.now_us(), error=f"bad server: {exc}")
    except OSError as exc:
        return ClockSample(server, clock.now_us(), error=_os_error_text(exc))
    except (UnicodeError, ValueError) as exc:  # e.g. a host name IDNA cannot encode
        return ClockSample(server, clock.now_us(), error=f"bad server: {exc}")


async def _exchange(
    server: str, transport: asyncio.DatagramTransport, inbox: _Inbox, clock: Clock
) -> ClockSample:
    """Send one request and wait (the caller bounds the time) for the reply echoing our T1."""
    t1_us, t1_mono = clock.now_us(), clock.monotonic()
    request = _request(t1_us)
    transport.sendto(request)
    for _ in range(MAX_STRAY):
        item = await inbox.queue.get()
        elapsed_us = max(0, round((clock.monotonic() - t1_mono) * 1_000_000))
        if isinstance(item, OSError):
            return ClockSample(server, t1_us + elapsed_us, error=_os_error_text(item))
        if len(item) >= PACKET_SIZE and item[24:32] != request[40:48]:
            continue  # not an answer to this request (RFC 4330 section 5: originate timestamp check)
        return reply_sample(server, item, t1_us=t1_us, elapsed_us=elapsed_us)
    return ClockSample(server, clock.now_us(), error="flooded with datagrams not answering our request")


def _os_error_text(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "no reply: connection refused (nothing listening)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve server: {exc.strerror or exc}"
    return f"socket error: {exc.strerror or exc}"


class ClockWatch:
    """Sample every configured server once per ``interval`` seconds until stopped.

    Args:
        servers: NTP servers (see :func:`sample`); at least one.
        clock: the evidence clock measured.
        interval: seconds between rounds (NTP's default minimum poll is 64 s).
        on_sample: called with each sample as it is taken (e.g. to record it in the ledger).
        timeout: seconds per sample; the servers of a round are asked concurrently.
        max_rounds: stop after this many rounds (None: until ``stop_event``).

    Raises:
        InputError: no server, a server that does not parse, or a non-positive interval/timeout.
    """

    def __init__(
        self,
        servers: Sequence[str],
        *,
        clock: Clock,
        interval: float = 64.0,
        on_sample: Callable[[ClockSample], None] | None = None,
        timeout: float = 2.0,
        max_rounds: int | None = None,
    ) -> None:
        if not servers:
            raise InputError("ClockWatch needs at least one NTP server")
        for server in servers:
            parse_server(server)
        if interval <= 0 or timeout <= 0:
            raise InputError("ClockWatch interval and timeout must be positive seconds")
        self.servers, self.clock, self.interval = tuple(servers), clock, interval
        self.on_sample, self.timeout, self.max_rounds = on_sample, timeout, max_rounds
        self._latest: tuple[ClockSample, ...] = ()
        self.rounds = 0

    async def sample_round(self) -> tuple[ClockSample, ...]:
        """Ask every server once (concurrently); report each sample to ``on_sample``; keep the round."""
        samples = await asyncio.gather(
            *(sample(s, clock=self.clock, timeout=self.timeout) for s in self.servers)
        )
        self._latest = tuple(samples)
        self.rounds += 1
        if self.on_sample is not None:
            for one in samples:
                self.on_sample(one)
        return self._latest

    async def run(self, stop_event: asyncio.Event) -> int:
        """Sample a round now, then every ``interval`` seconds until ``stop_event`` is set.

        Returns:
            The number of rounds taken. Cancellation propagates (an unfinished round is dropped).
        """
        while not stop_event.is_set():
            await self.sample_round()
            if self.max_rounds is not None and self.rounds >= self.max_rounds:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), self.interval)
        return self.rounds

    def latest_samples(self) -> tuple[ClockSample, ...]:
        """The samples of the latest round, one per server (empty before the first round)."""
        return self._latest

    def latest(self) -> dict[str, Any] | None:
        """The latest round as a flat dict for :class:`~swarmscope.evidence.seal.Batch` ``clock``.

        The reply with the largest |offset| of the latest round is chosen (the conservative reading: the
        one that would flag), else the first failure; None before any round. Keys are the ClockSample
        fields plus ``round_servers`` and ``round_replies`` (counts).
        """
        if not self._latest:
            return None
        replies = [s for s in self._latest if s.offset_us is not None]
        chosen = max(replies, key=lambda s: abs(s.offset_us or 0)) if replies else self._latest[0]
        return {
            **{f.name: getattr(chosen, f.name) for f in CLOCK_SAMPLE.fields},  # not its ``version``
            "round_servers": len(self._latest),
            "round_replies": len(replies),
        }
