"""An IPv4 address next to a full stop must not leave a research export either.

:func:`swarmscope.research.cells.scrub` replaces every IP address in free text by ``[address]``; its
IPv4 pattern once refused a match with a ``.`` on either side (as the leak scan's, ``tests/research/scan.py``,
still does, so the property tests cannot see it). A sentence ending in an address (``seen at 10.1.2.3.``),
a dotted torrent name (``Film.192.168.1.10.mkv``), a year before a quad, zero-padded, full-width or
zero-width-split spellings are ordinary, and the address in them must not leave whole.
"""

from __future__ import annotations

import pytest

from swarmscope.research.cells import scrub
from swarmscope.research.writer import swarms_csv


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("seen at 10.1.2.3.", "10.1.2.3"),
        ("Film.192.168.1.10.mkv", "192.168.1.10"),
        ("gw 198.51.100.23...", "198.51.100.23"),
    ],
)
def test_an_address_beside_a_full_stop_is_scrubbed(text: str, address: str) -> None:
    assert address not in scrub(text)


def test_a_torrent_name_ending_in_an_address_and_a_stop_is_scrubbed_in_swarms_csv() -> None:
    out = swarms_csv({"ab" * 20: "backup of 198.51.100.23."})
    assert "198.51.100.23" not in out


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("build 2024.10.1.2.3", "10.1.2.3"),  # a year before the quad: the run is replaced whole
        ("v9.9.198.51.100.23.1", "198.51.100.23"),
        ("padded 010.001.002.003 host", "010.001.002.003"),  # inet_aton reads it (as octal)
        ("wide １０．１．２．３ peer", "１０．１．２．３"),  # full-width digits and stops: NFKC
        ("zero\u200bwidth 10.1\u200b.2.3", "10.1\u200b.2.3"),  # a zero-width space hides nothing
        ("zero width 10.1\u200b.2.3", "10.1.2.3"),
    ],
)
def test_an_address_in_another_spelling_is_scrubbed(text: str, address: str) -> None:
    out = scrub(text)
    assert address not in out and "[address]" in out


@pytest.mark.parametrize("text", ["libtorrent 2.0.11", "2024.12.07", "1.2.3.256.300", "1" * 5000 + ".1.1"])
def test_a_dotted_run_with_no_four_octets_stays(text: str) -> None:
    assert scrub(text) == text


def test_a_huge_dotted_run_is_scrubbed_without_parsing_it_whole() -> None:
    text = "1" * 5000 + ".10.1.2.3"
    assert scrub(text) == "[address]"
