"""Sealed batches: an Ed25519 signature over a run of the hash chain, with the clock state at sealing.

A :class:`Batch` names the chain entries ``first_index..last_index`` and the ``entry_hash`` of the last
one (``head_hash``); since each entry_hash commits to all earlier entries, the signature fixes the whole
ledger up to ``last_index``. Canonical bytes of a batch (format version 1) are the bencoded dict::

    d 5:clock <tagged> 11:first_index i<N>e 6:format 16:swarmscope-batch 9:head_hash 32:<raw>
      10:last_index i<N>e 12:sealed_at_us i<N>e 7:version i1e e

(keys sorted as BEP 3 requires). ``clock`` is a tagged value as defined in
:mod:`swarmscope.evidence.canonical`: ``[n]`` when no clock measurement exists, else a ``[d, ...]`` of
tagged values (e.g. NTP ``offset_us``, ``delay_us``, ``stratum``, ``server``). The signature is Ed25519
(RFC 8032, pure, no pre-hash) over exactly these bytes; public keys are 32 raw bytes (RFC 8032 5.1.5)
or a PEM SubjectPublicKeyInfo (RFC 8410).

Key creation (random) and key files are I/O and live outside ``evidence/``: callers pass keys in.

Source: README "Sealed ledger" (batches sealed with an Ed25519 signature); RFC 8032; RFC 8410.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from swarmscope.errors import DecodeError
from swarmscope.evidence.canonical import value_to_bencode
from swarmscope.evidence.canonical_decode import value_from_bencode
from swarmscope.wire.bencode import decode, encode

BATCH_FORMAT = b"swarmscope-batch"
SEALED_FORMAT = b"swarmscope-sealed-batch"
VERSION = 1
SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 32
_CLOCK_TAGS = ("n", "d:n|o|i|f|b|s")
LATE_SEAL = "sealed_late_by_recovery"  # clock key of a batch crash recovery sealed: it vouches for nothing
NOT_EVIDENCE = "sealed late by recovery: not evidence"
# clock key of a batch sealed by a writer that keeps the chain-head witness beside its key file (signed: a
# database writer without the key cannot clear it; README "Sealed ledger", chain-head witness)
WITNESS_KEPT = "head_witness"
# A node seals its batches in chain order, so a batch sealed earlier than one before it means the evidence
# clock was set back; 2 s: NTP slews and steps of a healthy host stay far below it (RFC 5905 steps at 128 ms)
CLOCK_STEP_TOLERANCE_US = 2_000_000


@dataclass(frozen=True, slots=True)
class Batch:
    """A run of chain entries to seal.

    Args:
        first_index, last_index: chain indices covered, inclusive (first <= last).
        head_hash: entry_hash of entry ``last_index`` (32 bytes).
        sealed_at_us: UTC microseconds at sealing (from the caller's honest clock).
        clock: the clock measurement behind ``sealed_at_us`` (str keys; None, bool, int, float, str or
            bytes values), or None when none was made.
    """

    first_index: int
    last_index: int
    head_hash: bytes
    sealed_at_us: int
    clock: dict[str, Any] | None = field(default=None, hash=False)


@dataclass(frozen=True, slots=True)
class SealedBatch:
    """A batch with its signature and the signer's raw 32-byte Ed25519 public key."""

    batch: Batch
    signature: bytes
    public_key_bytes: bytes


def batch_bytes(batch: Batch) -> bytes:
    """Canonical bytes of a batch (the signed message; layout in the module docstring).

    Raises:
        ValueError: indices out of order or outside 0..2**64-1, sealed_at_us outside the signed 64-bit
            range, or head_hash not 32 bytes. TypeError: a clock
            value of an unsupported type.

    Source: README "Sealed ledger".
    """
    if not 0 <= batch.first_index <= batch.last_index < 2**64 or len(batch.head_hash) != 32:
        raise ValueError("batch: need 0 <= first_index <= last_index < 2**64 and a 32-byte head_hash")
    if not -(2**63) <= batch.sealed_at_us < 2**63:
        raise ValueError("batch: sealed_at_us out of the signed 64-bit range")
    clock = value_to_bencode(batch.clock)
    if clock[0] == b"d" and any(item[0] in (b"l", b"d", b"r") for item in clock[1].values()):
        raise TypeError("batch: clock values must be scalars")
    return encode(
        {
            b"format": BATCH_FORMAT,
            b"version": VERSION,
            b"first_index": batch.first_index,
            b"last_index": batch.last_index,
            b"head_hash": batch.head_hash,
            b"sealed_at_us": batch.sealed_at_us,
            b"clock": clock,
        }
    )


def late_seal(batch: Batch) -> str | None:
    """Why ``batch`` vouches for nothing, when crash recovery sealed it (its signed ``clock`` holds
    :data:`LATE_SEAL`: the flag is signed, so a database writer cannot clear it), else None.

    Entries found after a node's last seal are exactly what someone who can write the database file (but
    lacks the key) controls: their hashes need no key. Recovery seals them only to keep the chain tiling.

    Source: README "Crash safety".
    """
    reason = None if batch.clock is None else batch.clock.get(LATE_SEAL)
    return None if reason is None else str(reason)


def witness_kept(batch: Batch) -> bool:
    """True when ``batch``'s signed clock says its writer kept a chain-head witness (:data:`WITNESS_KEPT`).

    Source: README "Sealed ledger" (chain-head witness).
    """
    return batch.clock is not None and batch.clock.get(WITNESS_KEPT) is True


def _int_field(raw: dict[bytes, Any], key: bytes) -> int:
    """A non-bool integer field of a decoded dict."""
    value = raw[key]
    if not isinstance(value, int):
        raise DecodeError(f"batch: {key.decode()} is not an integer")
    return value


def batch_from_bytes(data: bytes) -> Batch:
    """Inverse of :func:`batch_bytes`.

    Raises:
        DecodeError: malformed, wrong format/version, a field of the wrong type, or not canonical.

    Source: README "Sealed ledger".
    """
    raw = decode(data)
    keys = {b"format", b"version", b"first_index", b"last_index", b"head_hash", b"sealed_at_us", b"clock"}
    if not isinstance(raw, dict) or set(raw) != keys:
        raise DecodeError("batch: expected a dict with exactly the batch keys")
    if raw[b"format"] != BATCH_FORMAT or raw[b"version"] != VERSION:
        raise DecodeError("batch: unknown format or version")
    head = raw[b"head_hash"]
    if not isinstance(head, bytes):
        raise DecodeError("batch: head_hash is not a byte string")
    batch = Batch(
        _int_field(raw, b"first_index"),
        _int_field(raw, b"last_index"),
        head,
        _int_field(raw, b"sealed_at_us"),
        value_from_bencode(raw[b"clock"], _CLOCK_TAGS, "batch.clock"),
    )
    try:
        canonical = batch_bytes(batch)
    except ValueError as exc:
        raise DecodeError(f"batch: {exc}") from exc
    if canonical != data:
        raise DecodeError("batch: bytes are not in canonical form")
    return batch


def public_key_raw(private_key: Ed25519PrivateKey) -> bytes:
    """The 32-byte raw public key of a private key (RFC 8032 5.1.5)."""
    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_pem(private_key: Ed25519PrivateKey) -> bytes:
    """The public key as PEM SubjectPublicKeyInfo (RFC 8410), for export bundles."""
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_key_pem(private_key: Ed25519PrivateKey) -> bytes:
    """The private key as unencrypted PKCS#8 PEM (RFC 5958, RFC 8410), deterministic.

    Encrypting the key file needs a random salt and IV, so it belongs to the caller that writes the file
    (``store/`` or the CLI), which may use ``serialization.BestAvailableEncryption``.
    """
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key(pem: bytes, password: bytes | None = None) -> Ed25519PrivateKey:
    """Load an Ed25519 private key from PKCS#8 PEM.

    Raises:
        DecodeError: not a PEM private key, wrong password, or not an Ed25519 key.

    Source: RFC 8410; RFC 5958 (PKCS#8).
    """
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise DecodeError(f"private key: cannot load PEM: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise DecodeError(f"private key: not Ed25519 but {type(key).__name__}")
    return key


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """Load an Ed25519 public key from 32 raw bytes or PEM SubjectPublicKeyInfo.

    Raises:
        DecodeError: neither form, or not an Ed25519 key.

    Source: RFC 8032 5.1.5; RFC 8410.
    """
    try:
        if len(data) == PUBLIC_KEY_SIZE:
            return Ed25519PublicKey.from_public_bytes(data)
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise DecodeError(f"public key: cannot load: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise DecodeError(f"public key: not Ed25519 but {type(key).__name__}")
    return key


def key_fingerprint(public_key_bytes: bytes) -> str:
    """Hex SHA-256 of the raw 32-byte public key (how reports name the signing node)."""
    return hashlib.sha256(public_key_bytes).hexdigest()


def seal_batch(batch: Batch, private_key: Ed25519PrivateKey) -> SealedBatch:
    """Sign a batch's canonical bytes with the node's Ed25519 key (deterministic, RFC 8032).

    Raises:
        ValueError / TypeError: see :func:`batch_bytes`.

    Source: README "Sealed ledger"; RFC 8032 5.1.6.
    """
    return SealedBatch(batch, private_key.sign(batch_bytes(batch)), public_key_raw(private_key))


def verify_seal(sealed: SealedBatch, public_key_bytes: bytes) -> bool:
    """Tell whether ``sealed`` carries a valid signature by the trusted key ``public_key_bytes``.

    Args:
        sealed: the sealed batch. public_key_bytes: the trusted key, 32 raw bytes or PEM.

    Returns:
        True only when the key loads, equals the key named in ``sealed`` and the signature verifies over
        the batch's canonical bytes; False otherwise (never raises on bad input).

    Source: README "Sealed ledger"; RFC 8032 5.1.7.
    """
    try:
        trusted = load_public_key(public_key_bytes)
        message = batch_bytes(sealed.batch)
    except (DecodeError, ValueError, TypeError):
        return False
    raw = trusted.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if raw != sealed.public_key_bytes or len(sealed.signature) != SIGNATURE_SIZE:
        return False
    try:
        trusted.verify(sealed.signature, message)
    except InvalidSignature:
        return False
    return True


def sealed_bytes(sealed: SealedBatch) -> bytes:
    """Stored form of a sealed batch: bencoded dict of batch bytes, public key and signature."""
    return encode(
        {
            b"format": SEALED_FORMAT,
            b"version": VERSION,
            b"batch": batch_bytes(sealed.batch),
            b"public_key": sealed.public_key_bytes,
            b"signature": sealed.signature,
        }
    )


def sealed_from_bytes(data: bytes) -> SealedBatch:
    """Inverse of :func:`sealed_bytes` (the signature is not checked here; use :func:`verify_seal`).

    Raises:
        DecodeError: malformed, wrong format/version, wrong sizes, or not canonical.

    Source: README "Sealed ledger".
    """
    raw = decode(data)
    if not isinstance(raw, dict) or set(raw) != {
        b"format",
        b"version",
        b"batch",
        b"public_key",
        b"signature",
    }:
        raise DecodeError("sealed batch: expected a dict with exactly the sealed-batch keys")
    if raw[b"format"] != SEALED_FORMAT or raw[b"version"] != VERSION:
        raise DecodeError("sealed batch: unknown format or version")
    parts = raw[b"batch"], raw[b"public_key"], raw[b"signature"]
    if not all(isinstance(part, bytes) for part in parts):
        raise DecodeError("sealed batch: batch, public_key and signature must be byte strings")
    if len(parts[1]) != PUBLIC_KEY_SIZE or len(parts[2]) != SIGNATURE_SIZE:
        raise DecodeError("sealed batch: public key must be 32 bytes and signature 64 bytes")
    sealed = SealedBatch(batch_from_bytes(parts[0]), parts[2], parts[1])
    if sealed_bytes(sealed) != data:
        raise DecodeError("sealed batch: bytes are not in canonical form")
    return sealed
