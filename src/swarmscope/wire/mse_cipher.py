"""Message Stream Encryption cryptography: Diffie-Hellman, key derivation, hashes and the keyed stream.

Y = 2^X mod P on a 768-bit prime; S = the shared secret; SKEY = the infohash; HASH = SHA-1; RC4-drop1024 keyed
HASH('keyA', S, SKEY) encrypts A->B (initiator to responder) and HASH('keyB', S, SKEY) B->A. The handshake
state machines using these are in :mod:`swarmscope.wire.mse`.

Source: Vuze (Azureus) wiki "Message Stream Encryption" ("DH exchange", "ENCRYPT()", handshake step 3).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from swarmscope.errors import DecodeError, ProtocolStateError
from swarmscope.wire.rc4 import Rc4

DH_PRIME = int(  # MSE: 768-bit safe prime (RFC 2409 Oakley group 1)
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563",
    16,
)
DH_GENERATOR = 2  # MSE
KEY_LEN = 96  # MSE: bytes of Ya, Yb and S (big-endian, zero-padded)
HASH_LEN = 20  # MSE: HASH is SHA-1
VC = bytes(8)  # MSE: verification constant
MAX_PAD = 512  # MSE: PadA/PadB/PadC/PadD are at most 512 bytes
CRYPTO_PLAINTEXT = 0x01  # MSE crypto_provide / crypto_select bit
CRYPTO_RC4 = 0x02  # MSE crypto_provide / crypto_select bit
CRYPTO_METHODS = CRYPTO_PLAINTEXT | CRYPTO_RC4
PRIVATE_KEY_SIZES = range(16, KEY_LEN + 1)  # bytes; MSE: at least 128 bits, 160 are plenty


def _hash(*parts: bytes) -> bytes:
    return hashlib.sha1(b"".join(parts)).digest()


def _private_int(private_key: bytes) -> int:
    value = int.from_bytes(private_key, "big")
    if len(private_key) not in PRIVATE_KEY_SIZES or not 1 < value < DH_PRIME - 1:
        raise ProtocolStateError(f"MSE private key: need 16-96 random bytes, got {len(private_key)}")
    return value


def public_key(private_key: bytes) -> bytes:
    """Our Diffie-Hellman public key Y = 2^X mod P for private key X.

    Args:
        private_key: X as 16-96 big-endian random bytes (160 bits recommended), drawn by the caller.

    Returns:
        Y as 96 big-endian bytes (Ya or Yb).

    Raises:
        ProtocolStateError: a private key of the wrong size or value (our misuse).

    Source: Vuze wiki "Message Stream Encryption", "DH exchange".
    """
    return pow(DH_GENERATOR, _private_int(private_key), DH_PRIME).to_bytes(KEY_LEN, "big")


def shared_secret(private_key: bytes, remote_public: bytes, field: str = "Y") -> bytes:
    """The Diffie-Hellman secret S = Y_remote^X mod P.

    Args:
        private_key: our X (16-96 bytes). remote_public: the peer's Y, 96 bytes. field: its name in errors.

    Returns:
        S as 96 big-endian bytes.

    Raises:
        DecodeError: the peer's Y is not 96 bytes or is a degenerate value (0, 1, P-1 or ≥ P).
        ProtocolStateError: a bad private key (our misuse).

    Source: Vuze wiki "Message Stream Encryption", "DH exchange".
    """
    y = int.from_bytes(remote_public, "big")
    if len(remote_public) != KEY_LEN:
        raise DecodeError(f"MSE {field}: expected {KEY_LEN} bytes, got {len(remote_public)}")
    if not 1 < y < DH_PRIME - 1:
        raise DecodeError(f"MSE {field}: degenerate Diffie-Hellman public key")
    return pow(y, _private_int(private_key), DH_PRIME).to_bytes(KEY_LEN, "big")


def stream_keys(secret: bytes, skey: bytes) -> tuple[bytes, bytes]:
    """RC4 keys of both directions: keyA = HASH('keyA', S, SKEY) for A->B, keyB = HASH('keyB', S, SKEY).

    Args:
        secret: S (96 bytes). skey: the infohash as sent on the wire (20 bytes).

    Returns:
        (keyA, keyB), 20 bytes each.

    Source: Vuze wiki "Message Stream Encryption", "ENCRYPT()".
    """
    return _hash(b"keyA", secret, skey), _hash(b"keyB", secret, skey)


def req1_hash(secret: bytes) -> bytes:
    """HASH('req1', S): the marker B scans for after PadA (20 bytes). Source: Vuze wiki MSE, step 3."""
    return _hash(b"req1", secret)


def req2_hash(skey: bytes) -> bytes:
    """HASH('req2', SKEY), precomputable per swarm (20 bytes). Source: Vuze wiki MSE, step 3."""
    return _hash(b"req2", skey)


def req3_hash(secret: bytes) -> bytes:
    """HASH('req3', S), the mask over HASH('req2', SKEY) (20 bytes). Source: Vuze wiki MSE, step 3."""
    return _hash(b"req3", secret)


def xor_bytes(a: bytes, b: bytes) -> bytes:
    """Bytewise XOR of two equal-length byte strings."""
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def skey_hash(skey: bytes, secret: bytes) -> bytes:
    """HASH('req2', SKEY) xor HASH('req3', S): which swarm A wants, hidden (20 bytes). Source: MSE step 3."""
    return xor_bytes(req2_hash(skey), req3_hash(secret))


class MseStream:
    """The connection after the handshake: encrypts what we send and decrypts what we receive.

    With RC4 selected both directions continue the handshake's keystreams; with plaintext selected both
    directions pass bytes through unchanged.

    Args:
        method: CRYPTO_RC4 or CRYPTO_PLAINTEXT. send, receive: the RC4 states of our outgoing / incoming
            direction (used only when ``method`` is RC4).
    """

    __slots__ = ("_receive", "_send", "method")

    def __init__(self, method: int, send: Rc4, receive: Rc4) -> None:
        self.method = method
        self._send, self._receive = send, receive

    @property
    def encrypted(self) -> bool:
        """True when RC4 was selected (the payload stream is encrypted)."""
        return self.method == CRYPTO_RC4

    def encrypt(self, data: bytes) -> bytes:
        """Bytes we are about to send, as they go on the wire."""
        return self._send.process(data) if self.encrypted else data

    def decrypt(self, data: bytes) -> bytes:
        """Bytes read from the wire, as the peer meant them."""
        return self._receive.process(data) if self.encrypted else data


class SkeyIndex:
    """The infohashes (SKEYs) a responder serves, indexed by HASH('req2', SKEY); build once, share, update.

    Args:
        skeys: 20-byte wire infohashes.

    Source: Vuze wiki "Message Stream Encryption", step 3 (B finds SKEY from HASH('req2', SKEY)).
    """

    __slots__ = ("_by_req2",)

    def __init__(self, skeys: Iterable[bytes] = ()) -> None:
        self._by_req2 = {req2_hash(skey): skey for skey in skeys}

    def __len__(self) -> int:
        return len(self._by_req2)

    def add(self, skey: bytes) -> None:
        """Start accepting connections for ``skey``."""
        self._by_req2[req2_hash(skey)] = skey

    def discard(self, skey: bytes) -> None:
        """Stop accepting connections for ``skey`` (no error when absent)."""
        self._by_req2.pop(req2_hash(skey), None)

    def find(self, req2: bytes) -> bytes | None:
        """The SKEY whose HASH('req2', SKEY) is ``req2``, or None."""
        return self._by_req2.get(req2)
