"""Flipping any single byte of any file of a bundle makes verification fail, naming the file and the record.

For EACH file: the first, middle and last byte flipped (all bits), and three seeded random positions (one
bit); bounded at 6 positions per file. Files that belong to records must also name a record (chain index,
and ip:port/infohash when it is disclosed). Both bundles are flipped: the world of test_bundle.py and the
attributed world of test_bundle_attribution.py (attribution records, datasets.json, attributions.jsonl).
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmscope.evidence.bundle import exhibits
from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.verify import Verdict, verify_bundle
from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.records import Observation
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.wire.bencode import value_span
from tests.evidence.test_bundle import BLOCK_IP, KEY, build, make_world
from tests.evidence.test_bundle_attribution import FILES as ATTRIBUTED_FILES

WORLD = make_world()
FILES = build(WORLD)
BUNDLES = {"plain": FILES, "attributed": ATTRIBUTED_FILES}
FINGERPRINT = key_fingerprint(public_key_raw(KEY))
# Files whose every byte (past a header) belongs to records: a flip must name a record.
RECORD_PREFIXES = ("records/ledger.bin", "records/chain.bin", "records/observations", "records/sightings",
                   "records/clock", "records/attributions", "captures/", "blobs/", "pieces/",
                   "metainfo/")  # fmt: skip


def positions(path: str, size: int) -> list[tuple[int, int]]:
    """(offset, xor mask) pairs to try in one file."""
    if size == 0:
        return []  # an empty view (no record of that kind): no byte to flip
    rng = random.Random(path)
    chosen = [(0, 0xFF), (size // 2, 0xFF), (size - 1, 0xFF)]
    chosen += [(rng.randrange(size), 1 << rng.randrange(8)) for _ in range(3)]
    return chosen


def flipped(path: str, offset: int, mask: int, files: dict[str, bytes] = FILES) -> dict[str, bytes]:
    data = bytearray(files[path])
    data[offset] ^= mask
    return {**files, path: bytes(data)}


def outside_records(path: str, offset: int, files: dict[str, bytes] = FILES) -> bool:
    """True for bytes no record depends on: the CSV header, a .torrent outside its info dict."""
    if path.startswith("metainfo/"):
        span = value_span(files[path], b"info")
        assert span is not None
        return not span[0] <= offset < span[1]
    return path == exhibits.OBSERVATIONS_CSV and offset < files[path].index(b"\r\n") + 2


def case_ids() -> list[tuple[str, str, int, int]]:
    return [
        (bundle, path, off, mask)
        for bundle, files in BUNDLES.items()
        for path in sorted(files)
        for off, mask in positions(path, len(files[path]))
    ]


def test_every_file_is_covered() -> None:
    kinds = {path.split("/")[0] for path in FILES}
    assert kinds >= {
        "manifest.json",
        "manifest.sig",
        "records",
        "captures",
        "blobs",
        "pieces",
        "metainfo",
        "keys",
    }
    assert kinds >= {"attribution", "methodology.md", "methodology.json"}


def test_attributed_bundle_has_the_attribution_files() -> None:
    assert (
        ATTRIBUTED_FILES[exhibits.ATTRIBUTIONS_JSONL]
        and b'"datasets": []' not in ATTRIBUTED_FILES[b.DATASETS]
    )


@pytest.mark.parametrize(("bundle", "path", "offset", "mask"), case_ids())
def test_flip_is_named(bundle: str, path: str, offset: int, mask: int) -> None:
    files = BUNDLES[bundle]
    verdict = verify_bundle(flipped(path, offset, mask, files), expect_key=FINGERPRINT)
    assert not verdict.ok
    named = {p.file for p in verdict.problems}
    assert path in named, (path, offset, [(p.file, p.message) for p in verdict.problems])
    if path.startswith(RECORD_PREFIXES) and not outside_records(path, offset, files):
        records = [p.record for p in verdict.problems if p.record is not None]
        assert records, (path, offset, [(p.file, p.message) for p in verdict.problems])


def problems_about(verdict: Verdict, path: str) -> list[str]:
    return [p.record.label() for p in verdict.problems if p.file == path and p.record is not None]


def test_capture_flip_names_the_observation() -> None:
    world = WORLD
    block_obs = next(r for r in world.records if getattr(r, "ip", None) == BLOCK_IP and hasattr(r, "tier"))
    path = b.capture_path(block_obs.capture_sha256)  # type: ignore[union-attr]
    verdict = verify_bundle(flipped(path, len(FILES[path]) // 2, 0x10))
    labels = problems_about(verdict, path)
    assert labels and all(f"{BLOCK_IP}:6881" in label and world.infohash in label for label in labels)


def test_reference_piece_flip_names_the_block_proof() -> None:
    path = b.piece_path(WORLD.infohash, 1)
    verdict = verify_bundle(flipped(path, 5, 0x01))
    assert any(p.check == "block proofs" and p.record and p.record.ip == BLOCK_IP for p in verdict.problems)


def test_appended_and_removed_files_are_named() -> None:
    extra = verify_bundle({**FILES, "blobs/extra.bin": b"x"})
    assert {p.file for p in extra.problems} >= {"blobs/extra.bin"}
    path = b.capture_path(next(iter(WORLD.captures)))
    missing = verify_bundle({k: v for k, v in FILES.items() if k != path})
    assert path in {p.file for p in missing.problems} and any(p.record for p in missing.problems)


def test_truncated_ledger_names_the_record() -> None:
    verdict = verify_bundle({**FILES, b.LEDGER: FILES[b.LEDGER][:-10]})
    assert not verdict.ok and any(p.file == b.LEDGER and p.record is not None for p in verdict.problems)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(sorted(FILES)), data=st.binary(max_size=400))
def test_any_replacement_is_a_verdict(path: str, data: bytes) -> None:
    """Whatever bytes a file holds, verification returns a verdict (never another exception)."""
    verdict = verify_bundle({**FILES, path: data})
    assert verdict.ok == (data == FILES[path])


def test_forged_record_with_absurd_values_is_a_verdict() -> None:
    """A hostile bundle whose record carries out-of-range times and pieces still gets a precise verdict."""
    observation = next(r for r in WORLD.records if isinstance(r, Observation) and r.verified_blocks)
    proof = replace(observation.verified_blocks[0], piece=10**9)
    forged = replace(observation, started_us=2**62, ended_us=-(2**62), verified_blocks=(proof,))
    pairs = b.ledger_from_bytes(FILES[b.LEDGER])
    index = next(i for i, data in pairs if data == canonical_bytes(observation))
    ledger = b.ledger_bytes({i: (canonical_bytes(forged) if i == index else data) for i, data in pairs})
    verdict = verify_bundle({**FILES, b.LEDGER: ledger})
    assert not verdict.ok
    assert any(p.record is not None and p.record.index == index for p in verdict.problems)
