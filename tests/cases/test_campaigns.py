"""Works and torrents: a torrent is confirmed when its pieces hash to the work's reference content."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmscope.cases.campaigns import link_work, read_torrent, resolve_torrent, tally
from swarmscope.cases.campaigns import reference_check as check_reference
from swarmscope.errors import InputError
from swarmscope.store.database import Store
from swarmscope.store.legal import cases as sc
from swarmscope.testbed.content import TorrentContent, build_content
from tests.cases.evidence import T0, fresh_store

PIECE = 16384


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from fresh_store(tmp_path)


@pytest.fixture(scope="module")
def works(tmp_path_factory: pytest.TempPathFactory) -> tuple[TorrentContent, TorrentContent]:
    """The work's torrent, and another torrent of different content (a fake under the same name)."""
    base = tmp_path_factory.mktemp("works")
    real = build_content(base / "real", size=5 * PIECE + 100, piece_length=PIECE, seed=b"the work")
    other = build_content(base / "other", size=5 * PIECE + 100, piece_length=PIECE, seed=b"something else")
    return real, other


def reference(content: TorrentContent) -> Path:
    return content.data_dir / content.name


def test_matching_reference_confirms(works: tuple[TorrentContent, TorrentContent]) -> None:
    real, _ = works
    check = check_reference(read_torrent(real.torrent_path), reference(real))
    assert (check.status, check.checked, check.matched) == ("confirmed", 6, 6)


def test_other_content_is_fake(works: tuple[TorrentContent, TorrentContent]) -> None:
    real, other = works
    check = check_reference(read_torrent(other.torrent_path), reference(real))
    assert (check.status, check.checked, check.matched) == ("fake", 6, 0)
    assert check.detail is not None and "6 piece(s) differ: 0, 1, 2, 3, 4, 5" in check.detail


def test_one_differing_piece_makes_it_fake(
    works: tuple[TorrentContent, TorrentContent], tmp_path: Path
) -> None:
    real, _ = works
    data = bytearray(reference(real).read_bytes())
    data[3 * PIECE + 7] ^= 1
    copy = tmp_path / real.name
    copy.write_bytes(bytes(data))
    check = check_reference(read_torrent(real.torrent_path), copy)
    assert (check.status, check.checked, check.matched) == ("fake", 6, 5)
    assert check.detail == "1 piece(s) differ: 3"


def test_short_reference_compares_nothing(
    works: tuple[TorrentContent, TorrentContent], tmp_path: Path
) -> None:
    real, _ = works
    copy = tmp_path / real.name
    copy.write_bytes(reference(real).read_bytes()[: 2 * PIECE])
    check = check_reference(read_torrent(real.torrent_path), copy)
    # A short file is unusable as a whole (monitor.reference): nothing is compared, nothing confirmed.
    assert (check.status, check.checked, check.matched) == ("linked", 0, 0)


def test_nothing_comparable_stays_linked(
    works: tuple[TorrentContent, TorrentContent], tmp_path: Path
) -> None:
    meta = read_torrent(works[0].torrent_path)
    assert check_reference(meta, tmp_path / "absent").status == "linked"
    empty = tmp_path / "empty"
    empty.mkdir()
    check = check_reference(meta, empty)
    assert check.status == "linked" and "does not fit" in (check.detail or "")


def test_link_by_file_and_by_stored_infohash(
    store: Store, works: tuple[TorrentContent, TorrentContent]
) -> None:
    real, other = works
    work = sc.add_work(store, "Rights Ltd", "The Work", "PA-1", str(reference(real)), T0)
    row = link_work(store, "The Work", str(real.torrent_path), T0, compare=check_reference)
    assert (row.infohash, row.status, row.matched_pieces, row.checked_us) == (
        real.infohash_hex,
        "confirmed",
        6,
        T0,
    )
    meta = other.torrent_path.read_bytes()
    store.add_swarm(
        other.infohash_hex, other.infohash_hex, None, other.name, 6, PIECE, other.size, meta, None, T0
    )
    fake = link_work(store, work, other.infohash_hex.upper(), T0 + 1, compare=check_reference)
    assert (fake.infohash, fake.status, fake.matched_pieces) == (other.infohash_hex, "fake", 0)
    assert sc.work_for_infohash(store, other.infohash_hex) is None
    assert sc.work_for_infohash(store, real.infohash_hex).id == work  # type: ignore[union-attr]


def test_link_without_reference_or_metainfo_stays_linked(
    store: Store, works: tuple[TorrentContent, TorrentContent]
) -> None:
    real, _ = works
    sc.add_work(store, "Rights Ltd", "No Reference", None, None, T0)
    row = link_work(store, "No Reference", str(real.torrent_path), T0, compare=check_reference)
    assert (row.status, row.detail) == ("linked", "the work has no reference content")
    sc.add_work(store, "Rights Ltd", "With Reference", None, str(reference(real)), T0)
    row = link_work(store, "With Reference", "ee" * 20, T0, compare=check_reference)
    assert row.status == "linked" and "no metainfo" in (row.detail or "")


@pytest.mark.parametrize("text", ["not-a-file", "ab" * 19, "zz" * 20])
def test_bad_torrent_argument(store: Store, text: str) -> None:
    with pytest.raises(InputError, match="neither"):
        resolve_torrent(store, text)


def test_bad_torrent_file(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad.torrent"
    bad.write_bytes(b"d4:infoi1ee")
    with pytest.raises(InputError, match="not a valid torrent"):
        resolve_torrent(store, str(bad))


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([(0, True), (1, True)], ("confirmed", 2, 2)),
        ([(0, True), (1, None)], ("confirmed", 1, 1)),
        ([(0, True), (1, False)], ("fake", 2, 1)),
        ([(0, False)], ("fake", 1, 0)),
        ([(0, None), (1, None)], ("linked", 0, 0)),
        ([], ("linked", 0, 0)),
    ],
)
def test_tally_rule(outcomes: list[tuple[int, bool | None]], expected: tuple[str, int, int]) -> None:
    check = tally(outcomes, 2)
    assert (check.status, check.checked, check.matched) == expected


def test_tally_names_at_most_ten_pieces() -> None:
    check = tally([(i, False) for i in range(12)], 12)
    assert check.detail == "12 piece(s) differ: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 ..."
