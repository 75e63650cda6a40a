"""Every torrent of the shared corpus (libtorrent test torrents + webtorrent fixtures) against what
libtorrent 2.1.1 says about it (expected.json): verdict, infohashes, name, sizes, counts, trackers.

libtorrent semantics checked here: pad files count as files and their bytes count in total_size;
v2-only torrents get a pad after every unaligned file (the last one too), hybrids use the v1 list;
bytes after the top-level dict are ignored; unsorted keys are fatal only in a v2 info dict.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from swarmscope.errors import DecodeError
from swarmscope.wire.metainfo import parse_metainfo
from tests.conftest import FIXTURES

CORPUS = FIXTURES  # ../shared/fixtures/torrents, or $SWARMSCOPE_SHARED/fixtures/torrents
EXPECTED: dict[str, Any] = (
    json.loads((CORPUS / "expected.json").read_text()) if (CORPUS / "expected.json").is_file() else {}
)

# libtorrent's error → what our message must name (the field and the problem)
ERROR_WORDS = {
    "missing name": r"info\.name",
    "too many duplicate filenames": r"info\.files: too many duplicate",
    "invalid length of torrent": r"length",
    "missing or invalid 'info' section": r"^info: missing",
    "possible exploit attempt": r"(path|symlink path): not a list of strings",
    "'piece length'": r"info\.piece length",
    "too many pieces": r"info\.pieces: too many pieces",
    "no files in torrent": r"info\.files: no files",
    "not a dictionary": r"torrent: not a dictionary",
    "incorrect number of piece hashes": r"info\.pieces: \d+ bytes, expected",
    "v1 and v2 file metadata does not match": r"v1 file list and the v2 file tree do not match",
    "nesting depth exceeded": r"bencode: nesting deeper",
    "failed to parse files": r"info\.file tree",
    "pad attribute": r"pad attribute",
    "piece layer is invalid": r"piece layers",
    "no root hash": r"pieces root",
    "invalid bencoding": r"(leading zero|unsorted)",
}


def summary(data: bytes) -> dict[str, Any]:
    """Our view of a torrent in the shape of expected.json."""
    meta = parse_metainfo(data)
    return {
        "valid": True,
        "name": meta.name,
        "v1": meta.v1.hex if meta.v1 else None,
        "v2": meta.v2.hex if meta.v2 else None,
        "total_size": meta.total_size,
        "piece_length": meta.piece_length,
        "num_pieces": meta.num_pieces,
        "num_files": len(meta.files),
        "private": meta.private,
        "trackers": [url for tier in meta.trackers for url in tier],
    }


def test_every_corpus_file_has_an_expectation(fixtures_dir: Path) -> None:
    on_disk = {p.relative_to(fixtures_dir).as_posix() for p in fixtures_dir.rglob("*.torrent")}
    assert on_disk == set(EXPECTED)
    assert len(on_disk) >= 90


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_corpus_file_matches_libtorrent(fixtures_dir: Path, rel: str) -> None:
    expected = EXPECTED[rel]
    data = (fixtures_dir / rel).read_bytes()
    if expected["valid"]:
        got = summary(data)
        assert got == {k: expected[k] for k in got}
        return
    with pytest.raises(DecodeError) as info:
        parse_metainfo(data)
    (pattern,) = [w for k, w in ERROR_WORDS.items() if k in expected["libtorrent_error"]]
    assert re.search(pattern, info.value.reason), (info.value.reason, expected["libtorrent_error"])


@pytest.mark.parametrize("rel", sorted(k for k, v in EXPECTED.items() if v["valid"]))
def test_corpus_infohash_is_hash_of_raw_info_span(fixtures_dir: Path, rel: str) -> None:
    """META-01: the infohash covers the raw bytes of info exactly as they are in the file."""
    data = (fixtures_dir / rel).read_bytes()
    meta = parse_metainfo(data)
    assert meta.info_raw in data
    assert meta.raw == data
    assert meta.wire_infohash == meta.swarm_id.raw[:20]
    assert meta.piece_size(meta.num_pieces - 1) <= meta.piece_length


@pytest.mark.parametrize("rel", ["libtorrent/test_torrents/base.torrent", "webtorrent/numbers.torrent"])
def test_corpus_truncations_raise_decode_error(fixtures_dir: Path, rel: str) -> None:
    data = (fixtures_dir / rel).read_bytes()
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            parse_metainfo(data[:cut])


@pytest.mark.parametrize("rel", ["libtorrent/test_torrents/v2_hybrid.torrent", "webtorrent/alice.torrent"])
def test_corpus_with_trailing_bytes_is_accepted(fixtures_dir: Path, rel: str) -> None:
    """libtorrent ignores bytes after the top-level dict (large_piece_size.torrent has some)."""
    data = (fixtures_dir / rel).read_bytes()
    assert summary(data + b"\r\ngarbage") == summary(data)
