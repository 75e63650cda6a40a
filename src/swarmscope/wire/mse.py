"""Message Stream Encryption (MSE, a.k.a. Protocol Encryption, PE) handshakes as sans-IO state machines.

There is no BEP for MSE; the de-facto specification is the Vuze (Azureus) wiki page "Message Stream
Encryption". The handshake, A = initiator (outgoing), B = responder (incoming)::

    1 A->B: Ya, PadA
    2 B->A: Yb, PadB
    3 A->B: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
            ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
    4 B->A: ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload stream)
    5 A->B: ENCRYPT2(payload stream)

Y = 2^X mod P (768-bit prime, 96 bytes big-endian); S = the Diffie-Hellman secret (96 bytes); SKEY = the
infohash; HASH = SHA-1; ENCRYPT = RC4-drop1024 keyed HASH('keyA', S, SKEY) for A->B and HASH('keyB', S, SKEY)
for B->A; VC = 8 zero bytes; ENCRYPT2 = the selected method (RC4 continues the same keystreams, plaintext
stops encrypting). PadA/PadB are 0-512 bytes, so B resynchronises on HASH('req1', S) and A on ENCRYPT(VC)
(interop-quirks MSE-01: pads arrive in the same segment as Y). Randomness (private keys, pad bytes) is passed
in by the caller: nothing here draws random numbers.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from swarmscope.errors import DecodeError, ProtocolStateError
from swarmscope.wire import mse_cipher as mc
from swarmscope.wire.mse_cipher import CRYPTO_METHODS, CRYPTO_PLAINTEXT, CRYPTO_RC4, MAX_PAD, VC
from swarmscope.wire.rc4 import Rc4

PLAIN_HANDSHAKE_PREFIX = b"\x13BitTorrent protocol"  # BEP 3: how an unencrypted connection starts


class IncomingKind(enum.Enum):
    """What an inbound connection's first bytes are."""

    PLAINTEXT = "plaintext"  # a BEP 3 handshake
    ENCRYPTED = "encrypted"  # anything else: treat as MSE Ya
    UNDECIDED = "undecided"  # too few bytes to tell


def classify_incoming(prefix: bytes) -> IncomingKind:
    """Tell a plaintext BitTorrent handshake from an MSE one by the first (up to 20) bytes received.

    Args:
        prefix: the bytes received so far on an inbound connection.

    Returns:
        PLAINTEXT when they start with ``\\x13BitTorrent protocol``, UNDECIDED while they are a shorter
        prefix of it (or empty), ENCRYPTED otherwise.

    Source: Vuze wiki MSE ("B … waits for either a plain handshake or Ya"); BEP 3 handshake.
    """
    head = prefix[: len(PLAIN_HANDSHAKE_PREFIX)]
    if not PLAIN_HANDSHAKE_PREFIX.startswith(head):
        return IncomingKind.ENCRYPTED
    return IncomingKind.PLAINTEXT if len(head) == len(PLAIN_HANDSHAKE_PREFIX) else IncomingKind.UNDECIDED


@dataclass(frozen=True, slots=True)
class MseEstablished:
    """The MSE handshake finished.

    Args:
        skey: the infohash the connection is for (20 bytes; the responder found it among its candidates).
        method: the selected method, CRYPTO_RC4 or CRYPTO_PLAINTEXT.
        initial_payload: IA sent by the initiator (decrypted; responder side), ``b""`` on the initiator side.
        received: payload-stream bytes that arrived with the handshake's end, already decrypted; on the
            responder they follow IA.
        stream: encrypts/decrypts the rest of the connection.
    """

    skey: bytes
    method: int
    initial_payload: bytes
    received: bytes
    stream: mc.MseStream

    @property
    def encrypted(self) -> bool:
        """True when the payload stream is RC4-encrypted."""
        return self.method == CRYPTO_RC4


def _check_config(pad: bytes, pad_len: int, methods: int) -> None:
    if len(pad) > MAX_PAD or not 0 <= pad_len <= MAX_PAD:
        raise ProtocolStateError(f"MSE pads are 0-{MAX_PAD} bytes")
    if not methods & CRYPTO_METHODS or methods & ~CRYPTO_METHODS:
        raise ProtocolStateError(f"MSE crypto methods: 0x{methods:x} is not a non-empty subset of 0x03")


