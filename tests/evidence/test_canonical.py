"""Canonical bytes of evidence records: exact round trips, a golden vector, strictness, tamper detection."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Any

import pytest
from bencode2 import bencode
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.evidence.canonical import as_version, canonical_bytes, record_from_canonical
from swarmscope.evidence.declarations import LATEST, SPECS
from swarmscope.evidence.records import (
    Attribution,
    BlockProof,
    ClockSample,
    ExtensionInfo,
    Failure,
    Observation,
    RunStarted,
    Sighting,
    Source,
    Tier,
)

SIGHTING = Sighting(
    infohash="ab" * 20,
    ip="192.0.2.7",
    port=6881,
    source="tracker",
    detail="udp://t.example/a",
    seen_at_us=1_700_000_000_000_000,
)
# Written out by hand from the format in the module docstring: an opposing expert's re-derivation.
SIGHTING_GOLDEN = (
    b"d6:fieldsd"
    b"6:detaill1:s17:udp://t.example/ae"
    b"8:infohashl1:s40:" + b"ab" * 20 + b"e"
    b"2:ipl1:s9:192.0.2.7e"
    b"7:peer_idl1:ne"
    b"4:portl1:ii6881ee"
    b"10:seen_at_usl1:ii1700000000000000ee"
    b"6:sourcel1:s7:trackere"
    b"e6:format19:swarmscope-evidence4:type8:sighting7:versioni1ee"
)

FULL = Observation(
    infohash="cd" * 20,
    ip="::1",
    port=51413,
    source=Source.DHT.value,
    started_us=1_796_000_000_000_007,
    ended_us=1_796_000_009_000_001,
    tier=Tier.HAS_PIECES,
    failure=Failure.HASH_MISMATCH.value,
    failure_detail="piece 3: sha1 mismatch — ünïcødé",
    remote_infohash="ee" * 20,
    peer_id=b"-TR3000-\x00\xff" + bytes(range(10)),
    reserved=b"\x00\x00\x00\x00\x00\x10\x00\x05",
    client="Transmission",
    client_version="3.00",
    extension=ExtensionInfo(m={"ut_pex": 1, "ut_metadata": 2}, v=b"Tr\xff", p=51413, yourip="127.0.0.1"),
    num_pieces=2**40,
    pieces_have=3,
    bitfield=b"\xe0\x00",
    completion=1 / 3,
    bytes_received=16384,
    wire_bytes_in=20000,
    wire_bytes_out=300,
    payload_bytes_sent=0,
    verified_pieces=(0, 2),
    failed_pieces=(1,),
    encrypted=True,
    quirks=("PW-10", "TRK-03"),
    verified_blocks=(BlockProof(piece=2, begin=16384, length=16384, sha256=bytes(range(32))),),
    failed_blocks=(BlockProof(piece=1, begin=0, length=1000, sha256=b"\xff" * 32),),
    capture_sha256=b"\xab" * 32,
)


def _v1(record: Any) -> Any:
    """The record as format version 1 holds it (the golden vectors below are version 1's: sealed bytes
    of a version never change when a later version adds a field)."""
    return as_version(SPECS[type(record)], record, 1)


def test_sighting_golden_vector() -> None:
    assert canonical_bytes(_v1(SIGHTING)) == SIGHTING_GOLDEN
    assert record_from_canonical(SIGHTING_GOLDEN) == _v1(SIGHTING)


def test_full_observation_golden_hash() -> None:
    data = canonical_bytes(_v1(FULL))
    assert hashlib.sha256(data).hexdigest() == FULL_GOLDEN_SHA256
    assert b"10:completionl1:f18:0.3333333333333333e" in data
    assert b"10:num_piecesl1:ii1099511627776ee" in data
    assert b"9:extensionl1:r14:extension_infod1:ml1:dd11:ut_metadatal1:ii2ee6:ut_pexl1:ii1eeee" in data
    assert b"15:verified_blocksl1:lll1:r11:block_proofd5:beginl1:ii16384ee6:lengthl1:ii16384ee" in data
    assert b"14:capture_sha256l1:b32:" + b"\xab" * 32 + b"e" in data
    assert record_from_canonical(data) == _v1(FULL)


CLOCK = ClockSample(
    server="127.0.0.1:11123",
    measured_at_us=1_796_000_000_000_000,
    offset_us=-1234,
    delay_us=250,
    stratum=8,
    leap=0,
)
CLOCK_FAILED = ClockSample(server="[::1]:123", measured_at_us=1, error="timeout after 2 s")
RUN = RunStarted(
    run_id=7,
    started_us=1_796_000_000_000_000,
    software_version="0.1.0",
    software_commit=None,
    settings_json='{"dht":false}',
)


ATTRIBUTION = Attribution(
    ip="127.0.1.5",
    observed_at_us=1_796_000_000_000_000,
    asn=64500,
    as_org="Test Net",
    country="DE",
    city="Köln",
    accuracy_radius_km=50,
    flags=("hosting",),
    datasets=("ab" * 32,),
)


@pytest.mark.parametrize(
    "record",
    [CLOCK, CLOCK_FAILED, RUN, ATTRIBUTION, Attribution(ip="::1", observed_at_us=0)],
    ids=["clock", "clock-failed", "run", "attribution", "attribution-empty"],
)
def test_ledger_record_types_round_trip(record: object) -> None:
    data = canonical_bytes(record)  # type: ignore[arg-type]
    assert record_from_canonical(data) == record
    kind = {ClockSample: b"12:clock_sample", RunStarted: b"11:run_started", Attribution: b"11:attribution"}[
        type(record)
    ]
    assert b"4:type" + kind in data


def test_nested_record_is_not_a_top_level_record() -> None:
    with pytest.raises(TypeError):
        canonical_bytes(FULL.verified_blocks[0])  # type: ignore[arg-type]
    forged = canonical_bytes(SIGHTING).replace(b"4:type8:sighting", b"4:type11:block_proof")
    with pytest.raises(DecodeError, match="unknown record type"):
        record_from_canonical(forged)


FULL_GOLDEN_SHA256 = "77ee140c6f93abbfca916b7b108adb023c8c939f0a0df37384695aa52468f241"


@pytest.mark.parametrize(
    ("value", "spelling"),
    [
        (1 / 3, b"0.3333333333333333"),
        (0.1, b"0.1"),
        (1.0, b"1.0"),
        (0.0, b"0.0"),
        (-0.0, b"-0.0"),
        (1e-07, b"1e-07"),
        (0.0001, b"0.0001"),
        (0.00001, b"1e-05"),
        (123.5, b"123.5"),
        (1e15, b"1000000000000000.0"),
        (1e16, b"1e+16"),
        (1.5e300, b"1.5e+300"),
        (-2.5e-10, b"-2.5e-10"),
        (1e300, b"1e+300"),
        (5e-324, b"5e-324"),
        (math.inf, b"inf"),
        (-math.inf, b"-inf"),
    ],
)
def test_float_spelling_table(value: float, spelling: bytes) -> None:
    obs = dataclasses.replace(FULL, completion=value)
    data = canonical_bytes(obs)
    assert b"10:completionl1:f%d:%se" % (len(spelling), spelling) in data
    back = record_from_canonical(data)
    assert isinstance(back, Observation)
    assert back.completion is not None
    assert back.completion == value
    assert math.copysign(1.0, back.completion) == math.copysign(1.0, value)


def test_nan_round_trips_through_bytes() -> None:
    data = canonical_bytes(dataclasses.replace(FULL, completion=math.nan))
    back = record_from_canonical(data)
    assert isinstance(back, Observation) and back.completion is not None and math.isnan(back.completion)
    assert canonical_bytes(back) == data


def test_int_completion_is_stored_as_float() -> None:
    data = canonical_bytes(dataclasses.replace(FULL, completion=1))
    assert b"10:completionl1:f3:1.0e" in data


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"peer_id": None}, {"peer_id": b""}),
        ({"failure": None}, {"failure": ""}),
        ({"bitfield": None}, {"bitfield": b""}),
        ({"extension": None}, {"extension": ExtensionInfo()}),
        ({"completion": None}, {"completion": 0.0}),
        ({"completion": 0.0}, {"completion": -0.0}),
        ({"quirks": ()}, {"quirks": ("",)}),
        ({"encrypted": False}, {"encrypted": True}),
        ({"tier": Tier.LISTED}, {"tier": Tier.CONNECTED}),
    ],
)
def test_none_empty_and_neighbours_are_distinct(a: dict[str, object], b: dict[str, object]) -> None:
    first = canonical_bytes(dataclasses.replace(FULL, **a))  # type: ignore[arg-type]
    second = canonical_bytes(dataclasses.replace(FULL, **b))  # type: ignore[arg-type]
    assert first != second
    assert record_from_canonical(first) == dataclasses.replace(FULL, **a)  # type: ignore[arg-type]


def test_extension_none_vs_empty_fields() -> None:
    empty = ExtensionInfo(m={}, v=b"", p=0, yourip="", reqq=0, metadata_size=0)
    data = canonical_bytes(dataclasses.replace(FULL, extension=empty))
    assert data != canonical_bytes(dataclasses.replace(FULL, extension=ExtensionInfo()))
    assert record_from_canonical(data) == dataclasses.replace(FULL, extension=empty)


def test_every_truncation_and_trailing_bytes_are_rejected() -> None:
    for end in range(len(SIGHTING_GOLDEN)):
        with pytest.raises(DecodeError):
            record_from_canonical(SIGHTING_GOLDEN[:end])
    with pytest.raises(DecodeError):
        record_from_canonical(SIGHTING_GOLDEN + b"e")
    with pytest.raises(DecodeError):
        record_from_canonical(SIGHTING_GOLDEN + b"0:")


def test_every_single_byte_flip_is_detected() -> None:
    for data in (SIGHTING_GOLDEN, canonical_bytes(dataclasses.replace(FULL, extension=None))):
        original = record_from_canonical(data)
        for pos in range(len(data)):
            for mask in (0x01, 0x80):
                flipped = bytearray(data)
                flipped[pos] ^= mask
                try:
                    decoded = record_from_canonical(bytes(flipped))
                except DecodeError:
                    continue
                assert decoded != original, f"flip at {pos} went unnoticed"
                assert canonical_bytes(decoded) == bytes(flipped)


def _swap(old: bytes, new: bytes) -> bytes:
    assert old in SIGHTING_GOLDEN
    return SIGHTING_GOLDEN.replace(old, new, 1)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"le", "envelope"),
        (_swap(b"7:versioni1e", b"7:versioni2e"), "version"),
        (_swap(b"19:swarmscope-evidence", b"19:swarmscope-evidencf"), "format"),
        (_swap(b"8:sighting", b"8:sightinG"), "record type"),
        (_swap(b"7:peer_idl1:ne", b"7:peer_idl1:se"), "peer_id"),
        (_swap(b"7:peer_idl1:ne", b"7:peer_idl1:nlee"), "None carries"),
        (_swap(b"4:portl1:ii6881ee", b"4:portl1:s4:6881e"), "port"),
        (_swap(b"4:portl1:ii6881ee", b"4:portl1:ii6881ei1ee"), "port"),
        (_swap(b"4:portl1:ii6881ee", b"4:portl1:ie"), "port"),
        (_swap(b"4:portl1:ii6881ee", b"4:portli6881ee"), "tagged"),
        (_swap(b"7:peer_idl1:ne", b"7:peer_idl1:ne5:extral1:ne"), "unknown fields"),
        (_swap(b"7:peer_idl1:ne", b""), "missing fields"),
        (_swap(b"2:ipl1:s9:192.0.2.7e", b"2:ipl1:s2:\xff\xfee7:peer_idl1:ne"), "UTF-8"),
        (_swap(b"6:detaill1:s17:udp://t.example/ae8:infohash", b"8:infohash"), "missing"),
        # keys out of order (the bencode layer accepts them; canonical form does not)
        (_swap(b"2:ipl1:s9:192.0.2.7e7:peer_idl1:ne", b"7:peer_idl1:ne2:ipl1:s9:192.0.2.7e"), "canonical"),
    ],
)
def test_malformed_table(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        record_from_canonical(data)


def _obs_bytes(**kw: object) -> bytes:
    return canonical_bytes(dataclasses.replace(FULL, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (b"l1:f18:0.3333333333333333e", b"l1:f19:0.33333333333333331e", "shortest"),
        (b"l1:f18:0.3333333333333333e", b"l1:f3:1/3e", "not a float"),
        (b"l1:f18:0.3333333333333333e", b"l1:f2:\xff1e", "not a float"),
        (b"4:tierl1:ii2ee", b"4:tierl1:ii7ee", "unknown tier"),
        (b"9:encryptedl1:oi1ee", b"9:encryptedl1:oi2ee", "bool"),
        (b"15:verified_piecesl1:lll1:ii0eel1:ii2eeee", b"15:verified_piecesl1:lll1:s1:0eee", "verified"),
        (b"1:ml1:dd11:ut_metadatal1:ii2ee", b"1:ml1:dd2:\xff\xfel1:ii2ee", "UTF-8"),
        (b"l1:r14:extension_infod", b"l1:r15:extension_infoxd", "extension_info"),
    ],
)
def test_malformed_observation_fields(old: bytes, new: bytes, reason: str) -> None:
    data = _obs_bytes()
    assert old in data
    with pytest.raises(DecodeError, match=reason):
        record_from_canonical(data.replace(old, new, 1))


def test_encoder_misuse() -> None:
    with pytest.raises(TypeError):
        canonical_bytes(ExtensionInfo())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1000 digits"):
        _obs_bytes(num_pieces=10**1000)
    with pytest.raises(ValueError):
        _obs_bytes(client="\udc80")  # a lone surrogate has no UTF-8 form
    with pytest.raises(TypeError):
        _obs_bytes(quirks=[1.0j])


# --- properties -----------------------------------------------------------------------------------

HUGE = 10**999 - 1
ints = st.one_of(st.integers(), st.integers(min_value=-HUGE, max_value=HUGE))
opt_text = st.none() | st.text()
opt_bytes = st.none() | st.binary(max_size=40)
extensions = st.builds(
    ExtensionInfo,
    m=st.dictionaries(st.text(max_size=12), ints, max_size=4),
    v=opt_bytes,
    p=st.none() | ints,
    yourip=opt_text,
    reqq=st.none() | ints,
    metadata_size=st.none() | ints,
)
observations = st.builds(
    Observation,
    infohash=st.text(),
    ip=st.text(),
    port=ints,
    source=st.text(),
    started_us=ints,
    ended_us=ints,
    tier=st.sampled_from(Tier),
    failure=opt_text,
    failure_detail=opt_text,
    remote_infohash=opt_text,
    peer_id=opt_bytes,
    reserved=opt_bytes,
    client=opt_text,
    client_version=opt_text,
    extension=st.none() | extensions,
    num_pieces=ints,
    pieces_have=ints,
    bitfield=opt_bytes,
    completion=st.none() | st.floats(allow_nan=False) | st.just(1 / 3),
    bytes_received=ints,
    wire_bytes_in=ints,
    wire_bytes_out=ints,
    payload_bytes_sent=ints,
    verified_pieces=st.lists(ints, max_size=6).map(tuple),
    failed_pieces=st.lists(ints, max_size=6).map(tuple),
    encrypted=st.booleans(),
    quirks=st.lists(st.text(max_size=10), max_size=4).map(tuple),
)
sightings = st.builds(
    Sighting,
    infohash=st.text(),
    ip=st.text(),
    port=ints,
    source=st.text(),
    detail=st.text(),
    seen_at_us=ints,
    peer_id=opt_bytes,
)


@settings(max_examples=300)
@given(st.one_of(observations, sightings))
def test_round_trip_property(record: Observation | Sighting) -> None:
    data = canonical_bytes(record)
    back = record_from_canonical(data)
    assert back == record
    assert type(back) is type(record)
    assert canonical_bytes(back) == data
    if isinstance(back, Observation):
        assert type(back.tier) is Tier


@given(st.one_of(observations, sightings), st.one_of(observations, sightings))
def test_distinct_records_give_distinct_bytes(a: Observation | Sighting, b: Observation | Sighting) -> None:
    if canonical_bytes(a) == canonical_bytes(b):  # injective: equal bytes only for equal records
        assert a == b


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_decodes_or_raises_decode_error_only(data: bytes) -> None:
    try:
        record = record_from_canonical(data)
    except DecodeError:
        return
    assert canonical_bytes(record) == data


@settings(max_examples=500)
@given(st.data())
def test_mutated_encodings_decode_or_raise_decode_error_only(data: st.DataObject) -> None:
    record = data.draw(st.one_of(observations, sightings))
    encoded = bytearray(canonical_bytes(record))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        pos = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
        encoded[pos] = data.draw(st.integers(min_value=0, max_value=255))
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded)))
    try:
        back = record_from_canonical(bytes(encoded[:cut]))
    except DecodeError:
        return
    assert canonical_bytes(back) == bytes(encoded[:cut])


# --- an independent re-implementation from the module docstring only (what an opposing expert does) ---


def _expert_value(value: object) -> object:
    if value is None:
        return [b"n"]
    if isinstance(value, bool):
        return [b"o", 1 if value else 0]
    if isinstance(value, int):
        return [b"i", int(value)]
    if isinstance(value, float):
        return [b"f", repr(value).encode()]
    if isinstance(value, bytes):
        return [b"b", value]
    if isinstance(value, str):
        return [b"s", value.encode()]
    if isinstance(value, tuple):
        return [b"l", [_expert_value(item) for item in value]]
    if isinstance(value, dict):
        return [b"d", {key.encode(): _expert_value(item) for key, item in value.items()}]
    assert isinstance(value, ExtensionInfo)
    return [b"r", b"extension_info", _expert_fields(value)]


def _expert_fields(record: object) -> dict[bytes, object]:
    return {
        f.name.encode(): _expert_value(getattr(record, f.name))
        for f in dataclasses.fields(record)  # type: ignore[arg-type]
        if f.name != "version"  # the envelope's version, not a field (module docstring, "Versions")
    }


@settings(max_examples=200)
@given(st.one_of(observations, sightings))
def test_independent_reimplementation_agrees(record: Observation | Sighting) -> None:
    kind = b"observation" if isinstance(record, Observation) else b"sighting"
    envelope = {
        b"format": b"swarmscope-evidence",
        b"version": LATEST[type(record)],  # the newest format version of the type (docstring, "Versions")
        b"type": kind,
        b"fields": _expert_fields(record),
    }
    assert bencode(envelope) == canonical_bytes(record)
