"""Flipping any single byte of any file of a bundle makes verification fail, naming the file and the record.

For EACH file: the first, middle and last byte flipped (all bits), and three seeded random positions (one
bit); bounded at 6 positions per file. Files that belong to records must also name a record (chain index,
and ip:port/infohash when it is disclosed).
"""

from __future__ import annotations

import random

import pytest

from swarmscope.evidence import bundle as b
from swarmscope.evidence.bundle_verify import Verdict, verify_bundle
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.wire.bencode import value_span
from tests.evidence.test_bundle import BLOCK_IP, KEY, build, make_world

WORLD = make_world()
FILES = build(WORLD)
FINGERPRINT = key_fingerprint(public_key_raw(KEY))
# Files whose every byte (past a header) belongs to records: a flip must name a record.
RECORD_PREFIXES = ("records/ledger.bin", "records/chain.bin", "records/observations", "records/sightings",
                   "records/clock", "captures/", "blobs/", "pieces/", "metainfo/")  # fmt: skip


def positions(path: str, size: int) -> list[tuple[int, int]]:
    """(offset, xor mask) pairs to try in one file."""
    rng = random.Random(path)
    chosen = [(0, 0xFF), (size // 2, 0xFF), (size - 1, 0xFF)]
    chosen += [(rng.randrange(size), 1 << rng.randrange(8)) for _ in range(3)]
    return chosen


def flipped(path: str, offset: int, mask: int) -> dict[str, bytes]:
    data = bytearray(FILES[path])
    data[offset] ^= mask
    return {**FILES, path: bytes(data)}


def outside_records(path: str, offset: int) -> bool:
    """True for bytes no record depends on: the CSV header, a .torrent outside its info dict."""
    if path.startswith("metainfo/"):
        span = value_span(FILES[path], b"info")
        assert span is not None
        return not span[0] <= offset < span[1]
    return path == b.OBSERVATIONS_CSV and offset < FILES[path].index(b"\r\n") + 2


def case_ids() -> list[tuple[str, int, int]]:
    return [(path, off, mask) for path in sorted(FILES) for off, mask in positions(path, len(FILES[path]))]


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


@pytest.mark.parametrize(("path", "offset", "mask"), case_ids())
def test_flip_is_named(path: str, offset: int, mask: int) -> None:
    verdict = verify_bundle(flipped(path, offset, mask), expect_key=FINGERPRINT)
    assert not verdict.ok
    named = {p.file for p in verdict.problems}
    assert path in named, (path, offset, [(p.file, p.message) for p in verdict.problems])
    if path.startswith(RECORD_PREFIXES) and not outside_records(path, offset):
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
