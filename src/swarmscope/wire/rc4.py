"""RC4 keystream with the first bytes discarded, as Message Stream Encryption uses it.

RC4 itself comes from the ``cryptography`` library (OpenSSL), where it lives among the "decrepit" ciphers
(``cryptography.hazmat.decrepit.ciphers.algorithms.ARC4`` since cryptography 43; older releases kept it in
``cryptography.hazmat.primitives.ciphers.algorithms``). RC4 is weak; MSE uses it as obfuscation only.

Source: Vuze wiki "Message Stream Encryption" ("ENCRYPT() is RC4 … Discard the first 1024 bytes of the RC4
output"); RC4 test vectors: RFC 6229.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext

try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
except ImportError:  # pragma: no cover - cryptography < 43
    from cryptography.hazmat.primitives.ciphers.algorithms import ARC4  # type: ignore[no-redef,unused-ignore]

from swarmscope.errors import ProtocolStateError

MSE_DISCARD = 1024  # MSE: RC4 output bytes thrown away before the first use
KEY_SIZES = frozenset({5, 7, 8, 10, 16, 20, 24, 32})  # bytes: the RC4 key sizes OpenSSL accepts


class Rc4:
    """One direction of an RC4 stream: each call continues the keystream where the last one stopped.

    Encryption and decryption are the same operation (XOR with the keystream).

    Args:
        key: 5–32 bytes (MSE uses 20: a SHA-1 digest). discard: keystream bytes dropped before use
            (1024 for MSE; 0 for plain RC4 as in RFC 6229).

    Raises:
        ProtocolStateError: a key size OpenSSL's RC4 does not accept, or a negative discard (our misuse).

    Source: Vuze wiki "Message Stream Encryption" (RC4-drop1024).
    """

    __slots__ = ("_ctx",)

    def __init__(self, key: bytes, *, discard: int = MSE_DISCARD) -> None:
        if len(key) not in KEY_SIZES:
            raise ProtocolStateError(f"RC4 key: {len(key)} bytes, expected one of {sorted(KEY_SIZES)}")
        if discard < 0:
            raise ProtocolStateError(f"RC4 discard: {discard} < 0")
        self._ctx: CipherContext = Cipher(ARC4(key), mode=None).encryptor()
        if discard:
            self._ctx.update(bytes(discard))

    def process(self, data: bytes) -> bytes:
        """XOR ``data`` with the next ``len(data)`` keystream bytes (encrypts or decrypts).

        Args:
            data: any number of bytes.

        Returns:
            Bytes of the same length.
        """
        return self._ctx.update(data) if data else b""
