"""Sealed batches: canonical batch bytes, Ed25519 seal and verify, key (de)serialisation, tampering."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.evidence.chain import ChainEntry, append, verify_chain
from swarmscope.evidence.seal import (
    Batch,
    SealedBatch,
    batch_bytes,
    batch_from_bytes,
    key_fingerprint,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
    public_key_raw,
    seal_batch,
    sealed_bytes,
    sealed_from_bytes,
    verify_seal,
)

# RFC 8032 section 7.1, TEST 1: secret key and public key.
RFC_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC_SIG_EMPTY = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
KEY = Ed25519PrivateKey.from_private_bytes(RFC_SECRET)
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
CLOCK = {
    "server": "127.0.0.1",
    "offset_us": -1234,
    "delay_us": 310,
    "stratum": 2,
    "synced": True,
    "dispersion": 0.25,
}
BATCH = Batch(
    first_index=0, last_index=4, head_hash=bytes(range(32)), sealed_at_us=1_796_000_000_000_000, clock=CLOCK
)
SMALL = Batch(first_index=1, last_index=2, head_hash=b"\x11" * 32, sealed_at_us=7)
SMALL_GOLDEN = (
    b"d5:clockl1:ne11:first_indexi1e6:format16:swarmscope-batch9:head_hash32:"
    + b"\x11" * 32
    + b"10:last_indexi2e12:sealed_at_usi7e7:versioni1ee"
)


def test_key_helpers_match_rfc_8032() -> None:
    assert public_key_raw(KEY) == RFC_PUBLIC
    assert KEY.sign(b"") == RFC_SIG_EMPTY  # the library signs as the RFC says: deterministic
    pem = public_key_pem(KEY)
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert load_public_key(pem).public_bytes_raw() == RFC_PUBLIC
    assert load_public_key(RFC_PUBLIC).public_bytes_raw() == RFC_PUBLIC
    assert key_fingerprint(RFC_PUBLIC) == key_fingerprint(load_public_key(pem).public_bytes_raw())
    assert len(key_fingerprint(RFC_PUBLIC)) == 64


def test_private_key_pem_round_trip() -> None:
    assert public_key_raw(load_private_key(private_key_pem(KEY))) == RFC_PUBLIC
    assert private_key_pem(KEY) == private_key_pem(KEY)
    encryption = serialization.BestAvailableEncryption(b"hunter2")  # what the key-file writer may do
    locked = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    assert b"ENCRYPTED" in locked
    assert public_key_raw(load_private_key(locked, password=b"hunter2")) == RFC_PUBLIC
    with pytest.raises(DecodeError):
        load_private_key(locked, password=b"wrong")
    with pytest.raises(DecodeError):
        load_private_key(locked)


def test_bad_keys_raise_decode_error() -> None:
    ed448 = Ed448PrivateKey.from_private_bytes(bytes(57))
    ed448_pem = ed448.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ed448_pub = ed448.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for bad in (b"", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", ed448_pem):
        with pytest.raises(DecodeError):
            load_private_key(bad)
    for bad in (b"", b"\x00" * 31, b"\x00" * 33, b"not a pem", ed448_pub, public_key_pem(KEY)[:-30]):
        with pytest.raises(DecodeError):
            load_public_key(bad)


def test_batch_golden_vector_and_round_trip() -> None:
    assert batch_bytes(SMALL) == SMALL_GOLDEN
    assert batch_from_bytes(SMALL_GOLDEN) == SMALL
    data = batch_bytes(BATCH)
    assert b"5:clockl1:dd8:delay_usl1:ii310ee10:dispersionl1:f4:0.25e" in data
    assert batch_from_bytes(data) == BATCH


def test_batch_every_truncation_and_trailing_bytes() -> None:
    data = batch_bytes(BATCH)
    for end in range(len(data)):
        with pytest.raises(DecodeError):
            batch_from_bytes(data[:end])
    with pytest.raises(DecodeError):
        batch_from_bytes(data + b"e")


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (b"7:versioni1e", b"7:versioni2e", "version"),
        (b"16:swarmscope-batch", b"16:swarmscope-batcH", "format"),
        (b"11:first_indexi1e", b"11:first_indexi3e", "first_index"),
        (b"11:first_indexi1e", b"11:first_index1:1", "first_index"),
        (b"9:head_hash32:" + b"\x11" * 32, b"9:head_hashi0e", "head_hash"),
        (b"9:head_hash32:" + b"\x11" * 32, b"9:head_hash31:" + b"\x11" * 31, "head_hash"),
        (b"5:clockl1:ne", b"5:clockl1:s1:xe", "clock"),
        (b"5:clockl1:ne", b"5:clockl1:dd1:al1:lleeee", "clock"),
    ],
)
def test_batch_malformed_table(old: bytes, new: bytes, reason: str) -> None:
    assert old in SMALL_GOLDEN
    with pytest.raises(DecodeError, match=reason):
        batch_from_bytes(SMALL_GOLDEN.replace(old, new, 1))


def test_batch_encoder_misuse() -> None:
    with pytest.raises(ValueError):
        batch_bytes(dataclasses.replace(SMALL, first_index=3))
    with pytest.raises(ValueError):
        batch_bytes(dataclasses.replace(SMALL, head_hash=b"\x11" * 31))
    with pytest.raises(ValueError):
        batch_bytes(dataclasses.replace(SMALL, last_index=2**64))
    with pytest.raises(ValueError):
        batch_bytes(dataclasses.replace(SMALL, sealed_at_us=2**63))
    with pytest.raises(TypeError):
        batch_bytes(dataclasses.replace(SMALL, clock={"nested": (1, 2)}))


def test_seal_and_verify() -> None:
    sealed = seal_batch(BATCH, KEY)
    assert sealed.public_key_bytes == RFC_PUBLIC and len(sealed.signature) == 64
    assert seal_batch(BATCH, KEY) == sealed  # Ed25519 is deterministic: same batch, same signature
    assert verify_seal(sealed, RFC_PUBLIC)
    assert verify_seal(sealed, public_key_pem(KEY))
    assert sealed_from_bytes(sealed_bytes(sealed)) == sealed


def test_wrong_key_fails() -> None:
    sealed = seal_batch(BATCH, KEY)
    other = public_key_raw(OTHER_KEY)
    assert not verify_seal(sealed, other)
    assert not verify_seal(sealed, b"garbage")
    # a forger who re-signs with their own key and names it is still not the trusted node
    forged = seal_batch(BATCH, OTHER_KEY)
    assert verify_seal(forged, other)
    assert not verify_seal(forged, RFC_PUBLIC)
    relabelled = SealedBatch(BATCH, forged.signature, RFC_PUBLIC)
    assert not verify_seal(relabelled, RFC_PUBLIC)


def test_altered_batch_fails() -> None:
    sealed = seal_batch(BATCH, KEY)
    for change in (
        {"last_index": 5},
        {"first_index": 1},
        {"head_hash": bytes(32)},
        {"sealed_at_us": BATCH.sealed_at_us + 1},
        {"clock": None},
        {"clock": {**CLOCK, "offset_us": -1233}},
        {"last_index": 2**64},  # out of range: verify says False, never raises
    ):
        batch = dataclasses.replace(BATCH, **change)
        altered = SealedBatch(batch, sealed.signature, sealed.public_key_bytes)
        assert not verify_seal(altered, RFC_PUBLIC), change


def test_every_signature_byte_flip_fails() -> None:
    sealed = seal_batch(SMALL, KEY)
    for pos in range(64):
        for mask in (0x01, 0x80):
            signature = bytearray(sealed.signature)
            signature[pos] ^= mask
            assert not verify_seal(dataclasses.replace(sealed, signature=bytes(signature)), RFC_PUBLIC)
    assert not verify_seal(dataclasses.replace(sealed, signature=sealed.signature[:63]), RFC_PUBLIC)


def test_every_byte_flip_in_stored_sealed_batch_is_detected() -> None:
    data = sealed_bytes(seal_batch(BATCH, KEY))
    for pos in range(len(data)):
        flipped = bytearray(data)
        flipped[pos] ^= 0x01
        try:
            sealed = sealed_from_bytes(bytes(flipped))
        except DecodeError:
            continue
        assert not verify_seal(sealed, RFC_PUBLIC), f"flip at byte {pos} went unnoticed"


def test_sealed_every_truncation_rejected() -> None:
    data = sealed_bytes(seal_batch(SMALL, KEY))
    for end in range(len(data)):
        with pytest.raises(DecodeError):
            sealed_from_bytes(data[:end])
    with pytest.raises(DecodeError):
        sealed_from_bytes(data + b"0:")


def test_seal_covers_the_chain_head() -> None:
    entries: list[ChainEntry] = []
    canonicals = [b"record %d" % k for k in range(6)]
    for canonical in canonicals:
        entries.append(append(entries[-1] if entries else None, canonical))
    sealed = seal_batch(Batch(0, 5, entries[-1].entry_hash, 99), KEY)
    assert verify_seal(sealed, RFC_PUBLIC)
    head = (sealed.batch.last_index, sealed.batch.head_hash)
    assert verify_chain(entries, canonicals, head=head).ok
    assert not verify_chain(entries[:5], canonicals[:5], head=head).ok


@given(st.binary(max_size=300))
def test_batch_from_bytes_decodes_or_raises_decode_error_only(data: bytes) -> None:
    try:
        batch = batch_from_bytes(data)
    except DecodeError:
        return
    assert batch_bytes(batch) == data


@given(st.binary(max_size=300))
def test_sealed_from_bytes_decodes_or_raises_decode_error_only(data: bytes) -> None:
    try:
        sealed = sealed_from_bytes(data)
    except DecodeError:
        return
    assert sealed_bytes(sealed) == data


@given(st.binary(max_size=120))
def test_load_public_key_decodes_or_raises_decode_error_only(data: bytes) -> None:
    try:
        load_public_key(data)
    except DecodeError:
        return


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary()


@given(
    st.integers(min_value=0, max_value=2**64 - 1),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.binary(min_size=32, max_size=32),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.none() | st.dictionaries(st.text(max_size=10), scalars, max_size=5),
)
def test_batch_round_trip_property(
    a: int, b: int, head: bytes, at: int, clock: dict[str, object] | None
) -> None:
    batch = Batch(min(a, b), max(a, b), head, at, clock)
    assert batch_from_bytes(batch_bytes(batch)) == batch
    sealed = seal_batch(batch, KEY)
    assert verify_seal(sealed_from_bytes(sealed_bytes(sealed)), RFC_PUBLIC)
