"""Inbound peer connections: one TCP listen port for every monitored swarm.

A peer that dials us speaks first. Its first bytes tell a plaintext BEP 3 handshake from an MSE/PE one
(``wire.mse.classify_incoming``). Plaintext: the infohash is read from handshake bytes 28..48. Encrypted:
the pure :class:`~swarmscope.wire.mse.MseResponder` finds the infohash (SKEY) among the monitored ones. Then
``make_run`` builds a fresh inbound :class:`~swarmscope.evidence.probe.run.ProbeRun` and the stream is handed
to the connection shell (:class:`~swarmscope.net.stream_shell.StreamShell`), which drives it exactly like
an outgoing probe: its timers, close path and capture tap. This module only accepts and identifies the
swarm. The run never sends piece data.

Everything is bounded: connections in flight (``max_connections``), per IP and per (IP, swarm), with idle
streams giving way and the seal throttle (:mod:`swarmscope.net.inbound_admission`), the time from accept to
a known swarm (``handshake_timeout``), the bytes buffered before that (:data:`MAX_PREFIX`); afterwards the
run's own deadlines bound the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable, Sequence
from typing import Protocol, cast

from swarmscope.errors import DecodeError
from swarmscope.evidence.probe.encrypted import EncryptedInboundRun, ResponderSecrets
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import Observation, Tier
from swarmscope.net.bind import listen_socket
from swarmscope.net.clock import Clock
from swarmscope.net.inbound_admission import (
    IDLE_AFTER,
    MAX_PER_IP,
    MAX_PER_IP_SWARM,
    ListenerStats,
    SealThrottle,
    Slot,
    evictable,
    peer_address,
)
from swarmscope.net.mse_conn import random_pad, random_private_key
from swarmscope.net.stream_shell import DrivenRun, StreamShell, Tap
from swarmscope.wire.mse import IncomingKind, MseResponder, classify_incoming
from swarmscope.wire.mse_cipher import CRYPTO_METHODS, CRYPTO_RC4, MAX_PAD, SkeyIndex
from swarmscope.wire.types import host_key

HANDSHAKE_LEN = 68  # BEP 3: 1 + 19 + 8 reserved + 20 infohash + 20 peer id
INFOHASH_SLICE = slice(28, 48)  # BEP 3: where the infohash sits in the handshake
# MSE: Ya (96) + PadA + HASH req1 (20) + HASH req2^req3 (20) + VC/provide/len(PadC) (14) + PadC + len(IA) (2)
# + IA (≤ 65535): no honest initiator sends more before the swarm is known.
MAX_PREFIX = 96 + MAX_PAD + 20 + 20 + 14 + MAX_PAD + 2 + 0xFFFF
STOP_TIMEOUT = 5.0  # seconds stop() waits for aborted connections to report
STALL_AFTER = IDLE_AFTER  # seconds until an idle stream gives way (net.inbound_admission says why)
_UNKNOWN_SKEY = "HASH('req2', SKEY)"  # how MseResponder names an infohash we do not serve


class Encryption(enum.Enum):
    """Which inbound connections we accept (CLI ``--encryption``)."""

    PREFER = "prefer"  # plaintext and MSE; MSE peers offering RC4 get RC4
    REQUIRE = "require"  # MSE with RC4 only; plaintext handshakes are closed
    DISABLE = "disable"  # plaintext only; MSE handshakes are closed


class PreludeTapped(DrivenRun, Protocol):
    """A tapped run that can record the raw chunks of an MSE handshake that came before the run existed."""

    def prelude(self, chunks: Sequence[tuple[int, int, bytes, int]], replies: bytes) -> None: ...


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
        max_connections: connections in flight at once; more are closed at once and counted. Per IP and
            per (IP, swarm): :data:`~swarmscope.net.inbound_admission.MAX_PER_IP`, ``MAX_PER_IP_SWARM``.
        handshake_timeout: seconds from accept until the swarm is known (plaintext or MSE handshake).
        tap: wraps each run before ``accepted`` (``net.capture_tap.CaptureTap``: wire capture). For MSE the
            run is first wrapped in ``EncryptedInboundRun`` so the capture holds the raw bytes from the
            first one. ``on_done`` still gets the plain ProbeRun, with the wrapper's observation.
        unverified_interval: seconds; a run that verified nothing is reported once per (IP, swarm) in it.

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
        tap: Callable[[DrivenRun], PreludeTapped] | None = None,
        unverified_interval: float = 0.0,
    ) -> None:
        self.host, self.port, self.clock = host, port, clock
        self.make_run, self.on_done, self.skeys = make_run, on_done, skeys
        self.encryption = Encryption(encryption)
        self.max_connections, self.handshake_timeout = max_connections, handshake_timeout
        self.stats = ListenerStats()
        self.tap = tap
        self.active: set[StreamShell] = set()  # accepted streams in flight (before and after hand-over)
        self.by_ip: dict[str, set[StreamShell]] = {}  # the same streams by peer IP (host_key)
        self.throttle = SealThrottle(unverified_interval)
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
            self._server = await loop.create_server(self._shell, sock=sock)
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

    def make_room(self, among: set[StreamShell] | None = None) -> bool:
        """Full: close the idle stream (:class:`~swarmscope.net.inbound_admission.Slot`) that gives way
        first among ``among`` (None: every stream in flight): one that never named its swarm, else one
        that named it and sent no claim, the oldest first.

        Returns True when a slot was freed (the stream is out of ``active`` at once).
        """
        now = asyncio.get_running_loop().time()
        pairs = [(op.slot(), sh) for sh in (self.active if among is None else among) if (op := _opener(sh))]
        victim = evictable(pairs, now)
        if victim is None:
            return False
        self.forget(victim)
        self.stats.evicted += 1
        if victim.run is not None and not victim.run.done:  # recorded like any close, so replay agrees
            victim.run.closed(self.clock.now_us(), f"evicted: no claim {STALL_AFTER:g} s after its handshake")
        victim.close()
        return True

    def forget(self, shell: StreamShell) -> None:  # the stream no longer holds a slot (by IP: IPv6 /64)
        self.active.discard(shell)
        ip = host_key(opener.ip) if (opener := _opener(shell)) is not None and opener.ip else ""
        if shell in (same_ip := self.by_ip.get(ip, set())):
            same_ip.discard(shell)
            if not same_ip:
                del self.by_ip[ip]

    def _shell(self) -> StreamShell:
        """A shell for a freshly accepted stream, opened by a new :class:`_Opening`."""
        return StreamShell(
            self.clock, asyncio.get_running_loop(), opener=_Opening(self), open_timeout=self.handshake_timeout
        )

    def crypto_allowed(self) -> int:
        """The MSE crypto methods we accept from an initiator under the encryption policy."""
        return CRYPTO_RC4 if self.encryption is Encryption.REQUIRE else CRYPTO_METHODS


def _opener(shell: StreamShell) -> _Opening | None:
    opener = shell.opener
    return opener if isinstance(opener, _Opening) else None


class _Opening:
    """One accepted stream until its swarm is known (the shell's :class:`Opener`), then its run's reporter.

    Reads the first bytes: plaintext (the infohash at handshake bytes 28..48) or MSE (our responder finds
    the SKEY among the monitored infohashes), asks ``make_run`` for a run and hands the stream to the
    shell. With a tap, every chunk that arrived before the swarm was known is kept (the prelude) and our
    MSE replies with it, so the capture holds the raw stream from its first byte.
    """

    __slots__ = (
        "accepted_at",
        "inner",
        "ip",
        "listener",
        "mse",
        "mse_out",
        "named_at",
        "port",
        "prefix",
        "prelude",
        "secrets",
        "shell",
        "swarm",
        "wire_in",
        "wire_out",
    )

    def __init__(self, listener: PeerListener) -> None:
        self.listener = listener
        self.shell: StreamShell | None = None
        self.ip, self.port = "", 0
        self.prefix = bytearray()
        self.mse: MseResponder | None = None  # set once the first bytes are MSE
        self.secrets: ResponderSecrets | None = None
        self.inner: ProbeRun | None = None  # the run handed over (reported to on_done)
        # with a tap: (utc µs, mono µs, bytes, offset in mse_out) per chunk before the swarm was known
        self.prelude: list[tuple[int, int, bytes, int]] | None = [] if listener.tap is not None else None
        self.mse_out = bytearray()  # with a tap: our MSE responder's replies
        self.wire_in = self.wire_out = 0
        self.accepted_at = self.named_at = 0.0  # loop times (seconds): admitted, swarm named
        self.swarm: bytes | None = None  # the wire infohash once named

    def slot(self) -> Slot:
        """The stream as admission sees it: claimed once the run has the peer's claims or BEP 10 handshake."""
        inner = self.inner
        claimed = inner is not None and (inner.session.have is not None or inner.ext is not None)
        return Slot(self.ip, self.accepted_at, self.swarm, self.named_at, claimed)

    # --- the shell's Opener interface ----------------------------------------------------------------

    def opened(self, shell: StreamShell) -> bool:
        """Admit the stream unless its IP has :data:`MAX_PER_IP` streams or ``max_connections`` are in
        flight, and none of them is idle (then it is closed and counted)."""
        lst, self.shell = self.listener, shell
        transport = cast(asyncio.Transport, shell.transport)
        self.ip, self.port = peer_address(transport.get_extra_info("peername"))
        same_ip = lst.by_ip.get(key := host_key(self.ip), set())
        if len(same_ip) >= MAX_PER_IP and not lst.make_room(same_ip):
            lst.stats.refused_per_ip += 1
            return False
        if len(lst.active) >= lst.max_connections and not lst.make_room():
            lst.stats.refused_over_limit += 1
            return False
        lst.stats.accepted += 1
        self.accepted_at = shell.loop.time()
        lst.active.add(shell)
        lst.by_ip.setdefault(key, set()).add(shell)
        return True

    def feed(self, data: bytes) -> None:
        """A chunk before the swarm is known (bounded by :data:`MAX_PREFIX` bytes in all)."""
        self.wire_in += len(data)
        if self.prelude is not None:
            clock = self.listener.clock
            self.prelude.append((clock.now_us(), int(clock.monotonic() * 1e6), data, len(self.mse_out)))
        if self.wire_in > MAX_PREFIX:
            self._refuse("bad_handshake")
        elif self.mse is not None:
            self._feed_mse(data)
        else:
            self.prefix += data
            self._sniff()

    def expired(self) -> None:
        """No complete handshake within ``handshake_timeout`` (the shell closes the stream)."""
        self.listener.stats.timed_out += 1

    def ended(self, shell: StreamShell) -> None:
        """The stream is gone: report its run once (unless ``SealThrottle`` holds it back: unverified or
        heavy, and its (IP, swarm) had such a run reported lately), or count a peer that left early."""
        lst = self.listener
        lst.forget(shell)
        inner = self.inner
        if inner is not None and shell.run is not None:
            verified = inner.tier is Tier.VERIFIED or bool(inner.download.verified_blocks)
            obs = shell.run.observation()
            if lst.throttle.allow(host_key(self.ip), self.swarm or b"", verified, shell.loop.time(), obs):
                lst.on_done(inner, obs)
            else:
                lst.stats.held_back(verified)
        elif not shell.detached:  # we did not close it ourselves (refused, timed out, stopping)
            lst.stats.closed_early += 1

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
        self._send(out)
        if self.prelude is not None:
            self.mse_out += out
        est = self.mse.established
        if est is None:
            return
        if est.encrypted:
            self.listener.stats.encrypted += 1
        self._start_run(est.skey, est.initial_payload + est.received)

    def _start_run(self, infohash: bytes, payload: bytes) -> None:
        """Ask for a run for ``infohash`` (None closes the stream as not ours) and hand the stream over.

        Under MSE the run goes behind an ``EncryptedInboundRun`` (it decrypts, encrypts, counts wire bytes
        and holds the decrypted IA and after), so ``payload`` stays with it.
        """
        lst, shell = self.listener, cast(StreamShell, self.shell)
        pair = {
            sh for sh in lst.by_ip.get(host_key(self.ip), ()) if (op := _opener(sh)) and op.swarm == infohash
        }
        if len(pair) >= MAX_PER_IP_SWARM and not lst.make_room(pair):
            self._refuse("refused_per_ip")
            return
        run = lst.make_run(infohash, self.ip, self.port)
        if run is None:
            self._refuse("unknown_infohash")
            return
        self.inner, self.prefix, self.swarm = run, bytearray(), infohash
        self.named_at = shell.loop.time()
        lst.stats.runs += 1
        if self.mse is None or self.secrets is None:
            shell.hand_over(run, payload, self._tap())
            return
        wrapped = EncryptedInboundRun(
            run, secrets=self.secrets, responder=self.mse, wire_in=self.wire_in, wire_out=self.wire_out
        )
        shell.hand_over(wrapped, None, self._tap())

    def _tap(self) -> Tap | None:
        """The listener's tap; under MSE it first records the prelude (chunks and our replies)."""
        tap, chunks = self.listener.tap, self.prelude
        if tap is None or chunks is None or self.mse is None:
            return tap
        replies = bytes(self.mse_out)

        def with_prelude(run: DrivenRun) -> DrivenRun:
            tapped = tap(run)
            tapped.prelude(chunks, replies)
            return tapped

        return with_prelude

    def _send(self, data: bytes) -> None:
        if data:
            self.wire_out += len(data)
            cast(StreamShell, self.shell).send(data)

    def _refuse(self, counter: str) -> None:
        setattr(self.listener.stats, counter, getattr(self.listener.stats, counter) + 1)
        cast(StreamShell, self.shell).close()