class _Machine:
    """Shared buffer handling of both sides: ``_step`` consumes what it can, returns (progress, bytes out)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.established: MseEstablished | None = None

    @property
    def done(self) -> bool:
        """True once :attr:`established` is set; then use its ``stream`` for the rest of the connection."""
        return self.established is not None

    def receive(self, data: bytes) -> bytes:
        """Bytes arrived from the peer (any split); returns bytes to send (possibly empty).

        Raises:
            DecodeError: the peer's bytes are not a valid MSE handshake for us.
            ProtocolStateError: called after the handshake finished (use ``established.stream``).
        """
        if self.done:
            raise ProtocolStateError("MSE handshake already finished: decrypt through established.stream")
        self._buf += data
        out = bytearray()
        while not self.done:
            progress, sent = self._step()
            out += sent
            if not progress:
                break
        return bytes(out)

    def _step(self) -> tuple[bool, bytes]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _take(self, n: int) -> bytes | None:
        if len(self._buf) < n:
            return None
        head = bytes(self._buf[:n])
        del self._buf[:n]
        return head

    def _sync(self, marker: bytes, limit: int, what: str) -> bool:
        """Drop bytes up to and including ``marker`` if it starts within ``limit`` bytes (MSE-01)."""
        idx = self._buf.find(marker, 0, limit + len(marker))
        if idx < 0:
            if len(self._buf) >= limit + len(marker):
                raise DecodeError(f"MSE {what}: synchronisation marker not found within {limit} pad bytes")
            return False
        del self._buf[: idx + len(marker)]
        return True

    def _finish(self, skey: bytes, method: int, ia: bytes, stream: mc.MseStream) -> None:
        rest = bytes(self._buf)
        self._buf.clear()
        self.established = MseEstablished(skey, method, ia, stream.decrypt(rest), stream)


class _Initiator(enum.Enum):
    NEW = 0
    WAIT_YB = 1
    SYNC_VC = 2
    WAIT_SELECT = 3
    WAIT_PAD_D = 4


class MseInitiator(_Machine):
    """Outgoing MSE handshake (side A): call :meth:`start`, then feed :meth:`receive` until :attr:`done`.

    Args:
        skey: the infohash we connect for (20 wire bytes). private_key: Xa, 16-96 random bytes.
        pad_a: PadA, 0-512 random bytes sent after Ya. initial_payload: IA, sent encrypted in step 3
            (normally our BEP 3 handshake; at most 65535 bytes). crypto_provide: methods we offer
            (CRYPTO_RC4 and/or CRYPTO_PLAINTEXT). pad_c_len: length of PadC (zero bytes, sent encrypted).

    Raises:
        ProtocolStateError: invalid arguments (our misuse).

    Source: Vuze wiki "Message Stream Encryption", steps 1, 3 and 5; interop-quirks MSE-01 (PadB + VC).
    """

    def __init__(
        self,
        *,
        skey: bytes,
        private_key: bytes,
        pad_a: bytes = b"",
        initial_payload: bytes = b"",
        crypto_provide: int = CRYPTO_METHODS,
        pad_c_len: int = 0,
    ) -> None:
        super().__init__()
        _check_config(pad_a, pad_c_len, crypto_provide)
        if len(initial_payload) > 0xFFFF:
            raise ProtocolStateError("MSE IA: at most 65535 bytes")
        self.skey, self.provide = skey, crypto_provide
        self._x, self._pad_a, self._pad_c_len, self._ia = private_key, pad_a, pad_c_len, initial_payload
        self._ya = mc.public_key(private_key)
        self._state = _Initiator.NEW
        self._pad_d_len = self._select = 0
        self._send: Rc4 | None = None
        self._recv: Rc4 | None = None
        self._vc_marker = b""

    def start(self) -> bytes:
        """The connection is up: returns Ya + PadA to send (step 1)."""
        if self._state is not _Initiator.NEW:
            raise ProtocolStateError("MSE initiator already started")
        self._state = _Initiator.WAIT_YB
        return self._ya + self._pad_a

    def _step(self) -> tuple[bool, bytes]:
        state = self._state
        if state is _Initiator.NEW:
            raise ProtocolStateError("MSE initiator: start() before receive()")
        if state is _Initiator.WAIT_YB:
            return self._on_yb()
        if state is _Initiator.SYNC_VC:
            if not self._sync(self._vc_marker, MAX_PAD, "PadB/ENCRYPT(VC)"):
                return False, b""
            self._state = _Initiator.WAIT_SELECT
            return True, b""
        if state is _Initiator.WAIT_SELECT:
            return self._on_select(), b""
        return self._on_pad_d(), b""

    def _on_yb(self) -> tuple[bool, bytes]:
        yb = self._take(mc.KEY_LEN)
        if yb is None:
            return False, b""
        secret = mc.shared_secret(self._x, yb, "Yb")
        key_a, key_b = mc.stream_keys(secret, self.skey)
        self._send, self._recv = Rc4(key_a), Rc4(key_b)
        self._vc_marker = self._recv.process(VC)  # ENCRYPT(VC) from B: our receive keystream is now past it
        head = (
            VC + self.provide.to_bytes(4, "big") + self._pad_c_len.to_bytes(2, "big") + bytes(self._pad_c_len)
        )
        head += len(self._ia).to_bytes(2, "big")
        out = mc.req1_hash(secret) + mc.skey_hash(self.skey, secret) + self._send.process(head + self._ia)
        self._state = _Initiator.SYNC_VC
        return True, out

    def _on_select(self) -> bool:
        raw = self._take(6)
        if raw is None or self._recv is None:
            return False
        plain = self._recv.process(raw)
        select, pad_d_len = int.from_bytes(plain[:4], "big"), int.from_bytes(plain[4:], "big")
        if select not in (CRYPTO_RC4, CRYPTO_PLAINTEXT) or not select & self.provide:
            raise DecodeError(
                f"MSE crypto_select: 0x{select:08x} is not one method we provided (0x{self.provide:x})"
            )
        if pad_d_len > MAX_PAD:
            raise DecodeError(f"MSE len(PadD): {pad_d_len} > {MAX_PAD}")
        self._select, self._pad_d_len = select, pad_d_len
        self._state = _Initiator.WAIT_PAD_D
        return True

    def _on_pad_d(self) -> bool:
        pad = self._take(self._pad_d_len)
        if pad is None or self._recv is None or self._send is None:
            return False
        self._recv.process(pad)
        self._finish(self.skey, self._select, b"", mc.MseStream(self._select, self._send, self._recv))
        return True


class _Responder(enum.Enum):
    WAIT_YA = 0
    SYNC_REQ1 = 1
    WAIT_SKEY = 2
    WAIT_PROVIDE = 3
    WAIT_PAD_C = 4
    WAIT_IA = 5


class MseResponder(_Machine):
    """Incoming MSE handshake (side B): feed :meth:`receive` from the first byte until :attr:`done`.

    Args:
        skeys: infohashes (20 wire bytes each) of the swarms we accept, or a shared
            :class:`~swarmscope.wire.mse_cipher.SkeyIndex` of them; the initiator's choice is found by
            HASH('req2', SKEY) xor HASH('req3', S). private_key: Xb, 16-96 random bytes. pad_b: PadB,
            0-512 random bytes sent after Yb. crypto_allowed: methods we accept. prefer: the method chosen
            when the initiator offers both. pad_d_len: length of PadD (zero bytes, sent encrypted).

    Raises:
        ProtocolStateError: invalid arguments (our misuse).

    Source: Vuze wiki "Message Stream Encryption", steps 2 and 4; interop-quirks MSE-01 (PadA + req1).
    """

    def __init__(
        self,
        *,
        skeys: Iterable[bytes] | mc.SkeyIndex,
        private_key: bytes,
        pad_b: bytes = b"",
        crypto_allowed: int = CRYPTO_METHODS,
        prefer: int = CRYPTO_RC4,
        pad_d_len: int = 0,
    ) -> None:
        super().__init__()
        _check_config(pad_b, pad_d_len, crypto_allowed)
        self._index = skeys if isinstance(skeys, mc.SkeyIndex) else mc.SkeyIndex(skeys)
        self.allowed, self.prefer = crypto_allowed, prefer
        self._x, self._pad_b, self._pad_d_len = private_key, pad_b, pad_d_len
        self._yb = mc.public_key(private_key)
        self._state = _Responder.WAIT_YA
        self._secret = self._req1 = self.skey = b""
        self._provide = self._pad_c_len = self._ia_len = 0
        self._send: Rc4 | None = None
        self._recv: Rc4 | None = None

    def _step(self) -> tuple[bool, bytes]:
        state = self._state
        if state is _Responder.WAIT_YA:
            return self._on_ya()
        if state is _Responder.SYNC_REQ1:
            if not self._sync(self._req1, MAX_PAD, "PadA/HASH('req1', S)"):
                return False, b""
            self._state = _Responder.WAIT_SKEY
            return True, b""
        if state is _Responder.WAIT_SKEY:
            return self._on_skey(), b""
        if state is _Responder.WAIT_PROVIDE:
            return self._on_provide(), b""
        if state is _Responder.WAIT_PAD_C:
            return self._on_pad_c(), b""
        return self._on_ia()

    def _on_ya(self) -> tuple[bool, bytes]:
        ya = self._take(mc.KEY_LEN)
        if ya is None:
            return False, b""
        self._secret = mc.shared_secret(self._x, ya, "Ya")
        self._req1 = mc.req1_hash(self._secret)
        self._state = _Responder.SYNC_REQ1
        return True, self._yb + self._pad_b

    def _on_skey(self) -> bool:
        hidden = self._take(mc.HASH_LEN)
        if hidden is None:
            return False
        skey = self._index.find(mc.xor_bytes(hidden, mc.req3_hash(self._secret)))
        if skey is None:
            raise DecodeError("MSE HASH('req2', SKEY): the initiator wants an infohash we do not serve")
        key_a, key_b = mc.stream_keys(self._secret, skey)
        self.skey, self._recv, self._send = skey, Rc4(key_a), Rc4(key_b)
        self._state = _Responder.WAIT_PROVIDE
        return True

    def _on_provide(self) -> bool:
        raw = self._take(len(VC) + 6)
        if raw is None or self._recv is None:
            return False
        plain = self._recv.process(raw)
        if plain[:8] != VC:
            raise DecodeError("MSE VC: not 8 zero bytes after decryption")
        self._provide = int.from_bytes(plain[8:12], "big")
        self._pad_c_len = int.from_bytes(plain[12:14], "big")
        if self._pad_c_len > MAX_PAD:
            raise DecodeError(f"MSE len(PadC): {self._pad_c_len} > {MAX_PAD}")
        self._state = _Responder.WAIT_PAD_C
        return True

    def _on_pad_c(self) -> bool:
        raw = self._take(self._pad_c_len + 2)
        if raw is None or self._recv is None:
            return False
        self._ia_len = int.from_bytes(self._recv.process(raw)[-2:], "big")
        self._state = _Responder.WAIT_IA
        return True

    def _on_ia(self) -> tuple[bool, bytes]:
        raw = self._take(self._ia_len)
        if raw is None or self._recv is None or self._send is None:
            return False, b""
        ia = self._recv.process(raw)
        select = self._choose()
        tail = VC + select.to_bytes(4, "big") + self._pad_d_len.to_bytes(2, "big") + bytes(self._pad_d_len)
        out = self._send.process(tail)
        self._finish(self.skey, select, ia, mc.MseStream(select, self._send, self._recv))
        return True, out

    def _choose(self) -> int:
        common = self._provide & self.allowed
        if not common:
            raise DecodeError(
                f"MSE crypto_provide: 0x{self._provide:08x} offers no method we allow (0x{self.allowed:x})"
            )
        return (
            self.prefer if common & self.prefer else (CRYPTO_RC4 if common & CRYPTO_RC4 else CRYPTO_PLAINTEXT)
        )
