"""A probe seen through MSE/PE: the pure ProbeRun wrapped so the driver speaks MSE on the wire.

It lives in the pure layer (``net.mse_conn`` gives it its randomness) so that capture replay
(``evidence.capture.recording``) can re-run encrypted probes. Every random input (DH private key, PadA)
is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from swarmscope.errors import DecodeError
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import Failure, Observation
from swarmscope.wire.mse import MseInitiator, MseResponder
from swarmscope.wire.mse_cipher import CRYPTO_METHODS, CRYPTO_RC4, MseStream


class _MseWrappedRun:
    """What both MSE sides share: the wrapped run's driver surface, wire byte counts and observation."""

    run: ProbeRun
    stream: MseStream | None
    wire_in: int
    wire_out: int

    @property
    def ip(self) -> str:
        """The peer's address (from the run)."""
        return self.run.ip

    @property
    def port(self) -> int:
        """The peer's port (from the run; for inbound runs its TCP source port)."""
        return self.run.port

    @property
    def done(self) -> bool:
        """True once the probe finished."""
        return self.run.done

    @property
    def deadline_us(self) -> int | None:
        """The run's deadline (UTC µs); it also bounds the MSE handshake."""
        return self.run.deadline_us

    def connect_failed(self, now_us: int, failure: Failure, detail: str) -> None:
        """The TCP connection could not be made (never for inbound runs; forwarded for the interface)."""
        self.run.connect_failed(now_us, failure, detail)

    def stop(self, now_us: int) -> None:
        """The monitor is ending."""
        self.run.stop(now_us)

    def observation(self) -> Observation:
        """The run's observation with ``encrypted`` and the wire byte counts (MSE handshake included)."""
        obs = self.run.observation()
        encrypted = self.stream is not None and self.stream.encrypted
        return replace(obs, encrypted=encrypted, wire_bytes_in=self.wire_in, wire_bytes_out=self.wire_out)

    def _sent(self, data: bytes) -> bytes:
        self.wire_out += len(data)
        return data


class EncryptedProbeRun(_MseWrappedRun):
    """A :class:`ProbeRun` seen through MSE: the same driver interface, bytes encrypted on the wire.

    Our BEP 3 handshake (from ``run.connected``) is sent as IA in MSE step 3, so the probe's handshake
    deadline also bounds the MSE handshake. The observation records ``encrypted`` (RC4 selected) and the
    wire byte counts including the MSE handshake. Pure: the private key and PadA are passed in.

    Args:
        run: a fresh ProbeRun. private_key: DH private key (16-96 random bytes). pad_a: PadA (0-512 bytes).
        crypto_provide: methods offered (CRYPTO_RC4 and/or CRYPTO_PLAINTEXT).

    Source: Vuze wiki "Message Stream Encryption".
    """

    def __init__(
        self, run: ProbeRun, *, private_key: bytes, pad_a: bytes, crypto_provide: int = CRYPTO_METHODS
    ) -> None:
        self.run, self._key, self._pad_a, self._provide = run, private_key, pad_a, crypto_provide
        self.mse: MseInitiator | None = None
        self.stream: MseStream | None = None
        self.wire_in = self.wire_out = 0

    @property
    def private_key(self) -> bytes:
        """Our ephemeral DH private key (recorded in wire captures so replay can re-derive the keystream)."""
        return self._key

    @property
    def pad_a(self) -> bytes:
        """Our PadA (recorded in wire captures)."""
        return self._pad_a

    @property
    def crypto_provide(self) -> int:
        """The crypto methods we offer (CRYPTO_RC4 and/or CRYPTO_PLAINTEXT)."""
        return self._provide

    def connected(self, now_us: int) -> bytes:
        """TCP is up: returns Ya + PadA (our BEP 3 handshake waits inside the initiator as IA)."""
        ia = self.run.connected(now_us)
        self.mse = MseInitiator(
            skey=self.run.session.infohash,
            private_key=self._key,
            pad_a=self._pad_a,
            initial_payload=ia,
            crypto_provide=self._provide,
        )
        return self._sent(self.mse.start())

    def received(self, data: bytes, now_us: int) -> bytes:
        """Wire bytes from the peer; returns wire bytes to send."""
        self.wire_in += len(data)
        if self.stream is not None:
            return self._sent(self.stream.encrypt(self.run.received(self.stream.decrypt(data), now_us)))
        if self.mse is None or self.run.done:
            return b""
        try:
            out = self.mse.receive(data)
        except DecodeError as exc:
            self.run.connect_failed(now_us, Failure.HANDSHAKE_INVALID, f"MSE: {exc}")
            return b""
        est = self.mse.established
        if est is not None:
            self.stream = est.stream
            reply = self.run.received(est.received, now_us) if est.received else b""
            out += est.stream.encrypt(reply)
        return self._sent(out)

    def timer(self, now_us: int) -> bytes:
        """The run's deadline passed (during MSE this ends the probe as a handshake timeout)."""
        out = self.run.timer(now_us)
        return self._sent(self.stream.encrypt(out) if self.stream is not None else out)

    def closed(self, now_us: int, detail: str = "connection closed") -> None:
        """The peer closed; during the MSE handshake this usually means it refuses encryption."""
        self.run.closed(now_us, detail if self.stream is not None else f"{detail} (during MSE handshake)")


