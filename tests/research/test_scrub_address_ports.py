"""An address written with its port, or run on from hex letters, must not leave a research export.

:func:`swarmscope.research.cells.scrub` promises that anything that parses as an IP address in free text
(a client string, a torrent name) is replaced by ``[address]``; its token is the longest run of hex
digits, ``:`` and ``.``, so ``10.1.2.3:554`` (IPv4 with a port, RFC 3986 section 3.2) and ``cafe10.1.2.3``
are one token that does not parse, and the address leaves whole. The export's own leak scan
(``tests/research/scan.py``) finds these literals; no test feeds it such a name.
"""

from __future__ import annotations

import pytest

from swarmscope.research.cells import scrub
from swarmscope.research.writer import swarms_csv
from tests.research.scan import address_literals


@pytest.mark.xfail(strict=True, reason="scrub leaves an IPv4 address followed by :port or preceded by hex")
@pytest.mark.parametrize("text", ["cam 10.1.2.3:554", "peer at 192.0.2.7:6881", "cafe10.1.2.3"])
def test_no_address_literal_survives_scrub(text: str) -> None:
    assert address_literals(scrub(text)) == []


@pytest.mark.xfail(strict=True, reason="a torrent name with ip:port reaches swarms.csv unscrubbed")
def test_a_torrent_name_with_an_address_and_port_is_scrubbed_in_swarms_csv() -> None:
    out = swarms_csv({"ab" * 20: "backup of 198.51.100.23:8080"})
    assert "198.51.100.23" not in out
