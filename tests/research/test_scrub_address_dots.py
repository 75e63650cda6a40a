"""An IPv4 address next to a full stop must not leave a research export either.

:func:`swarmscope.research.cells.scrub` replaces every IP address in free text by ``[address]``; its
IPv4 pattern (and the leak scan's, ``tests/research/scan.py``, so the property tests cannot see it)
refuses a match with a ``.`` on either side, to keep five-part versions whole. A sentence ending in an
address (``seen at 10.1.2.3.``) and a dotted torrent name (``Film.192.168.1.10.mkv``) are ordinary
spellings, and the address in them leaves whole.
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
