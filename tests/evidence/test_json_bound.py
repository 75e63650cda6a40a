"""The JSON bound of bundle verification (``evidence/bundle/json_bound.py``).

``parse_cost`` must be an upper bound of what ``json.loads`` allocates (``tracemalloc``'s peak), over
random JSON and over the hostile shapes that made verify take 15 to 28 times a file's size; every genuine
bundle file must be accepted; a hostile one is refused before anything is built.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tracemalloc
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.json_bound import (
    COST_FACTOR,
    COST_SLACK,
    DATASETS,
    MANIFEST,
    METHODOLOGY,
    JsonBoundError,
    check_bound,
    loads_bounded,
    parse_cost,
)
from tests.fuzz.bundle_stages import bundle_files

HOSTILE = 8 * 1024 * 1024


def _peak(raw: bytes) -> int:
    """tracemalloc's peak, in bytes, of ``json.loads(raw.decode())`` (the raw bytes not counted)."""
    tracemalloc.start()
    try:
        json.loads(raw.decode("utf-8"))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=30) | st.dictionaries(st.text(max_size=12), inner, max_size=30),
    max_leaves=400,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.booleans(), st.sampled_from([None, 0, 2]))
def test_the_cost_bounds_the_parse_of_random_json(value: Any, ascii_only: bool, indent: int | None) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode("utf-8")
    assert _peak(raw) <= parse_cost(raw)


def _many(item: bytes, count: int = 60_000, open_: bytes = b"[", close: bytes = b"]") -> bytes:
    return open_ + b",".join([item] * count) + close


HOSTILE_SHAPES = {
    "empty objects": _many(b"{}"),
    "empty lists": _many(b"[]"),
    "short distinct keys": b"{" + b",".join(b'"%07x":0' % i for i in range(60_000)) + b"}",
    "objects of distinct keys": _many(b"0").replace(b"0", b'{"k":1000}'),
    "floats": _many(b"1e5"),
    "ints": _many(b"1000"),
    "empty strings": _many(b'""'),
    "astral strings": _many('"\U0001f600"'.encode()),
    "escaped wide strings": _many(b'"\\u0100"'),
    "one astral string": '["\U0001f600'.encode() + b"a" * 400_000 + b'"]',
    "one escaped astral string": b'["\\ud83d\\ude00' + b"a" * 400_000 + b'"]',
    "long numbers": _many(b"9" * 4000, 50),
    "nesting": b"[" * 900 + b"]" * 900,
}


@pytest.mark.parametrize("shape", sorted(HOSTILE_SHAPES))
def test_the_cost_bounds_the_parse_of_hostile_shapes(shape: str) -> None:
    raw = HOSTILE_SHAPES[shape]
    assert _peak(raw) <= parse_cost(raw), shape


@pytest.mark.parametrize("shape", sorted(HOSTILE_SHAPES))
def test_a_bounded_parse_stays_within_the_stated_bound(shape: str) -> None:
    """``loads_bounded`` allocates at most COST_FACTOR times the size plus COST_SLACK, or refuses."""
    raw = HOSTILE_SHAPES[shape]
    tracemalloc.start()
    try:
        with contextlib.suppress(JsonBoundError, RecursionError):
            loads_bounded(raw, MANIFEST)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= COST_FACTOR * len(raw) + COST_SLACK, shape


