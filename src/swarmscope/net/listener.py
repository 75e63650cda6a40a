"""Inbound peer connections: one TCP listen port for every monitored swarm.

A peer that dials us speaks first. Its first bytes tell a plaintext BEP 3 handshake from an MSE/PE one
(``wire.mse.classify_incoming``). Plaintext: the infohash is read from handshake bytes 28..48. Encrypted:
the pure :class:`~swarmscope.wire.mse.MseResponder` finds the infohash (SKEY) among the monitored ones. Then
``make_run`` builds a fresh inbound :class:`~swarmscope.evidence.probe.ProbeRun` and the connection is driven
exactly like an outgoing probe (``net.peer_conn``): one timer at ``run.deadline_us``, abort when the run is
done, ``run.closed`` on EOF. The run never sends piece data.

Everything is bounded: connections in flight (``max_connections``), the time from accept to a known swarm
(``handshake_timeout``), the bytes buffered before that (:data:`MAX_PREFIX`); afterwards the run's own
deadlines bound the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from swarmscope.errors import DecodeError
from swarmscope.evidence.encrypted_probe import EncryptedInboundRun, ResponderSecrets
from swarmscope.evidence.probe import ProbeRun
from swarmscope.evidence.records import Observation
from swarmscope.net.bind import listen_socket
from swarmscope.net.capture_tap import TappedRun
from swarmscope.net.clock import Clock
from swarmscope.net.mse_conn import random_pad, random_private_key
from swarmscope.wire.mse import IncomingKind, MseResponder, classify_incoming
from swarmscope.wire.mse_cipher import CRYPTO_METHODS, CRYPTO_RC4, MAX_PAD, SkeyIndex

HANDSHAKE_LEN = 68  # BEP 3: 1 + 19 + 8 reserved + 20 infohash + 20 peer id
INFOHASH_SLICE = slice(28, 48)  # BEP 3: where the infohash sits in the handshake
# MSE: Ya (96) + PadA + HASH req1 (20) + HASH req2^req3 (20) + VC/provide/len(PadC) (14) + PadC + len(IA) (2)
# + IA (≤ 65535): no honest initiator sends more before the swarm is known.
MAX_PREFIX = 96 + MAX_PAD + 20 + 20 + 14 + MAX_PAD + 2 + 0xFFFF
STOP_TIMEOUT = 5.0  # seconds stop() waits for aborted connections to report
_UNKNOWN_SKEY = "HASH('req2', SKEY)"  # how MseResponder names an infohash we do not serve


class Encryption(enum.Enum):
    """Which inbound connections we accept (CLI ``--encryption``)."""

    PREFER = "prefer"  # plaintext and MSE; MSE peers offering RC4 get RC4
    REQUIRE = "require"  # MSE with RC4 only; plaintext handshakes are closed
    DISABLE = "disable"  # plaintext only; MSE handshakes are closed


@dataclass(slots=True)
class ListenerStats:
    """Counters of a :class:`PeerListener` (connections, not bytes)."""

    accepted: int = 0  # TCP connections taken in (below max_connections)
    unknown_infohash: int = 0  # closed: the swarm is not one we monitor
    encrypted: int = 0  # RC4 established (MSE/PE)
    refused_over_limit: int = 0  # closed at once: max_connections reached
    bad_handshake: int = 0  # closed: invalid MSE handshake or too many bytes before the swarm was known
    refused_by_policy: int = 0  # closed: plaintext under "require", MSE under "disable" or without skeys
    timed_out: int = 0  # closed: no complete handshake within handshake_timeout
    closed_early: int = 0  # the peer closed before its swarm was known
    runs: int = 0  # connections handed to a run (each ends in on_done exactly once)


class PeerListener:
    """Accept inbound peer connections for the monitored swarms and probe each peer that dials us.

    Args:
        host: IPv4 or IPv6 literal to listen on (e.g. ``"127.0.0.1"``, ``"::1"``). port: TCP port, 0 = any.
        clock: evidence clock. make_run: ``(wire infohash (20 bytes), peer ip, peer TCP source port)`` →
            a fresh ProbeRun (its ``accepted`` is called here), or None when the swarm is not monitored.
        on_done: called once per connection that reached a run, with the run and its Observation
            (``encrypted`` and wire byte counts set for MSE connections).
        skeys: the monitored wire infohashes for MSE responders (None: encrypted connections are refused).
        encryption: "prefer" | "require" | "disable" (see :class:`Encryption`).
        max_connections: connections in flight at once; more are closed at once and counted.
        handshake_timeout: seconds from accept until the swarm is known (plaintext or MSE handshake).
        tap: wraps each run before ``accepted`` (``net.capture_tap.CaptureTap``: wire capture). For MSE the
            run is first wrapped in ``EncryptedInboundRun`` so the capture holds the raw bytes from the
            first one. ``on_done`` still gets the plain ProbeRun, with the wrapper's observation.

    Source: BEP 3 (handshake; the initiator speaks first), Vuze wiki "Message Stream Encryption" (B waits
    for a plain handshake or Ya), README "Inbound connections".
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        clock: Clock,
        make_run: Callable[[bytes, str, int], ProbeRun | None],
        on_done: Callable[[ProbeRun, Observation], None],
        skeys: SkeyIndex | None = None,
        encryption: str = "prefer",
        max_connections: int = 500,
        handshake_timeout: float = 10.0,
        tap: Callable[[ProbeRun | EncryptedInboundRun], TappedRun] | None = None,
    ) -> None:
        self.host, self.port, self.clock = host, port, clock
        self.make_run, self.on_done, self.skeys = make_run, on_done, skeys
        self.encryption = Encryption(encryption)
        self.max_connections, self.handshake_timeout = max_connections, handshake_timeout
        self.stats = ListenerStats()
        self.tap = tap
        self.active: set[_InboundConnection] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Bind and listen on ``(host, port)`` (see :func:`listen_socket`).

        Raises:
            OSError: the port is taken in either address family (EADDRINUSE), not ours to bind (EACCES),
                or the host is not an address of this machine (EADDRNOTAVAIL).
        """
        loop = asyncio.get_running_loop()
        sock = listen_socket(self.host, self.port)
        try:
            self._server = await loop.create_server(lambda: _InboundConnection(self, loop), sock=sock)
        except BaseException:
            sock.close()
            raise

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port)."""
        if self._server is None:
            raise RuntimeError("PeerListener.address before start()")
        name = self._server.sockets[0].getsockname()
        return str(name[0]), int(name[1])

    async def stop(self) -> None:
        """Stop accepting; stop the runs in flight (reported via on_done) and close their connections."""
        if self._server is not None:
            self._server.close()
        now = self.clock.now_us()
        conns = list(self.active)
        for conn in conns:
            conn.stop(now)
        if conns:
            await asyncio.wait([asyncio.ensure_future(c.finished) for c in conns], timeout=STOP_TIMEOUT)
        if self._server is not None:  # wait_closed waits for every accepted connection: bound it
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self._server.wait_closed()

    def crypto_allowed(self) -> int:
        """The MSE crypto methods we accept from an initiator under the encryption policy."""
        return CRYPTO_RC4 if self.encryption is Encryption.REQUIRE else CRYPTO_METHODS


