"""The pure parts of research mode: pseudonyms, small-cell suppression, text cleaning."""

from __future__ import annotations

import hashlib
import hmac
import zlib
from pathlib import Path

import pytest

from swarmscope.research.aggregate import aggregate
from swarmscope.research.cells import SUPPRESSED, TOTAL, Row, Units, fixed_rows, partition_rows, scrub
from swarmscope.research.plots import plot_tables
from swarmscope.research.pseudonym import Pseudonymiser, unit_of
from tests.research.scan import address_literals, png_text

KEY, OTHER = bytes(range(32)), bytes(range(1, 33))


def units(n: int, tag: str) -> Units:
    return Units({f"{tag}{i}" for i in range(n)}, {f"{tag}{i}:1" for i in range(n)})


def test_pseudonyms_are_hmac_sha256_of_the_unit_per_study() -> None:
    p = Pseudonymiser(KEY)
    assert p.address("10.1.2.3") == hmac.new(KEY, b"a|10.1.2.3", hashlib.sha256).hexdigest()
    assert p.peer("10.1.2.3", 6881) == hmac.new(KEY, b"p|10.1.2.3|6881", hashlib.sha256).hexdigest()
    assert p.address("::ffff:0:0") != Pseudonymiser(OTHER).address("::ffff:0:0")
    assert Pseudonymiser(KEY, truncate=True).address("10.1.2.3") == Pseudonymiser(KEY, True).address(
        "10.1.2.99"
    )
    assert (
        unit_of("2001:db8:1:2::5", True) == "2001:db8:1::/48" and unit_of("10.1.2.3", True) == "10.1.2.0/24"
    )
    assert p.study_id() == Pseudonymiser(KEY, truncate=True).study_id() != Pseudonymiser(OTHER).study_id()
    with pytest.raises(ValueError):
        Pseudonymiser(b"short")


def test_partition_pools_small_cells_and_adds_the_smallest_released_one() -> None:
    cells = {"a": units(6, "a"), "b": units(3, "b"), "c": units(1, "c"), "d": units(1, "d")}
    rows, suppressed = partition_rows(("g",), cells, 3)
    # c and d (1 each) pool to 2 < 3: b (the smallest released) joins; a stays
    assert [(r.label, r.addresses) for r in rows] == [("a", 6), (SUPPRESSED, 5), (TOTAL, 11)]
    assert suppressed == 3


def test_partition_without_small_cells_and_tiny_groups() -> None:
    rows, suppressed = partition_rows(("g",), {"x": units(3, "x"), "y": units(4, "y")}, 3, order=("x", "y"))
    assert [(r.label, r.addresses, r.share) for r in rows] == [
        ("x", 3, 3 / 7),
        ("y", 4, 4 / 7),
        (TOTAL, 7, 1.0),
    ]
    assert suppressed == 0
    assert partition_rows(("g",), {"x": units(1, "x"), "y": units(1, "y")}, 3) == (
        [Row(("g",), TOTAL, None, None, None)],
        2,
    )
    assert partition_rows(("g",), {}, 3) == ([], 0)


def test_fixed_labels_release_zero_and_k_or_more() -> None:
    rows, suppressed = fixed_rows(("g",), {"00": units(2, "a"), "01": units(5, "b")}, 3, ["00", "01", "02"])
    assert [(r.label, r.addresses) for r in rows] == [("00", None), ("01", 5), ("02", 0)] and suppressed == 1


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("Transmission 3.00", "Transmission 3.00"),
        ("evil 10.0.0.7 client", "evil [address] client"),
        ("libtorrent 2.0.11", "libtorrent 2.0.11"),  # a version, not an address
        ("libtorrent 2.0.11.0", "libtorrent [address]"),  # four parts could be one: safety first
        ("x::1", "x[address]"),  # ::1 is one
        ("peer [2001:db8::7]:51413", "peer [address]"),  # the brackets and port go with it
        ("cam 10.1.2.3:554", "cam [address]"),
        ("cafe10.1.2.3", "cafe[address]"),
        ("mapped ::ffff:10.1.2.3.", "mapped [address]."),
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("bad\x1b[31mred\x00", "bad[31mred"),
    ],
)
def test_scrub(text: str, clean: str) -> None:
    assert scrub(text) == clean


def test_png_metadata_is_read_for_the_scan(tmp_path: Path) -> None:
    """The leak scan reads a PNG's text chunks (matplotlib writes its Software line there)."""
    (tmp_path / "out").mkdir()
    plot_tables(aggregate([], {}, 2), tmp_path / "out")  # no swarm: no plot
    assert list((tmp_path / "out").iterdir()) == []
    chunk = b"Comment\x00seen at 10.1.0.1"
    crc = zlib.crc32(b"tEXt" + chunk).to_bytes(4, "big")
    png = b"\x89PNG\r\n\x1a\n" + len(chunk).to_bytes(4, "big") + b"tEXt" + chunk + crc
    assert "10.1.0.1" in png_text(png) and address_literals(png_text(png)) == ["10.1.0.1"]
