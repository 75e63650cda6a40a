"""The compiled decoding path of canonical bytes answers exactly as the checked path, or leaves it the input.

``record_of`` first tries ``fast_record_of`` (one compiled plan per declaration and version) and falls back
to ``checked_record_of`` (field by field, tag by tag, naming each refusal). The compiled path may only
answer MISS or the very record the checked path builds: on every record type's samples, on random records,
on older format versions and on mutated bytes (where the checked path must then be the one that refuses).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.evidence.canonical import as_version, canonical_bytes, record_from_canonical
from swarmscope.evidence.canonical_decode import (
    KINDS,
    MISS,
    checked_record_of,
    envelope_of,
    fast_record_of,
)
from swarmscope.evidence.declarations import LATEST, SPECS
from swarmscope.wire.bencode import decode
from tests.evidence.record_samples import SAMPLES
from tests.evidence.test_canonical import FULL, observations, sightings


def _both(data: bytes) -> tuple[Any, Any]:
    """(compiled answer, checked answer or the DecodeError it raised) for the envelope in ``data``."""
    kind, version, raw_fields = envelope_of(data)
    spec = KINDS[kind]
    fast = fast_record_of(spec, raw_fields, version)
    try:
        checked = checked_record_of(spec, raw_fields, kind.decode(), version)
    except DecodeError as exc:
        checked = exc
    return fast, checked


def _same(fast: Any, checked: Any) -> None:
    """The compiled path gave MISS, or a record equal to the checked one with the same canonical bytes."""
    if fast is MISS:
        return
    assert not isinstance(checked, DecodeError), f"compiled path took what the checked one refuses: {checked}"
    assert fast == checked and type(fast) is type(checked)
    assert canonical_bytes(fast) == canonical_bytes(checked)
    assert [type(getattr(fast, f.name)) for f in SPECS[type(fast)].fields] == [
        type(getattr(checked, f.name)) for f in SPECS[type(checked)].fields
    ]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_takes_the_compiled_path_to_the_checked_record(name: str) -> None:
    data = canonical_bytes(SAMPLES[name])
    fast, checked = _both(data)
    assert fast is not MISS, "a canonical record in its common shape takes the compiled path"
    _same(fast, checked)
    assert record_from_canonical(data) == SAMPLES[name]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_older_format_versions_take_the_compiled_path_to_the_checked_record(name: str) -> None:
    record = SAMPLES[name]
    for version in range(1, LATEST[type(record)]):
        data = canonical_bytes(as_version(SPECS[type(record)], record, version))
        fast, checked = _both(data)
        assert fast is not MISS
        _same(fast, checked)
        assert canonical_bytes(record_from_canonical(data)) == data


@settings(max_examples=300)
@given(st.one_of(observations, sightings))
def test_random_records_decode_alike_on_both_paths(record: Any) -> None:
    fast, checked = _both(canonical_bytes(record))
    _same(fast, checked)
    assert checked == record


@settings(max_examples=500)
@given(st.data())
def test_mutated_bytes_are_refused_by_the_checked_path_or_decoded_alike(data: st.DataObject) -> None:
    record = data.draw(st.one_of(observations, sightings, st.just(FULL)))
    encoded = bytearray(canonical_bytes(record))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        pos = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
        encoded[pos] = data.draw(st.integers(min_value=0, max_value=255))
    try:
        kind, _version, _fields = envelope_of(bytes(encoded))
    except DecodeError:
        return
    if kind not in KINDS:
        return
    _same(*_both(bytes(encoded)))


# One field of a sighting replaced by a tagged value of the wrong shape: (field, bencoded value, refusal).
HOSTILE = [
    (b"port", b"l1:s4:6881e", "sighting.port: tag b's' not allowed"),
    (b"port", b"l1:ii6881ei1ee", "sighting.port: malformed payload"),
    (b"port", b"l1:ie", "sighting.port: malformed payload"),
    (b"ip", b"l1:s2:\xff\xfee", "sighting.ip: text is not valid UTF-8"),
    (b"ip", b"l1:ne", "sighting.ip: tag b'n' not allowed"),
    (b"ip", b"l1:b1:xe", "sighting.ip: tag b'b' not allowed"),  # bytes of the right type, wrong tag
    (b"peer_id", b"l1:s1:xe", "sighting.peer_id: tag b's' not allowed"),
    (b"peer_id", b"l1:ni0ee", "sighting.peer_id: None carries a payload"),
    (b"peer_id", b"le", "sighting.peer_id: not a tagged value"),
    (b"peer_id", b"i5e", "sighting.peer_id: not a tagged value"),
    (b"peer_id", b"ll1:nee", "sighting.peer_id: not a tagged value"),
    (b"peer_id", b"l1:r14:extension_infodee", "sighting.peer_id: tag b'r' not allowed"),
]


@pytest.mark.parametrize(("name", "value", "refusal"), HOSTILE)
def test_a_hostile_field_is_left_to_the_checked_path_which_names_it(
    name: bytes, value: bytes, refusal: str
) -> None:
    envelope = decode(canonical_bytes(SAMPLES["sighting"]))
    envelope[b"fields"][name] = decode(value)
    spec = KINDS[b"sighting"]
    assert fast_record_of(spec, envelope[b"fields"], 1) is MISS
    with pytest.raises(DecodeError, match=refusal.replace(".", r"\.").replace("(", r"\(")):
        checked_record_of(spec, envelope[b"fields"], "sighting", 1)
