"""Deterministic testbed content: same seed, same infohash; partial and corrupt copies are as claimed."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmscope.testbed.content import (
    build_content,
    pseudo_random_bytes,
    write_announce_variant,
    write_corrupt_copy,
    write_partial_copy,
)
from tests.testbed.peer_probe import sha1

pytest.importorskip("libtorrent")

SIZE = 200_000  # bytes: 4 pieces of 64 KiB, the last one short
PIECE = 65536


def _pieces(data: bytes) -> list[bytes]:
    return [data[i : i + PIECE] for i in range(0, len(data), PIECE)]


def test_content_is_deterministic_and_matches_the_torrent(tmp_path: Path) -> None:
    one = build_content(
        tmp_path / "a", announce=["http://127.0.0.2:1/announce"], size=SIZE, piece_length=PIECE
    )
    two = build_content(
        tmp_path / "b", announce=["http://127.0.0.3:9/announce"], size=SIZE, piece_length=PIECE
    )
    assert one.infohash_hex == two.infohash_hex  # announce is outside the info dict
    assert one.num_pieces == 4 and one.piece_span(3) == (3 * PIECE, SIZE - 3 * PIECE)
    payload = (one.data_dir / one.name).read_bytes()
    assert payload == pseudo_random_bytes(b"swarmscope-testbed", SIZE)
    assert [sha1(p) for p in _pieces(payload)] == list(one.piece_hashes)
    import libtorrent as lt

    info = lt.torrent_info(str(one.torrent_path))
    assert str(info.info_hashes().v1) == one.infohash_hex
    assert [info.hash_for_piece(i) for i in range(4)] == list(one.piece_hashes)
    assert b"creation date" not in one.torrent_path.read_bytes()


def test_other_seed_gives_other_infohash(tmp_path: Path) -> None:
    one = build_content(tmp_path / "a", size=SIZE, piece_length=PIECE)
    two = build_content(tmp_path / "b", size=SIZE, piece_length=PIECE, seed=b"other")
    assert one.infohash_hex != two.infohash_hex


def test_partial_and_corrupt_copies(tmp_path: Path) -> None:
    content = build_content(tmp_path, size=SIZE, piece_length=PIECE)
    partial = _pieces(write_partial_copy(content, tmp_path / "partial", {0, 3}).read_bytes())
    assert [sha1(p) == h for p, h in zip(partial, content.piece_hashes, strict=True)] == [
        True,
        False,
        False,
        True,
    ]
    corrupt = write_corrupt_copy(content, tmp_path / "corrupt").read_bytes()
    assert len(corrupt) == SIZE
    assert all(sha1(p) != h for p, h in zip(_pieces(corrupt), content.piece_hashes, strict=True))


@pytest.mark.parametrize(("size", "piece"), [(0, PIECE), (SIZE, 1000), (SIZE, 3 * 16384)])
def test_bad_parameters_rejected(tmp_path: Path, size: int, piece: int) -> None:
    with pytest.raises(ValueError):
        build_content(tmp_path, size=size, piece_length=piece)


def test_announce_variant_keeps_the_infohash(tmp_path: Path) -> None:
    import libtorrent as lt

    content = build_content(tmp_path, announce=["http://127.0.0.2:1/announce"], size=SIZE, piece_length=PIECE)
    variant = write_announce_variant(content, tmp_path / "udp.torrent", ["udp://127.0.0.2:1/announce"])
    info = lt.torrent_info(str(variant))
    assert str(info.info_hashes().v1) == content.infohash_hex
    meta = lt.bdecode(variant.read_bytes())
    assert meta[b"announce-list"] == [[b"udp://127.0.0.2:1/announce"]]