def peer_address(peername: object) -> tuple[str, int]:
    """(ip, port) of a socket peer name; IPv4-mapped IPv6 addresses (``::ffff:a.b.c.d``) become IPv4."""
    host, port = cast(tuple[str, int], peername)[:2]
    mapped = ipaddress.ip_address(host.split("%")[0])
    if isinstance(mapped, ipaddress.IPv6Address) and mapped.ipv4_mapped is not None:
        host = str(mapped.ipv4_mapped)
    return host, int(port)


class _Stage(enum.Enum):
    SNIFF = 0  # reading the first bytes: plaintext or MSE?
    MSE = 1  # MSE responder handshake in progress
    RUN = 2  # a ProbeRun owns the connection
    CLOSED = 3  # refused/closed before a run existed


class _InboundConnection(asyncio.Protocol):
    """One accepted connection: find its swarm, then feed a ProbeRun (decrypting/encrypting under MSE)."""

    def __init__(self, listener: PeerListener, loop: asyncio.AbstractEventLoop) -> None:
        self.listener, self.loop = listener, loop
        self.stage = _Stage.SNIFF
        self.transport: asyncio.Transport | None = None
        self.ip, self.port = "", 0
        self.prefix = bytearray()
        self.mse: MseResponder | None = None
        self.run: ProbeRun | None = None  # the driven run: inner, or its MSE wrapper and/or tap
        self.tapped: TappedRun | None = None  # the tap around the run, when the listener has one
        self.inner: ProbeRun | None = None  # the ProbeRun itself (reported to on_done)
        self.secrets: ResponderSecrets | None = None
        # with a tap: (utc µs, mono µs, bytes, offset in mse_out) per chunk before the swarm was known
        self.prelude: list[tuple[int, int, bytes, int]] | None = [] if listener.tap is not None else None
        self.mse_out = bytearray()  # with a tap: our MSE responder's replies
        self.wire_in = self.wire_out = 0
        self.timer: asyncio.TimerHandle | None = None
        self.armed_us: int | None = None
        self.finished: asyncio.Future[None] = loop.create_future()

    # --- asyncio callbacks ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport does not subclass asyncio.Transport, hence a cast (as in net.peer_conn)
        self.transport = cast(asyncio.Transport, transport)
        lst = self.listener
        if len(lst.active) >= lst.max_connections:
            lst.stats.refused_over_limit += 1
            self._refuse(None)
            return
        lst.stats.accepted += 1
        lst.active.add(self)
        self.ip, self.port = peer_address(transport.get_extra_info("peername"))
        self.timer = self.loop.call_later(lst.handshake_timeout, self._on_handshake_timeout)

    def data_received(self, data: bytes) -> None:
        self.wire_in += len(data)
        if self.stage is _Stage.RUN:
            self._feed_run(data)
        elif self.stage is not _Stage.CLOSED:
            if self.prelude is not None:
                clock = self.listener.clock
                self.prelude.append((clock.now_us(), int(clock.monotonic() * 1e6), data, len(self.mse_out)))
            if self.wire_in > MAX_PREFIX:
                self._refuse("bad_handshake")
            elif self.stage is _Stage.MSE:
                self._feed_mse(data)
            else:
                self.prefix += data
                self._sniff()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self.listener.active.discard(self)
        run = self.run
        if run is not None:
            if not run.done:
                run.closed(
                    self.listener.clock.now_us(), f"closed by peer: {exc}" if exc else "closed by peer"
                )
            self.run = None  # report once
            self.listener.on_done(self.inner or run, run.observation())
        elif self.stage in (_Stage.SNIFF, _Stage.MSE) and self.transport is not None:
            self.listener.stats.closed_early += 1
        self.stage = _Stage.CLOSED
        if not self.finished.done():
            self.finished.set_result(None)

    def stop(self, now_us: int) -> None:
        """The listener is stopping: end the run (if any) and abort the connection."""
        if self.run is not None and not self.run.done:
            self.run.stop(now_us)
        elif self.run is None:
            self.stage = _Stage.CLOSED
        self._abort()

    # --- before the swarm is known -------------------------------------------------------------------

    def _sniff(self) -> None:
        """Decide plaintext or MSE from the first bytes; for plaintext wait for the infohash (48 bytes)."""
        lst = self.listener
        kind = classify_incoming(bytes(self.prefix))
        if kind is IncomingKind.UNDECIDED:
            return
        if kind is IncomingKind.PLAINTEXT:
            if lst.encryption is Encryption.REQUIRE:
                self._refuse("refused_by_policy")
            elif len(self.prefix) >= INFOHASH_SLICE.stop:
                self._start_run(bytes(self.prefix[INFOHASH_SLICE]), bytes(self.prefix))
            return
        if lst.encryption is Encryption.DISABLE or lst.skeys is None:
            self._refuse("refused_by_policy")
            return
        self.stage = _Stage.MSE
        key, pad_b = random_private_key(), random_pad()
        self.secrets = ResponderSecrets(key, pad_b, lst.crypto_allowed(), CRYPTO_RC4)
        self.mse = MseResponder(
            skeys=lst.skeys,
            private_key=key,
            pad_b=pad_b,
            crypto_allowed=lst.crypto_allowed(),
            prefer=CRYPTO_RC4,
        )
        data, self.prefix = bytes(self.prefix), bytearray()
        self._feed_mse(data)

    def _feed_mse(self, data: bytes) -> None:
        """Advance the MSE responder; once established, hand the decrypted stream to a run."""
        assert self.mse is not None
        try:
            out = self.mse.receive(data)
        except DecodeError as exc:
            self._refuse("unknown_infohash" if _UNKNOWN_SKEY in exc.reason else "bad_handshake")
            return
        self._write(out)
        if self.prelude is not None:
            self.mse_out += out
        est = self.mse.established
        if est is None:
            return
        if est.encrypted:
            self.listener.stats.encrypted += 1
        self._start_run(est.skey, est.initial_payload + est.received)

    def _start_run(self, infohash: bytes, payload: bytes) -> None:
        """Ask for a run for ``infohash``; None closes the connection as not ours."""
        run = self.listener.make_run(infohash, self.ip, self.port)
        if run is None:
            self._refuse("unknown_infohash")
            return
        self._cancel_timer()
        self.inner = run
        driven = self._wrap(run)
        self.run, self.stage, self.prefix = cast(ProbeRun, driven), _Stage.RUN, bytearray()
        self.listener.stats.runs += 1
        self._write(driven.accepted(self.listener.clock.now_us()))
        if isinstance(driven, EncryptedInboundRun | TappedRun) and self.mse is not None:
            self._write(driven.payload(self.listener.clock.now_us()))  # the wrapper holds IA and after
            self._after_run_step()
        else:
            self._feed_run(payload)

    def _wrap(self, run: ProbeRun) -> ProbeRun | EncryptedInboundRun | TappedRun:
        """Put ``run`` behind our MSE responder (if the peer spoke MSE), then in the listener's tap (if set).

        The same driver interface (accepted, received, timer, ...); under MSE the EncryptedInboundRun
        decrypts, encrypts and counts wire bytes, and the tap records the prelude before the swarm was known.
        """
        driven: ProbeRun | EncryptedInboundRun = run
        if self.mse is not None and self.secrets is not None:
            driven = EncryptedInboundRun(
                run, secrets=self.secrets, responder=self.mse, wire_in=self.wire_in, wire_out=self.wire_out
            )
        tap = self.listener.tap
        if tap is None or self.prelude is None:
            return driven
        self.tapped = tapped = tap(driven)
        if self.mse is not None:
            tapped.prelude(self.prelude, bytes(self.mse_out))
        return tapped

    def _on_handshake_timeout(self) -> None:
        self.timer = None
        if self.stage in (_Stage.SNIFF, _Stage.MSE):
            self._refuse("timed_out")

    def _refuse(self, counter: str | None) -> None:
        if counter is not None:
            setattr(self.listener.stats, counter, getattr(self.listener.stats, counter) + 1)
        self.stage = _Stage.CLOSED
        self._abort()

    # --- a run owns the connection (same semantics as net.peer_conn._ProbeProtocol) -----------------

    def _feed_run(self, data: bytes) -> None:
        """Plaintext bytes for the run (may be empty: then only the timer is re-armed)."""
        run = self.run
        if run is None:
            return
        if data:
            self._write(run.received(data, self.listener.clock.now_us()))
        self._after_run_step()

    def _after_run_step(self) -> None:
        run = self.run
        if run is None:
            return
        if run.done:
            self._abort()
        elif run.deadline_us != self.armed_us:
            self._arm()

    def _arm(self) -> None:
        """(Re)arm the single timer at the run's deadline."""
        self._cancel_timer()
        deadline = self.armed_us = self.run.deadline_us if self.run is not None else None
        if deadline is not None:
            delay = max(0.0, (deadline - self.listener.clock.now_us()) / 1e6)
            self.timer = self.loop.call_later(delay, self._on_run_timer)

    def _on_run_timer(self) -> None:
        self.timer = None
        self.armed_us = None
        if self.run is not None:
            self._write(self.run.timer(self.listener.clock.now_us()))
            self._after_run_step()

    # --- bytes out, teardown -------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if data and self.transport is not None and not self.transport.is_closing():
            self.wire_out += len(data)
            self.transport.write(data)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.armed_us = None

    def _abort(self) -> None:
        self._cancel_timer()
        if self.transport is not None:
            self.transport.abort()  # RST, no TIME_WAIT on our side