@dataclass(frozen=True, slots=True)
class ResponderSecrets:
    """Our ephemeral MSE responder inputs for one inbound connection (recorded in its wire capture).

    Args:
        private_key: DH private key (16-96 bytes). pad_b: PadB (0-512 bytes). crypto_allowed: methods we
        accept. prefer: the method chosen when the initiator offers both.
    """

    private_key: bytes
    pad_b: bytes
    crypto_allowed: int = CRYPTO_METHODS
    prefer: int = CRYPTO_RC4


class EncryptedInboundRun(_MseWrappedRun):
    """An inbound :class:`ProbeRun` behind our MSE responder: raw wire bytes in and out.

    Used by the listener when a capture tap is set (so the capture holds ciphertext and the responder
    handshake) and by capture replay. Live, the listener ran the responder before the swarm was known and
    passes it in established, with the wire byte counts so far; on replay the responder is rebuilt from
    ``secrets`` and fed the recorded bytes. After the handshake, :meth:`payload` hands the decrypted IA (the
    peer's BEP 3 handshake) and any bytes that followed it to the run.

    Args:
        run: a fresh inbound ProbeRun. secrets: the responder's inputs. responder: the listener's responder
            (None: a new one for ``run``'s infohash). wire_in, wire_out: bytes already moved (live).

    Source: Vuze wiki "Message Stream Encryption" (B side); README "Wire captures".
    """

    def __init__(
        self,
        run: ProbeRun,
        *,
        secrets: ResponderSecrets,
        responder: MseResponder | None = None,
        wire_in: int = 0,
        wire_out: int = 0,
    ) -> None:
        self.run, self.secrets = run, secrets
        self.mse = responder or MseResponder(
            skeys=[run.session.infohash],
            private_key=secrets.private_key,
            pad_b=secrets.pad_b,
            crypto_allowed=secrets.crypto_allowed,
            prefer=secrets.prefer,
        )
        self.wire_in, self.wire_out = wire_in, wire_out
        self.stream: MseStream | None = None
        self._pending = b""
        self._took_established()

    def _took_established(self) -> None:
        est = self.mse.established
        if est is not None and self.stream is None:
            if est.skey != self.run.session.infohash:
                raise DecodeError("MSE: the initiator asked for another infohash than the run's")
            self.stream, self._pending = est.stream, est.initial_payload + est.received

    def received(self, data: bytes, now_us: int) -> bytes:
        """Wire bytes from the peer; returns wire bytes to send (responder replies before the handshake).

        Raises:
            DecodeError: invalid MSE handshake bytes (live, the listener refuses such connections first).
        """
        self.wire_in += len(data)
        if self.stream is not None:
            return self._sent(self.stream.encrypt(self.run.received(self.stream.decrypt(data), now_us)))
        out = self.mse.receive(data)
        self._took_established()
        return self._sent(out)

    def accepted(self, now_us: int) -> bytes:
        """The swarm is known: the run starts (BEP 3: we answer the peer's handshake)."""
        return self._sent(self._encrypt(self.run.accepted(now_us)))

    def payload(self, now_us: int) -> bytes:
        """Feed the run the decrypted bytes that came with the handshake (IA and after)."""
        data, self._pending = self._pending, b""
        return self._sent(self._encrypt(self.run.received(data, now_us))) if data else b""

    def timer(self, now_us: int) -> bytes:
        """The run's deadline passed."""
        return self._sent(self._encrypt(self.run.timer(now_us)))

    def closed(self, now_us: int, detail: str = "connection closed") -> None:
        """The peer closed."""
        self.run.closed(now_us, detail)

    def _encrypt(self, data: bytes) -> bytes:
        return self.stream.encrypt(data) if self.stream is not None and data else data