@pytest.mark.parametrize(
    "raw",
    [
        b"[" + b"{}," * (HOSTILE // 3 - 1) + b"{}]",
        b"{" + b",".join(b'"%06x":0' % i for i in range(HOSTILE // 11)) + b"}",
        b"[" + b'"",' * (HOSTILE // 3 - 1) + b'""]',
    ],
    ids=["empty objects", "short distinct keys", "empty strings"],
)
def test_a_hostile_text_is_refused_before_anything_is_built(raw: bytes) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(JsonBoundError, match=r"^manifest\.json of \d+ bytes: parsing it would take"):
            loads_bounded(raw, MANIFEST)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


def test_a_text_over_its_kind_cap_is_refused_by_size() -> None:
    with pytest.raises(JsonBoundError, match=r"^methodology\.json of 16777217 bytes: over its 16777216-byte"):
        check_bound(b" " * (METHODOLOGY.max_bytes + 1), METHODOLOGY)


paths = st.one_of(
    st.binary(min_size=32, max_size=32).map(lambda h: b.capture_path(h)),
    st.binary(min_size=32, max_size=32).map(lambda h: b.blob_path(h)),
    st.tuples(st.binary(min_size=20, max_size=20), st.integers(0, 10**6)).map(
        lambda t: b.piece_path(t[0].hex(), t[1])
    ),
    st.binary(min_size=20, max_size=32).map(lambda h: b.metainfo_path(h.hex())),
    st.sampled_from([b.LEDGER, b.CHAIN, b.BATCHES, b.DATASETS, "methodology.json", "records/clock.jsonl"]),
)
FILTER_KEYS = ["ip", "infohash", "since_us", "until_us", "exclude_clock_flagged", "clock_threshold_us"]
filters = st.dictionaries(
    st.sampled_from(FILTER_KEYS),
    st.one_of(st.none(), st.booleans(), st.integers(0, 2**62), st.text(st.characters(max_codepoint=0xFF))),
)  # export's filters: hex, IP literals, numbers, policy names (ASCII); Latin-1 escapes as \u00XX, 1 byte


def _manifest(listing: dict[str, int], chosen: dict[str, Any], nodes: list[str] | None) -> bytes:
    """A manifest as ``layout.manifest_bytes`` writes it, over files of the given sizes (no bytes made)."""
    body: dict[str, Any] = {
        "format": b.FORMAT,
        "version": b.VERSION if nodes is None else b.VERSION_NODES,
        "created_us": 1_800_000_000_000_000,
        "software_version": "0.1.0",
        "filters": chosen,
        "signing_key": "a" * 64,
        "files": [
            {"path": path, "size": size, "sha256": hashlib.sha256(path.encode()).hexdigest()}
            for path, size in sorted(listing.items())
        ],
    }
    if nodes is not None:
        body["nodes"] = nodes
    return b.json_bytes(body)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(paths, st.integers(0, 2**40), max_size=3000),
    filters,
    st.none() | st.lists(st.text("0123456789abcdef", min_size=64, max_size=64), max_size=20),
)
def test_every_genuine_manifest_is_accepted(
    listing: dict[str, int], chosen: dict[str, Any], nodes: list[str] | None
) -> None:
    raw = _manifest(listing, chosen, nodes)
    check_bound(raw, MANIFEST)
    assert parse_cost(raw) <= 10 * len(raw) + 8192  # well under COST_FACTOR (16) times its size


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 40_000), st.sampled_from(["", "nodes/" + "b" * 64 + "/"]), st.integers(0, 10**6))
def test_a_large_genuine_manifest_is_accepted_beyond_the_slack(files: int, prefix: str, size: int) -> None:
    """The genuine bundle's manifest grown to up to 40,000 files (7 MiB), one-node or across nodes."""
    genuine = json.loads(bundle_files()[b.MANIFEST])
    extra = [hashlib.sha256(b"%d" % i).hexdigest() for i in range(files)]
    genuine["files"] += [
        {"path": f"{prefix}captures/{h}.cap", "sha256": h, "size": size + i} for i, h in enumerate(extra)
    ]
    check_bound(b.json_bytes(genuine), MANIFEST)


def test_the_genuine_bundle_json_files_are_accepted() -> None:
    files = bundle_files()
    for path, kind in ((b.MANIFEST, MANIFEST), ("methodology.json", METHODOLOGY), (b.DATASETS, DATASETS)):
        check_bound(files[path], kind)
    entry = {
        "active": True, "build": None, "build_us": None, "database_type": None, "kind": "tor",
        "name": "\u4e2d", "size": 1,
    }  # fmt: skip
    many = b.datasets_bytes([entry | {"sha256": f"{i:064x}"} for i in range(2000)])  # ~500 KB, 17.8x
    check_bound(many, DATASETS)
    assert parse_cost(many) > COST_FACTOR * len(many)  # accepted within the slack
